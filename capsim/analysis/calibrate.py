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
    """A pulled trace → ``time_s`` (from its first row), ``replicas``, ``utilization_pct``."""
    stamps = pd.to_datetime(trace["timestamp"], utc=True)
    time_s = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
    if "replicas_ready" not in trace.columns:
        raise ValueError("the trace has no replicas_ready column to compare with")
    replicas = trace["replicas_ready"].to_numpy(dtype=np.float64)
    utilization = np.full(time_s.size, np.nan)
    if {"cpu_cores", "cpu_request_cores"} <= set(trace.columns):
        requested = replicas * trace["cpu_request_cores"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilization = np.where(
                requested > 0,
                100.0 * trace["cpu_cores"].to_numpy(dtype=np.float64) / requested,
                np.nan,
            )
    return pd.DataFrame({"time_s": time_s, "replicas": replicas, "utilization_pct": utilization})


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
