"""How well the simulation reproduces what a real HPA did (``capsim live compare``).

The pulled load is replayed through the simulated HPA (the scenario), and the simulated
replicas and CPU utilization are set against the observed ones at the trace's
timestamps (the simulation's time 0 is the trace's first row):

* **replicas**: mean absolute error, and the share of samples where simulation and
  cluster had exactly the same number of ready replicas;
* **lag**: the shift of the simulated replica curve (in whole trace steps, within
  ±``max_lag_s``) that best matches the observed one (smallest mean absolute error; the
  smallest shift among equals). Positive: the simulated HPA reacts *later* than the real
  one did;
* **utilization**: observed ``cpu_cores / (replicas_ready × cpu_request_cores)`` against
  the simulated ``cpu_used_cores / cpu_requested_cores``, mean absolute error in
  percentage points.

Simulated values are sampled as the last record at or before each observed time (a
level holds until it changes). Samples missing on either side are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["Calibration", "calibrate", "observed_levels"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """The comparison's figures (replicas in pods, utilization in percent)."""

    samples: int
    replicas_mae: float
    replicas_equal_pct: float
    replicas_observed_mean: float
    replicas_simulated_mean: float
    lag_s: float
    utilization_mae_pp: float | None
    utilization_observed_mean_pct: float | None
    utilization_simulated_mean_pct: float | None

    def lines(self) -> list[str]:
        """The verdict in words."""
        out = [
            f"replicas: the same as the cluster's {self.replicas_equal_pct:.1f} % of the time; "
            f"mean absolute error {self.replicas_mae:.2f} replicas (observed mean "
            f"{self.replicas_observed_mean:.2f}, simulated {self.replicas_simulated_mean:.2f})",
        ]
        if self.lag_s > 0:
            out.append(f"lag: the simulated HPA reacts {self.lag_s:g} s later than the real one")
        elif self.lag_s < 0:
            out.append(f"lag: the simulated HPA reacts {-self.lag_s:g} s earlier than the real one")
        else:
            out.append("lag: none (the curves align best unshifted)")
        if self.utilization_mae_pp is not None:
            out.append(
                f"utilization: mean absolute error {self.utilization_mae_pp:.1f} points "
                f"(observed {self.utilization_observed_mean_pct:.1f} %, simulated "
                f"{self.utilization_simulated_mean_pct:.1f} %)"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def observed_levels(trace: pd.DataFrame) -> pd.DataFrame:
    """A pulled trace → ``time_s`` (from its first row), ``replicas``, ``utilization_pct``.

    ``ValueError`` naming the column (and row) when the trace is not one ``capsim live
    prometheus`` writes: no rows, timestamps that do not parse or do not increase,
    replica counts or CPU figures that are not finite numbers ≥ 0 (a gap, an empty field,
    is allowed)."""
    for column in ("timestamp", "replicas_ready"):
        if column not in trace.columns:
            raise ValueError(f"{column}: no such column (a trace from capsim live prometheus)")
    if trace.empty:
        raise ValueError("no rows")
    try:
        stamps = pd.to_datetime(trace["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"timestamp: not a date and time: {str(exc).splitlines()[0]}") from None
    if stamps.isna().any() or not stamps.is_monotonic_increasing or stamps.duplicated().any():
        row = int(np.argmax(stamps.isna().to_numpy() | ~_increasing(stamps)))
        raise ValueError(f"timestamp: row {row + 1}: missing, repeated or out of order")
    time_s = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
    replicas = _levels(trace, "replicas_ready")
    utilization = np.full(time_s.size, np.nan)
    if {"cpu_cores", "cpu_request_cores"} <= set(trace.columns):
        requested = replicas * _levels(trace, "cpu_request_cores")
        with np.errstate(divide="ignore", invalid="ignore"):
            utilization = np.where(
                requested > 0, 100.0 * _levels(trace, "cpu_cores") / requested, np.nan
            )
    return pd.DataFrame({"time_s": time_s, "replicas": replicas, "utilization_pct": utilization})


def _increasing(stamps: pd.Series) -> Any:
    """Per row: later than the row before (the first row is)."""
    values = stamps.to_numpy()
    ok = np.ones(values.size, dtype=bool)
    ok[1:] = values[1:] > values[:-1]
    return ok


def _levels(trace: pd.DataFrame, column: str) -> FloatArray:
    """A column as numbers in [0, :data:`MAX_LEVEL`] or NaN (an empty field);
    ``ValueError`` otherwise."""
    values = pd.to_numeric(trace[column], errors="coerce").to_numpy(dtype=np.float64)
    given = trace[column].notna().to_numpy()
    bad = (given & np.isnan(values)) | ~(np.isnan(values) | ((values >= 0) & (values <= MAX_LEVEL)))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{column}: row {row + 1}: not a number from 0 to {MAX_LEVEL:g}, got "
            f"{trace[column].iloc[row]!r}"
        )
    return values


MAX_LEVEL = 1e15
"""Largest replica count or CPU figure read from an observed trace (what ``capsim live
prometheus`` accepts from a server)."""


def _sample(times_s: FloatArray, at_s: FloatArray, values: FloatArray) -> FloatArray:
    """The last value at or before each of ``at_s`` (NaN before the first)."""
    index = np.searchsorted(times_s, at_s, side="right") - 1
    out = np.full(at_s.size, np.nan)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out


def _mae(a: FloatArray, b: FloatArray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.mean(np.abs(a[both] - b[both]))) if both.any() else float("nan")


def _lag_s(observed: FloatArray, simulated: FloatArray, step_s: float, max_lag_s: float) -> float:
    """The shift of ``simulated`` (whole steps) that best matches ``observed``."""
    best_shift, best_error = 0, _mae(observed, simulated)
    limit = int(max_lag_s // step_s)
    for shift in sorted(range(-limit, limit + 1), key=abs):
        if shift == 0:
            continue
        if shift > 0:
            error = _mae(observed[:-shift], simulated[shift:])
        else:
            error = _mae(observed[-shift:], simulated[:shift])
        if error < best_error - 1e-12:
            best_shift, best_error = shift, error
    return best_shift * step_s


def calibrate(
    observed: pd.DataFrame,
    simulated: pd.DataFrame,
    step_s: float,
    max_lag_s: float = 1800.0,
) -> Calibration:
    """Compare ``observed`` (from :func:`observed_levels`) with ``simulated`` (``time_s``,
    ``replicas``, ``utilization_pct`` records of the simulated workload)."""
    at = observed["time_s"].to_numpy(dtype=np.float64)
    sim_t = simulated["time_s"].to_numpy(dtype=np.float64)
    obs_r = observed["replicas"].to_numpy(dtype=np.float64)
    sim_r = _sample(sim_t, at, simulated["replicas"].to_numpy(dtype=np.float64))
    both = np.isfinite(obs_r) & np.isfinite(sim_r)
    if not both.any():
        raise ValueError("no sample has both observed and simulated replicas")
    obs_u = observed["utilization_pct"].to_numpy(dtype=np.float64)
    sim_u = _sample(sim_t, at, simulated["utilization_pct"].to_numpy(dtype=np.float64))
    util_both = np.isfinite(obs_u) & np.isfinite(sim_u)
    has_util = bool(util_both.any())
    return Calibration(
        samples=int(both.sum()),
        replicas_mae=_mae(obs_r, sim_r),
        replicas_equal_pct=float(100.0 * np.mean(np.rint(obs_r[both]) == np.rint(sim_r[both]))),
        replicas_observed_mean=float(np.mean(obs_r[both])),
        replicas_simulated_mean=float(np.mean(sim_r[both])),
        lag_s=_lag_s(obs_r, sim_r, step_s, max_lag_s),
        utilization_mae_pp=_mae(obs_u, sim_u) if has_util else None,
        utilization_observed_mean_pct=float(np.mean(obs_u[util_both])) if has_util else None,
        utilization_simulated_mean_pct=float(np.mean(sim_u[util_both])) if has_util else None,
    )
