"""Run results: what the engine recorded → time series, events, jobs and a JSON summary.

The engine ends a run with ``RunResult.from_recording(recording)``. A :class:`RunResult`
holds three DataFrames in a fixed schema (``TIMESERIES_COLUMNS``, ``EVENT_COLUMNS``,
``JOB_COLUMNS``; extra columns are kept after them) and a plain JSON ``summary``. It is
saved as one folder: ``summary.json``, ``timeseries.parquet`` (``timeseries.csv`` without
pyarrow), ``events.csv`` and ``jobs.csv``; :meth:`RunResult.load` reads it back equal.

**Time weighting.** A time-series row describes the record interval that *ends* at its
``time_s``: ``Δtₖ = tₖ − tₖ₋₁`` with ``t₋₁ = 0``, so a short last interval weighs less.
Rates are interval means (``Σ rate·Δt`` = requests); end-of-interval values (replicas,
nodes) are held over their interval (a step approximation).

**Latency.** The run's request latency is the mixture of every tick's exact law weighted
by the requests it served (:class:`LatencyMixture`): exact, never an average of interval
percentiles. Dropped requests have no latency; they count as SLO violations.

The summary's metrics are small pure functions over arrays (reused by :mod:`capsim.analysis`);
each states its formula. Ratios with a zero denominator are NaN (``null`` in JSON),
except utilization, which is 0 without capacity, as in the time series.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.models.queueing import ResponseTimeDistribution, check_array

__all__ = [
    "EVENT_COLUMNS",
    "JOB_COLUMNS",
    "TIMESERIES_COLUMNS",
    "LatencyComponents",
    "LatencyMixture",
    "Recording",
    "RunResult",
    "conform",
    "empirical_quantile",
    "interval_error_rate",
    "interval_lengths_s",
    "job_stats",
    "replace_folder",
    "share_pct",
    "slo_violation_requests_pct",
    "slo_violation_time_pct",
    "summarize",
    "time_integral",
    "time_weighted_mean",
    "utilization_pct",
]

FloatArray = npt.NDArray[np.float64]

# OpenCost default on-demand prices (GCP us-central1; REFERENCE.md §6): their ratio splits
# a node's price between its vCPUs and its memory.
CPU_PRICE_PER_CORE_HOUR = 0.031611
MEMORY_PRICE_PER_GB_HOUR = 0.004237

_F, _I, _S = "float64", "int64", "str"
TIMESERIES_COLUMNS: Mapping[str, str] = {
    "time_s": _F, "platform": _S, "workload": _S,
    "arrival_rate": _F, "served_rate": _F, "dropped_rate": _F, "backlog": _F,
    "latency_mean_ms": _F, "latency_p95_ms": _F, "latency_p99_ms": _F,
    "replicas_desired": _I, "replicas_ready": _I, "replicas_total": _I,
    "cpu_used_cores": _F, "cpu_requested_cores": _F, "cpu_capacity_cores": _F,
    "utilization_pct": _F, "memory_used_bytes": _F, "nodes": _I, "cost_usd": _F,
    "jobs_queued": _I, "jobs_running": _I,
    "platform_cpu_cores": _F, "platform_memory_bytes": _F,
    "gpu_used": _F, "platform_gpus": _F,
}  # fmt: skip
EVENT_COLUMNS: Mapping[str, str] = {
    "time_s": _F, "platform": _S, "workload": _S, "kind": _S,
    "from": _F, "to": _F, "reason": _S, "detail": _S,
}  # fmt: skip
JOB_COLUMNS: Mapping[str, str] = {
    "platform": _S, "workload": _S, "job": _S,
    "submit_s": _F, "start_s": _F, "end_s": _F, "workers": _I,
}  # fmt: skip

# --- the latency mixture -----------------------------------------------------------------

_NEAR_RATES = 1e-3  # |θ − μ| ≤ this · max(θ, μ): Exp(θ) + Exp(μ) in its cancellation-free form
_RTOL = 1e-10  # quantile: stop when the Newton step or the bracket is this small (relative)
_MAX_ITER = 200
_START_SAMPLE = 4096  # components in the strided sample that gives Newton its start


def _check(name: str, values: FloatArray, *, positive: bool, at_most: float = math.inf) -> None:
    """Finite and ``> 0`` (``≥ 0``) and ``≤ at_most``, checked by two reductions (fast path)."""
    if not values.size:
        return
    low, high = float(values.min()), float(values.max())  # NaN propagates into both
    if (low > 0 if positive else low >= 0) and high <= at_most and math.isfinite(high):
        return
    check_array(name, values, positive=positive)
    i = int(np.argmax(values > at_most))
    raise ValueError(f"{name}[{i}]: must be <= {at_most}, got {values[i]!r}")


@dataclass(frozen=True, eq=False)
class _Terms:
    """Each component's tail as ``a e^{−μx} + b e^{−θx}``, ``x = (t − f)⁺``, vectorized.

    ``a = w (1 + k)``, ``b = −w k`` with ``k = C μ / (θ − μ)`` (``k = 0`` without wait);
    ``ar = a μ`` and ``br = b θ`` give the density. Components with ``f = 0`` come first
    (``now`` of them, needing no shift); ``late_fixed`` holds ``f`` of the rest. Components
    with ``θ ≈ μ`` have ``a = b = 0`` here; ``near`` holds their indices in the mixture.
    """

    mu: FloatArray
    theta: FloatArray
    a: FloatArray
    b: FloatArray
    ar: FloatArray
    br: FloatArray
    now: int
    late_fixed: FloatArray
    near: npt.NDArray[np.intp]


def _build_terms(
    f: FloatArray, c: FloatArray, theta: FloatArray, mu: FloatArray, w: FloatArray
) -> _Terms:
    """The expansion of :class:`_Terms` (about fifteen passes over the components)."""
    gap = theta - mu
    near = np.flatnonzero((c > 0) & (np.abs(gap) <= _NEAR_RATES * np.maximum(theta, mu)))
    np.copyto(gap, 1.0, where=c == 0)  # k = 0 there whatever θ is
    gap[near] = 1.0
    wk = w * c
    wk *= mu
    wk /= gap
    wk[near] = 0.0
    a = w + wk
    a[near] = 0.0
    b = np.negative(wk, out=wk)
    immediate = f == 0
    now = int(np.count_nonzero(immediate))
    if not immediate[:now].all():  # not yet f = 0 first (LatencyMixture.of sorts them)
        order = np.concatenate([np.flatnonzero(immediate), np.flatnonzero(~immediate)])
        mu, theta, a, b, f = (x.take(order) for x in (mu, theta, a, b, f))
    return _Terms(mu, theta, a, b, a * mu, b * theta, now, f[now:], near)


class _Scratch:
    """Work arrays reused by every evaluation of one quantile search."""

    def __init__(self, n: int, late: int) -> None:
        self.e = np.empty(n)
        self.x = np.empty(late)
        self.started = np.empty(late, dtype=bool)


@dataclass(frozen=True, eq=False)
class LatencyMixture:
    """Latency of a request drawn uniformly from all requests served over many ticks (s).

    Component ``i`` (a tick) served ``wᵢ > 0`` requests with law ``Tᵢ = fᵢ + Wᵢ + Sᵢ``
    (:class:`~capsim.models.queueing.ResponseTimeDistribution`: fixed wait ``f``, wait ``W``
    0 or ``Exp(θ)`` with probability ``C``, service ``S ~ Exp(μ)``). The pooled law is
    ``P(T > t) = Σ wᵢ Pᵢ(Tᵢ > t) / Σ wᵢ``, exactly. With ``x = (t − f)⁺`` each tail is
    ``(1 − C) e^{−μx} + C (θ e^{−μx} − μ e^{−θx}) / (θ − μ)`` (``θ ≈ μ``: a cancellation-
    free form), two exponentials, so tail and density of the mixture are a few flat
    vectorized passes and :meth:`quantile_s` is safeguarded Newton on the log tail, from
    a start solved on a strided sample. Build with :meth:`of` (drops weight-0 ticks).
    Every kept component needs ``f ≥ 0``, ``0 ≤ C ≤ 1`` and ``θ, μ, w > 0``, all finite
    (``θ`` too where ``C = 0``, as :mod:`capsim.models.service` gives it).
    """

    fixed_s: FloatArray
    wait_probability: FloatArray
    wait_rate_per_s: FloatArray
    service_rate_per_s: FloatArray
    weight: FloatArray
    _terms: _Terms = field(init=False, repr=False)

    def __post_init__(self) -> None:
        arrays = self._arrays()
        shapes = {np.shape(x) for x in arrays}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"LatencyMixture: arrays must be 1-D of one length, got {shapes}")
        _check("LatencyMixture.fixed_s", self.fixed_s, positive=False)
        _check("LatencyMixture.wait_probability", self.wait_probability, positive=False, at_most=1)
        for name in ("wait_rate_per_s", "service_rate_per_s", "weight"):
            _check(f"LatencyMixture.{name}", getattr(self, name), positive=True)
        object.__setattr__(self, "_terms", _build_terms(*arrays))

    def _arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        return (
            self.fixed_s,
            self.wait_probability,
            self.wait_rate_per_s,
            self.service_rate_per_s,
            self.weight,
        )

    @classmethod
    def of(cls, law: ResponseTimeDistribution, weights: npt.ArrayLike) -> LatencyMixture:
        """The mixture of ``law`` (arrays broadcast to ``weights``) weighted by requests.

        Components of weight 0 are dropped first, so their law may be NaN (no replica);
        the rest are copied once, those without fixed wait first (order is immaterial).
        """
        w = np.asarray(weights, dtype=np.float64).ravel()
        check_array("weights", w, positive=False)
        keep = w > 0
        parts = (law.fixed_wait_s, law.wait_probability, law.wait_rate_per_s)
        f, c, theta, mu = (
            np.broadcast_to(np.asarray(p, dtype=np.float64).ravel(), w.shape)
            for p in (*parts, law.service_rate_per_s)
        )
        now = keep & (f == 0)
        later = keep & ~now
        if not keep.all() or later[: np.count_nonzero(now)].any():
            # one copy that drops weight 0 and puts f = 0 first, as the evaluation wants
            order = np.concatenate([np.flatnonzero(now), np.flatnonzero(later)])
            f, c, theta, mu, w = (x.take(order) for x in (f, c, theta, mu, w))
        return cls(f, c, theta, mu, w)

    @property
    def total_weight(self) -> float:
        """``Σ wᵢ``: the requests in the mixture."""
        return float(self.weight.sum())

    def mean_s(self) -> float:
        """``Σ wᵢ (fᵢ + Cᵢ/θᵢ + 1/μᵢ) / Σ wᵢ`` (s); NaN when empty."""
        if not self.weight.size:
            return math.nan
        each = self.wait_probability / self.wait_rate_per_s
        each += self.fixed_s
        each += 1.0 / self.service_rate_per_s
        return float(self.weight @ each) / self.total_weight

    def _evaluate(self, t: float, scratch: _Scratch) -> tuple[float, float]:
        """Unnormalised ``(Σ wᵢ Pᵢ(T > t), Σ wᵢ pᵢ(t))`` at ``t ≥ 0`` s."""
        k, s = self._terms, scratch
        tail = density = 0.0
        for rate, coef, coef_rate in ((k.mu, k.a, k.ar), (k.theta, k.b, k.br)):
            e = np.multiply(rate[: k.now], -t, out=s.e[: k.now])
            np.exp(e, out=e)
            tail += float(coef[: k.now] @ e)
            density += float(coef_rate[: k.now] @ e)
        if s.x.size:
            x = np.subtract(k.late_fixed, t, out=s.x)  # −(t − f)
            np.less(x, 0.0, out=s.started)
            np.minimum(x, 0.0, out=x)
            for rate, coef, coef_rate in ((k.mu, k.a, k.ar), (k.theta, k.b, k.br)):
                e = np.multiply(rate[k.now :], x, out=s.e[k.now :])
                np.exp(e, out=e)
                tail += float(coef[k.now :] @ e)
                density += float(coef_rate[k.now :] @ (e * s.started))
        if k.near.size:
            near_tail, near_density = self._near(t)
            tail, density = tail + near_tail, density + near_density
        return tail, density

    def _near(self, t: float) -> tuple[float, float]:
        """Components with ``θ ≈ μ``: ``Exp(θ) + Exp(μ)`` as ``e^{−sx}(1 + s x φ(dx))``,
        ``s = min``, ``d = |θ − μ|``, ``φ(z) = (1 − e^{−z})/z`` (unordered: sums only)."""
        i = self._terms.near
        f, c, theta, mu, w = (a[i] for a in self._arrays())
        x = np.maximum(t - f, 0.0)
        s, z = np.minimum(theta, mu), np.abs(theta - mu) * x
        phi = np.where(z > 0, -np.expm1(-z) / np.where(z > 0, z, 1.0), 1.0)
        decay, plain = np.exp(-s * x), np.exp(-mu * x)
        tail = (1.0 - c) * plain + c * decay * (1.0 + s * x * phi)
        density = ((1.0 - c) * mu * plain + c * theta * mu * x * decay * phi) * (x > 0)
        return float(w @ tail), float(w @ density)

    def _scratch(self) -> _Scratch:
        return _Scratch(self.weight.size, self._terms.late_fixed.size)

    def tail(self, t_s: float) -> float:
        """``P(T > t_s)``: the share of requests slower than ``t_s``; NaN when empty."""
        if not self.weight.size:
            return math.nan
        if t_s <= float(self.fixed_s.min()):
            return 1.0
        share = self._evaluate(t_s, self._scratch())[0] / self.total_weight
        return min(max(share, 0.0), 1.0)

    def quantile_s(self, q: float) -> float:
        """The pooled ``q``-quantile (s): ``P(T > t) = 1 − q``, to ~1e-10 relative.

        Bracket: at ``min fᵢ`` every tail is 1; ``Pᵢ(T > t) ≤ 2 e^{−sᵢ (t − fᵢ)/2}`` with
        ``sᵢ = min(θᵢ, μᵢ)`` (``μᵢ`` without wait) bounds it above. A Newton step that
        leaves the bracket is replaced by bisection.
        """
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile q: must be in (0, 1), got {q!r}")
        if not self.weight.size:
            return math.nan
        waits = self.wait_probability > 0
        slowest = min(
            float(self.service_rate_per_s.min()),
            float(self.wait_rate_per_s.min(where=waits, initial=math.inf)),
        )
        lo = float(self.fixed_s.min())
        hi = float(self.fixed_s.max()) + 2.0 * math.log(2.0 / (1.0 - q)) / slowest
        log_target = math.log((1.0 - q) * self.total_weight)
        scratch = self._scratch()
        t = self._start(q)
        t = t if lo < t < hi else 0.5 * (lo + hi)
        for _ in range(_MAX_ITER):
            tail, density = self._evaluate(t, scratch)
            gap = math.log(tail) - log_target if tail > 0 else -math.inf
            if gap == 0:
                return t
            lo, hi = (t, hi) if gap > 0 else (lo, t)
            step = gap * tail / density if tail > 0 and density > 0 else math.inf
            if lo < t + step < hi:
                if abs(step) <= _RTOL * t:
                    return t + step
                t += step
            else:
                t = 0.5 * (lo + hi)
            if hi - lo <= _RTOL * hi:
                return t
        return t

    def _start(self, q: float) -> float:
        """Newton's start: the quantile of a strided sample of components, or the mean."""
        n = self.weight.size
        if n <= _START_SAMPLE:
            return self.mean_s()
        f, c, theta, mu, w = (a[:: -(-n // _START_SAMPLE)] for a in self._arrays())
        return LatencyMixture(f, c, theta, mu, w).quantile_s(q)


_EMPTY = LatencyMixture.of(ResponseTimeDistribution(*([np.zeros(0)] * 4)), np.zeros(0))


# --- the recording -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LatencyComponents:
    """One service's latency law per simulation tick (arrays of one length).

    ``served``: requests served in the tick (≥ 0); the rest are the
    :class:`~capsim.models.queueing.ResponseTimeDistribution` fields (NaN allowed where
    nothing was served).
    """

    served: FloatArray
    fixed_wait_s: FloatArray
    wait_probability: FloatArray
    wait_rate_per_s: FloatArray
    service_rate_per_s: FloatArray

    def mixture(self) -> LatencyMixture:
        """The run's request latency: the ticks weighted by requests served."""
        law = ResponseTimeDistribution(
            self.fixed_wait_s, self.wait_probability, self.wait_rate_per_s, self.service_rate_per_s
        )
        return LatencyMixture.of(law, self.served)


@dataclass(frozen=True, eq=False)
class Recording:
    """Everything the engine hands over at the end of a run (schemas: module constants).

    ``latency``: (platform, workload) → per-tick components, services only; ``slo``:
    workload → (p95 latency target in ms, max error rate), either None; ``scenario``:
    the scenario as run, JSON-serialisable.
    """

    scenario_name: str
    seed: int
    duration_s: float
    tick_s: float
    record_every_s: float
    timeseries: pd.DataFrame
    events: pd.DataFrame
    latency: Mapping[tuple[str, str], LatencyComponents]
    slo: Mapping[str, tuple[float | None, float | None]]
    platform_kinds: Mapping[str, str]
    workload_kinds: Mapping[str, str]
    jobs: pd.DataFrame
    scenario: Mapping[str, Any]


# --- metrics: pure functions over arrays -------------------------------------------------


def interval_lengths_s(time_s: npt.ArrayLike) -> FloatArray:
    """``Δtₖ = tₖ − tₖ₋₁`` with ``t₋₁ = 0``: each row's interval (rows are interval ends)."""
    return np.diff(np.asarray(time_s, dtype=np.float64), prepend=0.0)


def time_integral(values: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``Σ vₖ Δtₖ`` (value × seconds: a rate gives a count, cores give core-seconds)."""
    return float(np.dot(np.asarray(values, dtype=np.float64), np.asarray(dt_s, np.float64)))


def time_weighted_mean(values: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``Σ vₖ Δtₖ / Σ Δtₖ``; NaN over no time."""
    span = float(np.sum(dt_s))
    return time_integral(values, dt_s) / span if span > 0 else math.nan


def share_pct(part: float, whole: float) -> float:
    """``100 · part / whole``; NaN when ``whole`` is 0."""
    return 100.0 * part / whole if whole != 0 else math.nan


def utilization_pct(used: npt.ArrayLike, capacity: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``100 · Σ usedₖ Δtₖ / Σ capacityₖ Δtₖ`` (time-weighted); 0 without any capacity."""
    total = time_integral(capacity, dt_s)
    return share_pct(time_integral(used, dt_s), total) if total > 0 else 0.0


def interval_error_rate(served_rate: npt.ArrayLike, dropped_rate: npt.ArrayLike) -> FloatArray:
    """Per interval ``dropped / (served + dropped)``: failed share of answered requests
    (0 where none was answered)."""
    served = np.asarray(served_rate, dtype=np.float64)
    dropped = np.asarray(dropped_rate, dtype=np.float64)
    answered = served + dropped
    return np.divide(dropped, answered, out=np.zeros_like(answered), where=answered > 0)


def slo_violation_time_pct(
    dt_s: npt.ArrayLike,
    p95_ms: npt.ArrayLike,
    error_rate: npt.ArrayLike,
    p95_target_ms: float | None,
    max_error_rate: float | None,
) -> float:
    """``100 · Σ Δtₖ [p95ₖ > target or errorₖ > max] / Σ Δtₖ``; NaN without any SLO.

    An interval that served nothing (p95 NaN) violates only through its error rate.
    """
    if p95_target_ms is None and max_error_rate is None:
        return math.nan
    dt = np.asarray(dt_s, dtype=np.float64)
    bad = np.zeros(dt.shape, dtype=bool)
    if p95_target_ms is not None:
        bad |= np.asarray(p95_ms, dtype=np.float64) > p95_target_ms
    if max_error_rate is not None:
        bad |= np.asarray(error_rate, dtype=np.float64) > max_error_rate
    return share_pct(float(dt @ bad), float(dt.sum()))


def slo_violation_requests_pct(late: float, served: float, dropped: float) -> float:
    """``100 · (late + dropped) / (served + dropped)``: requests over target or dropped.

    ``late = Σ servedᵢ · Pᵢ(T > target)`` (:meth:`LatencyMixture.tail` × requests).
    """
    return share_pct(late + dropped, served + dropped)


def empirical_quantile(values: npt.ArrayLike, q: float) -> float:
    """Linear-interpolation sample quantile (NumPy's default, type 7); NaN when empty."""
    data = np.asarray(values, dtype=np.float64)
    return float(np.quantile(data, q)) if data.size else math.nan


def job_stats(
    submit_s: npt.ArrayLike, start_s: npt.ArrayLike, end_s: npt.ArrayLike
) -> dict[str, Any]:
    """Batch jobs: wait = start − submit (started jobs), completion = end − submit (finished),
    makespan = last end − first submit (NaN until a job finishes); percentiles type 7."""
    submit = np.asarray(submit_s, dtype=np.float64)
    start = np.asarray(start_s, dtype=np.float64)
    end = np.asarray(end_s, dtype=np.float64)
    done = ~np.isnan(end)
    wait = (start - submit)[~np.isnan(start)]
    completion = (end - submit)[done]
    return {
        "jobs_submitted": int(submit.size),
        "jobs_completed": int(done.sum()),
        "wait_p50_s": empirical_quantile(wait, 0.5),
        "wait_p95_s": empirical_quantile(wait, 0.95),
        "completion_p50_s": empirical_quantile(completion, 0.5),
        "completion_p95_s": empirical_quantile(completion, 0.95),
        "makespan_s": float(end[done].max() - submit.min()) if done.any() else math.nan,
    }


# --- the summary -------------------------------------------------------------------------


def _col(rows: pd.DataFrame, name: str) -> FloatArray:
    return rows[name].to_numpy(dtype=np.float64)


def _resource_metrics(rows: pd.DataFrame, dt: FloatArray) -> dict[str, Any]:
    """CPU and replicas of one workload (``rows`` in time order); replicas = ready ones."""
    used, capacity = _col(rows, "cpu_used_cores"), _col(rows, "cpu_capacity_cores")
    requested = time_integral(_col(rows, "cpu_requested_cores"), dt)
    capacity_s = time_integral(capacity, dt)
    ready = rows["replicas_ready"].to_numpy()
    return {
        "utilization_pct": utilization_pct(used, capacity, dt),
        "cpu_used_core_hours": time_integral(used, dt) / 3600.0,
        "cpu_capacity_core_hours": capacity_s / 3600.0,
        "allocation_efficiency_pct": share_pct(requested, capacity_s) if requested else math.nan,
        "replicas_min": int(ready.min()),
        "replicas_mean": time_weighted_mean(ready, dt),
        "replicas_max": int(ready.max()),
    }


def _service_metrics(
    rows: pd.DataFrame,
    dt: FloatArray,
    components: LatencyComponents | None,
    slo: tuple[float | None, float | None],
) -> dict[str, Any]:
    """Requests, pooled latency and SLO of one service (``rows`` in time order)."""
    target_ms, max_error = slo
    arrived = time_integral(_col(rows, "arrival_rate"), dt)
    dropped = time_integral(_col(rows, "dropped_rate"), dt)
    mix = components.mixture() if components is not None else _EMPTY
    served = mix.total_weight
    late = served * mix.tail(target_ms / 1000.0) if target_ms is not None and served else 0.0
    errors = interval_error_rate(_col(rows, "served_rate"), _col(rows, "dropped_rate"))
    with_slo = target_ms is not None or max_error is not None
    return {
        "requests_arrived": arrived,
        "requests_served": time_integral(_col(rows, "served_rate"), dt),
        "requests_dropped": dropped,
        "dropped_pct": share_pct(dropped, arrived),
        "latency_mean_ms": 1000.0 * mix.mean_s(),
        "latency_p50_ms": 1000.0 * mix.quantile_s(0.50),
        "latency_p95_ms": 1000.0 * mix.quantile_s(0.95),
        "latency_p99_ms": 1000.0 * mix.quantile_s(0.99),
        "slo_p95_ms": target_ms,
        "slo_max_error_rate": max_error,
        "slo_violation_time_pct": slo_violation_time_pct(
            dt, _col(rows, "latency_p95_ms"), errors, target_ms, max_error
        ),
        "slo_violation_requests_pct": (
            slo_violation_requests_pct(late, served, dropped) if with_slo else math.nan
        ),
    }


def _workload_summary(
    rec: Recording,
    platform: str,
    workload: str,
    rows: pd.DataFrame,
    events: pd.DataFrame,
    jobs: pd.DataFrame,
) -> dict[str, Any]:
    """One workload: resources and scaling, then requests and SLO or jobs by its kind."""
    rows = rows.sort_values("time_s", kind="stable")
    dt = interval_lengths_s(rows["time_s"])
    kind = rec.workload_kinds.get(workload, "service")
    mine = (events["platform"] == platform) & (events["workload"] == workload)
    scales = int((mine & (events["kind"] == "scale")).sum())
    hours = rec.duration_s / 3600.0
    out: dict[str, Any] = {
        "kind": kind,
        **_resource_metrics(rows, dt),
        "scale_events": scales,
        "scale_events_per_hour": scales / hours if hours > 0 else math.nan,
    }
    if kind == "batch":
        own = jobs[(jobs["platform"] == platform) & (jobs["workload"] == workload)]
        gpu_hours = time_integral(_col(rows, "gpu_used"), dt) / 3600.0
        return (
            out
            | job_stats(own["submit_s"], own["start_s"], own["end_s"])
            | {"gpu_used_hours": gpu_hours}
        )
    slo = rec.slo.get(workload, (None, None))
    return out | _service_metrics(rows, dt, rec.latency.get((platform, workload)), slo)


def _platform_summary(rows: pd.DataFrame, kind: str, duration_s: float) -> dict[str, Any]:
    """Cost and nodes: Kubernetes rows repeat the pool's nodes; VM rows count their own VMs."""
    per_time = rows.groupby("time_s", sort=True).agg(
        nodes=("nodes", "sum" if kind == "vm" else "max"),
        cost=("cost_usd", "max"),
        cpu=("platform_cpu_cores", "max"),
        memory=("platform_memory_bytes", "max"),
        used=("cpu_used_cores", "sum"),
        requested=("cpu_requested_cores", "sum"),
        memory_used=("memory_used_bytes", "sum"),
        gpus=("platform_gpus", "max"),
        gpu_used=("gpu_used", "sum"),
    )
    cost = float(per_time["cost"].iloc[-1]) if len(per_time) else math.nan
    nodes = per_time["nodes"].to_numpy(dtype=np.float64)
    dt = interval_lengths_s(per_time.index)

    def integral(name: str) -> float:
        return time_integral(per_time[name].to_numpy(dtype=np.float64), dt)

    bought_cpu, bought_memory = integral("cpu"), integral("memory")
    return {
        "kind": kind,
        "cost_usd": cost,
        "cost_per_hour_usd": cost / (duration_s / 3600.0) if duration_s > 0 else math.nan,
        "nodes_mean": time_weighted_mean(nodes, dt),
        "nodes_max": float(nodes.max()) if nodes.size else math.nan,
        "cpu_utilization_pct": share_pct(integral("used"), bought_cpu),
        "cpu_allocation_pct": share_pct(integral("requested"), bought_cpu),
        "memory_utilization_pct": share_pct(integral("memory_used"), bought_memory),
        "gpu_utilization_pct": share_pct(integral("gpu_used"), integral("gpus")),
    }


def summarize(
    rec: Recording, timeseries: pd.DataFrame, events: pd.DataFrame, jobs: pd.DataFrame
) -> dict[str, Any]:
    """The run's JSON summary from conformed frames.

    ``{scenario, seed, duration_s, tick_s, record_every_s, scenario_as_run, platforms:
    {name: {kind, cost_usd, cost_per_hour_usd, nodes_mean, nodes_max, cpu_utilization_pct,
    cpu_allocation_pct, memory_utilization_pct, gpu_utilization_pct (of the vCPUs, memory
    and GPUs bought; NaN without GPUs), workloads: {name:
    {kind, resources and scaling, then requests, latency and SLO (services) or jobs
    (batch)}}}}}``; the formulas are those of the functions above.
    """
    platforms: dict[str, Any] = {}
    for platform in sorted(set(rec.platform_kinds) | set(timeseries["platform"])):
        rows = timeseries[timeseries["platform"] == platform]
        kind = rec.platform_kinds.get(platform, "")
        workloads = {
            w: _workload_summary(rec, platform, w, rows[rows["workload"] == w], events, jobs)
            for w in sorted(set(rows["workload"]))
        }
        platforms[platform] = _platform_summary(rows, kind, rec.duration_s) | {
            "workloads": workloads
        }
    summary: dict[str, Any] = _jsonable(
        {
            "scenario": rec.scenario_name,
            "seed": rec.seed,
            "duration_s": rec.duration_s,
            "tick_s": rec.tick_s,
            "record_every_s": rec.record_every_s,
            "platforms": platforms,
            "scenario_as_run": rec.scenario,
        }
    )
    return summary


def _jsonable(value: object) -> Any:
    """Plain JSON types: NumPy scalars unwrapped, NaN/±inf → None, tuples → lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    raise TypeError(f"summary: {type(value).__name__} is not JSON-serialisable: {value!r}")


# --- frames, files -----------------------------------------------------------------------


def conform(frame: pd.DataFrame, columns: Mapping[str, str], name: str) -> pd.DataFrame:
    """``frame`` with the schema's columns first, in its dtypes, and a fresh RangeIndex.

    Strings: missing → ``""``, anything else via ``str``. Extra columns follow unchanged.
    Missing columns are an error unless the frame has no rows.
    """
    out = frame.reset_index(drop=True)
    missing = [c for c in columns if c not in out.columns]
    if missing and len(out):
        raise ValueError(f"{name}: missing columns {missing}")
    for col in missing:
        out[col] = pd.Series(dtype=object)
    for col, dtype in columns.items():
        try:
            out[col] = (
                out[col].fillna("").astype(str) if dtype == _S else out[col].astype(np.dtype(dtype))
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}.{col}: cannot be read as {dtype}: {error}") from error
    return out[[*columns, *(c for c in out.columns if c not in columns)]]


def _parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with shortest round-trip floats, NaN as an empty field, ``\\n`` line ends."""
    return frame.to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet via pyarrow: no timestamps; pandas metadata (dtypes) is the same every time."""
    data = frame.to_parquet(None, engine="pyarrow", index=False, compression="zstd")
    assert data is not None
    return data


def _read_csv(path: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    """Read a CSV written by :func:`_csv_bytes` back in the schema's dtypes."""
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: d for c, d in columns.items() if c in header}
    na = {c: [""] for c, d in dtypes.items() if d != _S}
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=na, **exact)  # type: ignore[call-overload]
    return conform(frame, columns, path.name)


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes | str) -> None:
    """Write ``path`` all at once: a hidden temporary sibling, then a rename over ``path``,
    so a reader sees the old file or the whole new one, never part of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def replace_folder(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside, then removed."""
    if not target.exists():
        staging.rename(target)
    else:
        old = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex}")
        target.rename(old)
        try:
            staging.rename(target)
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(target.parent)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.columns.equals(b.columns) and a.dtypes.equals(b.dtypes) and a.equals(b)


@dataclass(frozen=True, eq=False)
class RunResult:
    """One run: time series, events and jobs (schemas above) and the JSON summary.

    Equality compares the summaries and the frames (values, dtypes, columns, index).
    """

    timeseries: pd.DataFrame
    events: pd.DataFrame
    jobs: pd.DataFrame
    summary: dict[str, Any]

    @classmethod
    def from_recording(cls, recording: Recording) -> RunResult:
        """Conform the engine's frames to the schemas and compute the summary."""
        timeseries = conform(recording.timeseries, TIMESERIES_COLUMNS, "timeseries")
        events = conform(recording.events, EVENT_COLUMNS, "events")
        jobs = conform(recording.jobs, JOB_COLUMNS, "jobs")
        return cls(timeseries, events, jobs, summarize(recording, timeseries, events, jobs))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunResult):
            return NotImplemented
        pairs = (
            (self.timeseries, other.timeseries),
            (self.events, other.events),
            (self.jobs, other.jobs),
        )
        return self.summary == other.summary and all(_frames_equal(a, b) for a, b in pairs)

    def _files(self) -> Iterator[tuple[str, bytes]]:
        """``(file name, bytes)`` in writing order; the bytes depend only on the result."""
        text = json.dumps(self.summary, sort_keys=True, indent=2, allow_nan=False)
        yield "summary.json", (text + "\n").encode("utf-8")
        if _parquet_available():
            yield "timeseries.parquet", _parquet_bytes(self.timeseries)
        else:
            yield "timeseries.csv", _csv_bytes(self.timeseries)
        yield "events.csv", _csv_bytes(self.events)
        yield "jobs.csv", _csv_bytes(self.jobs)

    def save(self, directory: str | Path) -> Path:
        """Write the result folder atomically and return its path.

        Files go to a hidden sibling folder first; only once all are written and synced
        does it replace ``directory`` (rename the old one aside, rename the new one in,
        delete the old). A failure leaves an existing folder untouched and no staging
        folder behind. Same result → byte-identical files.
        """
        target = Path(directory)
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target}: exists and is not a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.saving-{uuid.uuid4().hex}")
        staging.mkdir()
        try:
            for name, data in self._files():
                _write_file(staging / name, data)
            _fsync_dir(staging)
            replace_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a folder written by :meth:`save` (equal to what was saved)."""
        folder = Path(directory)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        parquet = folder / "timeseries.parquet"
        if parquet.exists():
            frame = pd.read_parquet(parquet, engine="pyarrow")
            timeseries = conform(frame, TIMESERIES_COLUMNS, parquet.name)
        else:
            timeseries = _read_csv(folder / "timeseries.csv", TIMESERIES_COLUMNS)
        events = _read_csv(folder / "events.csv", EVENT_COLUMNS)
        jobs = _read_csv(folder / "jobs.csv", JOB_COLUMNS)
        return cls(timeseries, events, jobs, summary)
