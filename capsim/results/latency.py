"""The run's request latency: the exact mixture of every tick's response-time law.

A request drawn uniformly from all requests served over many ticks has the law of the
mixture of the ticks' laws, weighted by the requests each tick served
(:class:`LatencyMixture`): exact, never an average of interval percentiles. Dropped
requests have no latency; they count as SLO violations elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from capsim.engine.recording import LatencyComponents
from capsim.models.queueing import ResponseTimeDistribution, check_array

__all__ = ["EMPTY_MIXTURE", "LatencyMixture", "latency_mixture"]

FloatArray = npt.NDArray[np.float64]

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


EMPTY_MIXTURE = LatencyMixture.of(ResponseTimeDistribution(*([np.zeros(0)] * 4)), np.zeros(0))


def latency_mixture(components: LatencyComponents) -> LatencyMixture:
    """A service's request latency over the run: its ticks weighted by requests served."""
    law = ResponseTimeDistribution(
        components.fixed_wait_s,
        components.wait_probability,
        components.wait_rate_per_s,
        components.service_rate_per_s,
    )
    return LatencyMixture.of(law, components.served)
