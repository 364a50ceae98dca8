"""Service-level objectives as SREs write them, and the verdict on one run.

A service's SLO has up to two objectives, each judged on its own and both stated with
the numbers behind them (nothing here is a hidden constant: every threshold is an
argument, and the scenario's defaults are in its schema):

* **Latency**: "p95 ≤ T ms in at least O % of W-minute windows". The run is cut into
  consecutive windows of ``window_s`` from time 0 (the last may be shorter). A window is
  *good* when at most 5 % of the requests it served took longer than T, i.e. when the
  95th percentile of its requests is within T. A window that served no request has no
  latency and is not counted (its failures count against the error objective). The
  objective is met when good windows / counted windows ≥ O %.
* **Errors**: "at most E of the requests fail over the run": requests that failed
  (refused, dropped, timed out or abandoned, after any retries) over requests that
  arrived, for the whole run, against ``max_error_rate``.

The **error budget** of an objective is what it allows to go wrong: (100 − O) % of the
counted windows for latency, E × arrived requests for errors. ``budget_used_pct`` is what
went wrong as a share of that budget: 100 % is the limit, above it the objective is
missed. (A budget of zero — O = 100 %, E = 0 — is used up by the first bad window or
failed request: ``math.inf`` %.)

A service **meets its SLO** when every objective it has is met; with no objective there
is no verdict (``None``), and nothing is said about an SLO.

Pure functions of plain numbers and arrays (no scenario objects), so the engine's
summary, the fast path and the analysis all judge with this one rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = [
    "LATENCY_PERCENTILE",
    "ErrorObjective",
    "LatencyObjective",
    "SloVerdict",
    "budget_used_pct",
    "error_objective",
    "latency_objective",
    "verdict_from_dict",
    "window_counts",
]

LATENCY_PERCENTILE = 95.0
"""The latency objective's percentile: a window is good when at most 100 − 95 = 5 % of its
requests are slower than the threshold."""

FloatArray = npt.NDArray[np.float64]


def budget_used_pct(bad: float, allowed: float) -> float:
    """``100 · bad / allowed``: the share of an error budget used; 0 when nothing went
    wrong, ``inf`` when something did against a budget of 0."""
    if bad <= 0:
        return 0.0
    return 100.0 * bad / allowed if allowed > 0 else math.inf


def window_counts(
    served: npt.ArrayLike, late: npt.ArrayLike, ticks_per_window: int
) -> tuple[int, int]:
    """``(counted, good)`` windows of ``ticks_per_window`` consecutive ticks (the last
    may be shorter), from each tick's requests ``served`` and the expected number of them
    ``late`` (slower than the threshold). A window is counted when it served requests,
    and good when ``late ≤ 5 % × served`` over the window."""
    if ticks_per_window < 1:
        raise ValueError(f"ticks_per_window: must be >= 1, got {ticks_per_window}")
    s = np.asarray(served, dtype=np.float64)
    x = np.asarray(late, dtype=np.float64)
    if s.shape != x.shape or s.ndim != 1:
        raise ValueError(f"served and late: one 1-D shape expected, got {s.shape}, {x.shape}")
    starts = np.arange(0, s.size, ticks_per_window)
    if not starts.size:
        return 0, 0
    served_w = np.add.reduceat(s, starts)
    late_w = np.add.reduceat(x, starts)
    counted = served_w > 0
    allowed = (1.0 - LATENCY_PERCENTILE / 100.0) * served_w
    good = counted & (late_w <= allowed)
    return int(counted.sum()), int(good.sum())


@dataclass(frozen=True)
class LatencyObjective:
    """ "p95 ≤ ``threshold_ms`` in ≥ ``objective_pct`` % of ``window_s`` windows", judged."""

    threshold_ms: float
    window_s: float
    objective_pct: float
    windows: int  # windows that served requests
    good_windows: int
    metric: str = "latency"
    """What is timed: ``latency`` (end to end), ``TTFT`` or ``TPOT`` (LLM services)."""

    @property
    def compliance_pct(self) -> float:
        """Good windows over counted ones (%); NaN when no window served a request."""
        return 100.0 * self.good_windows / self.windows if self.windows else math.nan

    @property
    def budget_used_pct(self) -> float:
        """Bad windows over the (100 − objective) % of the windows the budget allows."""
        bad = self.windows - self.good_windows
        return budget_used_pct(bad, (100.0 - self.objective_pct) / 100.0 * self.windows)

    @property
    def met(self) -> bool | None:
        """Compliance ≥ objective; ``None`` when no window served a request (no latency
        to judge: the run cannot say)."""
        if not self.windows:
            return None
        objective = Fraction(str(self.objective_pct))  # (99.9 as written, not as a float)
        return self.good_windows * 100 >= objective * self.windows

    def rule(self) -> str:
        return (
            f"p{LATENCY_PERCENTILE:g} ≤ {self.threshold_ms:g} ms in ≥ {self.objective_pct:g} % "
            f"of {_window_text(self.window_s)} windows"
        )

    def describe(self) -> str:
        """The rule, the measured value and the budget used, and the outcome."""
        if not self.windows:
            return f"{self.metric} {self.rule()}: no request served, nothing to judge"
        return (
            f"{self.metric} {self.rule()}: {_pct(self.compliance_pct)} of {self.windows:,} windows "
            f"({self.windows - self.good_windows:,} over; {_budget(self.budget_used_pct)} of "
            f"the error budget used): {'met' if self.met else 'MISSED'}"
        )

    def as_dict(self) -> dict[str, object]:
        named = {} if self.metric == "latency" else {"metric": self.metric}
        return named | {
            "rule": self.rule(),
            "threshold_ms": self.threshold_ms,
            "percentile": LATENCY_PERCENTILE,
            "window_s": self.window_s,
            "objective_pct": self.objective_pct,
            "windows": self.windows,
            "good_windows": self.good_windows,
            "compliance_pct": self.compliance_pct,
            "budget_used_pct": self.budget_used_pct,
            "met": self.met,
        }


def latency_objective(
    threshold_ms: float,
    window_s: float,
    objective_pct: float,
    served: npt.ArrayLike,
    late: npt.ArrayLike,
    tick_s: float,
) -> LatencyObjective:
    """The latency objective over per-tick ``served`` and ``late`` requests (see
    :func:`window_counts`); ``window_s`` must be a whole number of ``tick_s``."""
    per_window = round(window_s / tick_s)
    if per_window < 1 or not math.isclose(per_window * tick_s, window_s, rel_tol=1e-9):
        raise ValueError(f"window_s ({window_s:g}) must be a whole number of ticks ({tick_s:g})")
    windows, good = window_counts(served, late, per_window)
    return LatencyObjective(threshold_ms, window_s, objective_pct, windows, good)


@dataclass(frozen=True)
class ErrorObjective:
    """ "At most ``max_error_rate`` of the requests fail over the run", judged."""

    max_error_rate: float
    failed: float  # requests that failed, after any retries
    arrived: float  # requests that arrived (first attempts)

    @property
    def error_rate(self) -> float:
        """Failed over arrived; NaN when none arrived."""
        return self.failed / self.arrived if self.arrived > 0 else math.nan

    @property
    def budget_used_pct(self) -> float:
        return budget_used_pct(self.failed, self.max_error_rate * self.arrived)

    @property
    def met(self) -> bool | None:
        """``None`` when no request arrived (nothing to judge)."""
        if self.arrived <= 0:
            return None
        return self.failed <= self.max_error_rate * self.arrived

    def rule(self) -> str:
        return f"≤ {_pct(100.0 * self.max_error_rate)} of requests failed over the run"

    def describe(self) -> str:
        if self.arrived <= 0:
            return f"errors {self.rule()}: no request arrived, nothing to judge"
        return (
            f"errors {self.rule()}: {_pct(100.0 * self.error_rate)} "
            f"({self.failed:,.0f} of {self.arrived:,.0f}; {_budget(self.budget_used_pct)} of "
            f"the error budget used): {'met' if self.met else 'MISSED'}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule(),
            "max_error_rate": self.max_error_rate,
            "requests_failed": self.failed,
            "requests_arrived": self.arrived,
            "error_rate": self.error_rate,
            "budget_used_pct": self.budget_used_pct,
            "met": self.met,
        }


def error_objective(max_error_rate: float, failed: float, arrived: float) -> ErrorObjective:
    return ErrorObjective(max_error_rate, failed, arrived)


@dataclass(frozen=True)
class SloVerdict:
    """One service's objectives on one platform, and whether it meets its SLO."""

    latency: LatencyObjective | None
    errors: ErrorObjective | None
    tokens: tuple[LatencyObjective, ...] = ()
    """An LLM service's TTFT and TPOT objectives (each judged as the latency one)."""

    def _objectives(self) -> list[LatencyObjective | ErrorObjective]:
        return [o for o in (self.latency, *self.tokens, self.errors) if o is not None]

    @property
    def met(self) -> bool | None:
        """Every objective met; False when one is missed; ``None`` when there is no
        objective, or one cannot be judged and none is missed."""
        outcomes = [o.met for o in self._objectives()]
        if any(outcome is False for outcome in outcomes):
            return False
        if not outcomes or any(outcome is None for outcome in outcomes):
            return None
        return True

    @property
    def budget_used_pct(self) -> float:
        """The largest share of an error budget used among the objectives (NaN: none)."""
        used = [o.budget_used_pct for o in self._objectives()]
        return max(used, default=math.nan)

    def describe(self) -> list[str]:
        return [o.describe() for o in self._objectives()]

    def as_dict(self) -> dict[str, object]:
        return {
            "met": self.met,
            "budget_used_pct": self.budget_used_pct,
            "latency": None if self.latency is None else self.latency.as_dict(),
            **{o.metric.lower(): o.as_dict() for o in self.tokens},
            "errors": None if self.errors is None else self.errors.as_dict(),
        }


def _window_text(window_s: float) -> str:
    if window_s % 3600 == 0:
        return f"{window_s / 3600:g}-hour"
    if window_s % 60 == 0:
        return f"{window_s / 60:g}-minute"
    return f"{window_s:g}-second"


def _pct(value: float) -> str:
    """A percentage for people: two significant digits under 1 %, one decimal above, and
    never a value short of 100 % shown as 100 % (nor one above 0 % as 0 %)."""
    if math.isnan(value):
        return "n/a"
    if value in (0.0, 100.0):
        return f"{value:g} %"
    if value < 0.0001:
        return "< 0.0001 %"
    if value < 1.0:
        return f"{value:.2g} %"
    for digits in (1, 2, 3, 4):
        text = f"{value:.{digits}f}"
        if float(text) != 100.0:
            return f"{text} %"
    return "99.9999 %"  # (short of 100 by less than 0.00005)


def _budget(value: float) -> str:
    if math.isinf(value):
        return "all (a budget of zero)"
    return f"{value:,.0f} %" if value >= 10 else f"{value:.1f} %"


def verdict_from_dict(data: dict[str, object]) -> SloVerdict:
    """A :class:`SloVerdict` back from :meth:`SloVerdict.as_dict` (a saved summary)."""
    latency = data.get("latency")
    errors = data.get("errors")
    tokens = tuple(
        LatencyObjective(
            float(part["threshold_ms"]),
            float(part["window_s"]),
            float(part["objective_pct"]),
            int(part["windows"]),
            int(part["good_windows"]),
            name,
        )
        for name in ("TTFT", "TPOT")
        if isinstance(part := data.get(name.lower()), dict)
    )
    return SloVerdict(
        None
        if not isinstance(latency, dict)
        else LatencyObjective(
            float(latency["threshold_ms"]),
            float(latency["window_s"]),
            float(latency["objective_pct"]),
            int(latency["windows"]),
            int(latency["good_windows"]),
        ),
        None
        if not isinstance(errors, dict)
        else ErrorObjective(
            float(errors["max_error_rate"]),
            float(errors["requests_failed"]),
            float(errors["requests_arrived"]),
        ),
        tokens,
    )
