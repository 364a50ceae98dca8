"""The run's request latency: the exact mixture of every tick's response-time law.

A request drawn uniformly from all requests served over many ticks has the law of the
mixture of the ticks' laws, weighted by the requests each tick served
(:class:`LatencyMixture`): exact, never an average of interval percentiles. Dropped
requests have no latency; they count as SLO violations elsewhere.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.engine.recording import LatencyComponents, LatencySamples
from capsim.models.queueing import (
    ResponseTimeDistribution,
    check_array,
    response_time_mean_s,
    tail_and_density,
    upper_bound_s,
)

__all__ = [
    "CI_BATCHES",
    "EMPTY_MIXTURE",
    "EmpiricalLatency",
    "LatencyMixture",
    "latency_law",
    "latency_mixture",
    "served_and_late",
]

FloatArray = npt.NDArray[np.float64]

# --- the latency mixture -----------------------------------------------------------------

_RTOL = 1e-12  # quantile: stop when the Newton step or the bracket is this small (relative)
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
class LatencyMixture:
    """Latency of a request drawn uniformly from all requests served over many ticks (s).

    Component ``i`` (a tick) served ``wᵢ > 0`` requests with law ``Tᵢ = fᵢ + Wᵢ + Sᵢ``
    (:class:`~capsim.models.queueing.ResponseTimeDistribution`: fixed wait ``f``, wait ``W``
    0 or, with probability ``C``, of density ``∝ e^{−θx}`` on ``(0, τ]``; service
    ``S ~ Exp(μ)``). The pooled law is ``P(T > t) = Σ wᵢ Pᵢ(Tᵢ > t) / Σ wᵢ``, exactly: tail
    and density are closed forms evaluated over all components at once, and
    :meth:`quantile_s` is safeguarded Newton on the log tail, from a start solved on a
    strided sample. Build with :meth:`of` (drops weight-0 ticks). Every kept component
    needs ``f ≥ 0``, ``0 ≤ C ≤ 1``, ``μ, w > 0`` and ``τ ≥ 0``, finite (``θ > 0`` where
    ``τ = ∞``).
    """

    fixed_s: FloatArray
    wait_probability: FloatArray
    wait_rate_per_s: FloatArray
    service_rate_per_s: FloatArray
    weight: FloatArray
    wait_limit_s: FloatArray | None = None
    service_share2: FloatArray | None = None
    service_rate2_per_s: FloatArray | None = None

    def __post_init__(self) -> None:
        n = np.shape(self.weight)
        defaults = (
            ("wait_limit_s", math.inf),
            ("service_share2", 0.0),
            ("service_rate2_per_s", 1.0),
        )
        for name, value in defaults:
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, value))
        arrays = self._arrays()
        shapes = {np.shape(x) for x in arrays}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"LatencyMixture: arrays must be 1-D of one length, got {shapes}")
        _check("LatencyMixture.fixed_s", self.fixed_s, positive=False)
        _check("LatencyMixture.wait_probability", self.wait_probability, positive=False, at_most=1)
        for name in ("service_rate_per_s", "weight"):
            _check(f"LatencyMixture.{name}", getattr(self, name), positive=True)
        limit = self._limit
        unbounded = ~np.isfinite(limit)
        if (limit < 0).any() or np.isnan(limit).any():
            raise ValueError("LatencyMixture.wait_limit_s: must be >= 0")
        theta = self.wait_rate_per_s
        if not np.isfinite(theta).all() or (unbounded & (theta <= 0)).any():
            i = int(np.argmax(~np.isfinite(theta) | (unbounded & (theta <= 0))))
            raise ValueError(
                f"LatencyMixture.wait_rate_per_s[{i}]: must be finite, and > 0 without a "
                f"wait limit, got {theta[i]!r}"
            )

    @property
    def _limit(self) -> FloatArray:
        assert self.wait_limit_s is not None
        return self.wait_limit_s

    @property
    def _second(self) -> tuple[FloatArray, FloatArray]:
        assert self.service_share2 is not None
        assert self.service_rate2_per_s is not None
        return self.service_share2, self.service_rate2_per_s

    def _arrays(self) -> tuple[FloatArray, ...]:
        return (
            self.fixed_s,
            self.wait_probability,
            self.wait_rate_per_s,
            self.service_rate_per_s,
            self.weight,
            self._limit,
            *self._second,
        )

    @classmethod
    def of(cls, law: ResponseTimeDistribution, weights: npt.ArrayLike) -> LatencyMixture:
        """The mixture of ``law`` (arrays broadcast to ``weights``) weighted by requests.

        Components of weight 0 are dropped first, so their law may be NaN (no replica).
        """
        w = np.asarray(weights, dtype=np.float64).ravel()
        check_array("weights", w, positive=False)
        keep = w > 0
        parts = (
            law.fixed_wait_s,
            law.wait_probability,
            law.wait_rate_per_s,
            law.service_rate_per_s,
            law.wait_limit_s,
            law.service_share2,
            law.service_rate2_per_s,
        )
        f, c, theta, mu, limit, share2, mu2 = (
            np.broadcast_to(np.asarray(p, dtype=np.float64).ravel(), w.shape)[keep] for p in parts
        )
        return cls(f, c, theta, mu, w[keep], limit, share2, mu2)

    @property
    def total_weight(self) -> float:
        """``Σ wᵢ``: the requests in the mixture."""
        return float(self.weight.sum())

    def _law(self) -> ResponseTimeDistribution:
        return ResponseTimeDistribution(
            self.fixed_s,
            self.wait_probability,
            self.wait_rate_per_s,
            self.service_rate_per_s,
            self._limit,
            *self._second,
        )

    def mean_s(self) -> float:
        """``Σ wᵢ E[Tᵢ] / Σ wᵢ`` (s); NaN when empty."""
        if not self.weight.size:
            return math.nan
        return float(self.weight @ response_time_mean_s(self._law())) / self.total_weight

    def _evaluate(self, t: float) -> tuple[float, float]:
        """Unnormalised ``(Σ wᵢ Pᵢ(T > t), Σ wᵢ pᵢ(t))`` at ``t ≥ 0`` s."""
        shifted = t - self.fixed_s
        started = shifted > 0
        tail, density = tail_and_density(
            np.maximum(shifted, 0.0),
            self.wait_probability,
            self.wait_rate_per_s,
            self.service_rate_per_s,
            self._limit,
            *self._second,
        )
        tail = np.where(started, tail, 1.0)
        density = np.where(started, density, 0.0)
        return float(self.weight @ tail), float(self.weight @ density)

    def tail(self, t_s: float) -> float:
        """``P(T > t_s)``: the share of requests slower than ``t_s``; NaN when empty."""
        if not self.weight.size:
            return math.nan
        if t_s <= float(self.fixed_s.min()):
            return 1.0
        share = self._evaluate(t_s)[0] / self.total_weight
        return min(max(share, 0.0), 1.0)

    def quantile_s(self, q: float) -> float:
        """The pooled ``q``-quantile (s): ``P(T > t) = 1 − q``, to ~1e-12 relative.

        Bracket: at ``min fᵢ`` every tail is 1; above, the largest of the components'
        own upper bounds (``fᵢ + τᵢ − ln(1−q)/μᵢ``, or ``fᵢ + 2 ln(2/(1−q)) / min(θᵢ, μᵢ)``
        without a limit). A Newton step that leaves the bracket is replaced by bisection.
        """
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile q: must be in (0, 1), got {q!r}")
        if not self.weight.size:
            return math.nan
        lo = float(self.fixed_s.min())
        bound = upper_bound_s(
            q,
            self.wait_probability,
            self.wait_rate_per_s,
            self.service_rate_per_s,
            self._limit,
            *self._second,
        )
        hi = float((self.fixed_s + bound).max())
        log_target = math.log((1.0 - q) * self.total_weight)
        t = self._start(q)
        t = t if lo < t < hi else 0.5 * (lo + hi)
        for _ in range(_MAX_ITER):
            tail, density = self._evaluate(t)
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
        stride = -(-n // _START_SAMPLE)
        return LatencyMixture(*(a[::stride] for a in self._arrays())).quantile_s(q)


EMPTY_MIXTURE = LatencyMixture.of(ResponseTimeDistribution(*([np.zeros(0)] * 4)), np.zeros(0))


def latency_mixture(components: LatencyComponents) -> LatencyMixture:
    """A service's request latency over the run: its ticks weighted by requests served."""
    law = ResponseTimeDistribution(
        components.fixed_wait_s,
        components.wait_probability,
        components.wait_rate_per_s,
        components.service_rate_per_s,
        components.wait_limit_s,
        components.service_share2,
        components.service_rate2_per_s,
    )
    return LatencyMixture.of(law, components.served)


# --- measured latency (service_model: exact) ----------------------------------------------

CI_BATCHES = 20
"""Batches of consecutive completions behind a confidence interval."""
T_975_19 = 2.093024054408263
"""Student's t quantile 0.975 with ``CI_BATCHES − 1`` = 19 degrees of freedom."""
MIN_TAIL_PER_BATCH = 10
"""A batch's ``q``-quantile is estimated when the batch holds at least this many
requests above it (``n (1 − q) ≥ 10``); the mean when it holds at least this many."""


@dataclass(frozen=True, eq=False)
class EmpiricalLatency:
    """The latency of the requests a run served, measured one by one (s).

    ``quantile_s(q)`` is the smallest response ``t`` with at least a share ``q`` of the
    responses ``≤ t`` (the inverse of the empirical distribution, as
    :meth:`LatencyMixture.quantile_s` is of the pooled law). :meth:`ci95_half_width_s`
    is the batch-means 95 % confidence interval of a statistic: the responses in
    completion order cut into :data:`CI_BATCHES` consecutive batches, the statistic of
    each, and ``t₀.₉₇₅,₁₉ · sd / √20`` of those. For a steady load it is the usual
    batch-means interval (valid while a batch is much longer than the queue's memory); a
    load that changes over the run makes the batches differ by more than noise, which
    widens the interval (conservative). NaN when a batch is too small to estimate the
    statistic (:data:`MIN_TAIL_PER_BATCH`).
    """

    response_s: npt.NDArray[np.float32] | FloatArray

    @property
    def total_weight(self) -> float:
        """The requests measured."""
        return float(self.response_s.size)

    @functools.cached_property
    def _sorted(self) -> FloatArray:
        return np.sort(self.response_s).astype(np.float64)

    def mean_s(self) -> float:
        """Mean response (s); NaN when empty."""
        return float(self.response_s.mean(dtype=np.float64)) if self.response_s.size else math.nan

    def tail(self, t_s: float) -> float:
        """The share of responses above ``t_s``; NaN when empty."""
        n = self.response_s.size
        if not n:
            return math.nan
        return float(n - np.searchsorted(self._sorted, t_s, side="right")) / n

    def quantile_s(self, q: float) -> float:
        """The empirical ``q``-quantile (s); NaN when empty."""
        return _empirical_quantile(self._sorted, q)

    def ci95_half_width_s(self, q: float | None) -> float:
        """Half-width (s) of the 95 % batch-means interval of the mean (``q`` None) or of
        the ``q``-quantile; NaN when the batches are too small."""
        batch = self.response_s.size // CI_BATCHES
        need = MIN_TAIL_PER_BATCH if q is None else MIN_TAIL_PER_BATCH / (1.0 - q)
        if batch < need:
            return math.nan
        batches = self.response_s[: batch * CI_BATCHES].reshape(CI_BATCHES, batch)
        if q is None:
            values = batches.mean(axis=1, dtype=np.float64)
        else:
            ordered = np.sort(batches, axis=1)
            values = ordered[:, _quantile_index(batch, q)].astype(np.float64)
        return T_975_19 * float(values.std(ddof=1)) / math.sqrt(CI_BATCHES)


def _quantile_index(n: int, q: float) -> int:
    """Index of the empirical ``q``-quantile in ``n`` sorted values (inverse CDF)."""
    return min(max(math.ceil(round(q * n, 9)) - 1, 0), n - 1)  # q·n = 95.00000000000001


def _empirical_quantile(ordered: FloatArray, q: float) -> float:
    if not ordered.size:
        return math.nan
    return float(ordered[_quantile_index(ordered.size, q)])


def latency_law(
    components: LatencyComponents | LatencySamples,
) -> LatencyMixture | EmpiricalLatency:
    """A service's request latency over the run, by the model that produced it."""
    if isinstance(components, LatencySamples):
        return EmpiricalLatency(components.response_s)
    return latency_mixture(components)


def served_and_late(
    components: LatencyComponents | LatencySamples, threshold_s: float, n_ticks: int
) -> tuple[FloatArray, FloatArray]:
    """Per tick of the run: the requests served, and how many of them took longer than
    ``threshold_s`` — expected (``served × P(T > threshold)`` of the tick's law) or, for
    measured responses, counted. For the windowed latency objective
    (:mod:`capsim.models.slo`)."""
    if isinstance(components, LatencySamples):
        ticks = components.response_tick
        if ticks is None:
            raise ValueError("LatencySamples.response_tick: needed to cut the run into windows")
        served = np.bincount(ticks, minlength=n_ticks).astype(np.float64)
        slow = ticks[components.response_s > threshold_s]
        return served, np.bincount(slow, minlength=n_ticks).astype(np.float64)
    served = np.asarray(components.served, dtype=np.float64)
    keep = served > 0

    def part(values: FloatArray | float, neutral: float) -> FloatArray:
        full = np.broadcast_to(np.asarray(values, dtype=np.float64), served.shape)
        return np.where(keep, full, neutral)

    shifted = threshold_s - part(components.fixed_wait_s, 0.0)
    tail, _ = tail_and_density(
        np.maximum(shifted, 0.0),
        part(components.wait_probability, 0.0),
        part(components.wait_rate_per_s, 1.0),
        part(components.service_rate_per_s, 1.0),
        part(components.wait_limit_s, math.inf),
        part(components.service_share2, 0.0),
        part(components.service_rate2_per_s, 1.0),
    )
    tail = np.where(shifted > 0, tail, 1.0)
    return served, np.where(keep, served * np.clip(tail, 0.0, 1.0), 0.0)
