"""M/M/c queueing maths (Erlang C) and response-time laws, vectorized with NumPy.

The stationary M/M/c with arrival rate λ, ``c`` servers of rate μ each, offered load
``a = λ/μ`` and ``ρ = a/c < 1`` (Kleinrock, *Queueing Systems* vol. 1, §3.5): a request
waits with probability
``C(c, a)`` (Erlang C), and its wait is then ``Exp(cμ − λ)``; its response time is
that wait plus an ``Exp(μ)`` service. :class:`ResponseTimeDistribution` generalises this
with a deterministic wait in front (the fluid backlog of :mod:`capsim.models.service`).
Errors name the argument, the index and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = [
    "ResponseTimeDistribution",
    "as_counts",
    "check_array",
    "erlang_c",
    "erlang_c_unchecked",
    "mmc_mean_response_s",
    "mmc_response_quantile_s",
    "mmc_response_tail",
    "pooled_response_time_quantile_s",
    "pooled_row_means_s",
    "pooled_row_quantiles_s",
    "response_time_mean_s",
    "response_time_quantile_s",
    "response_time_tail",
    "wait_mean_s",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_REL_TOL = 1e-13  # Newton / bisection stop: relative step in seconds
_MAX_ITER = 200
_START_ITER = 1  # per-component Newton steps for a pooled quantile's start and bracket


def _bad(where: str, index: int | None, value: object, rule: str) -> ValueError:
    at = f"[{index}]" if index is not None else ""
    return ValueError(f"{where}{at}: must be {rule}, got {value!r}")


def check_array(where: str, values: npt.NDArray[np.float64], *, positive: bool) -> None:
    """Raise naming ``where``, the first bad index and its value (finite, > 0 or ≥ 0)."""
    ok = np.isfinite(values) & ((values > 0) if positive else (values >= 0))
    if not ok.all():
        i = int(np.argmin(ok))
        rule = "> 0 and finite" if positive else ">= 0 and finite"
        raise _bad(where, i if values.ndim else None, float(values.flat[i]), rule)


def as_counts(where: str, values: npt.ArrayLike, *, minimum: int) -> IntArray:
    """Integer-valued input (ints or integral floats) ``>= minimum`` as int64."""
    raw = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(raw) & (raw >= minimum) & (raw == np.floor(raw))
    if not ok.all():
        i = int(np.argmin(ok))
        index = i if raw.ndim else None
        raise _bad(where, index, float(raw.flat[i]), f"an integer >= {minimum}")
    return raw.astype(np.int64)


# --- M/M/c -------------------------------------------------------------------------------


def erlang_c(servers: npt.ArrayLike, offered_load: npt.ArrayLike) -> FloatArray:
    """Erlang C: probability an arrival waits in an M/M/c with ``a = λ/μ`` Erlangs.

    Broadcasts; ``servers`` may differ per element. Stable for large ``c`` through the
    Erlang B recursion ``B_k = a B_{k-1} / (k + a B_{k-1})`` (all terms in [0, 1]), then
    ``C = B / (1 − ρ (1 − B))`` with ``ρ = a / c``. Returns 1 where ``ρ ≥ 1``.
    """
    c_in = as_counts("erlang_c servers", servers, minimum=1)
    a_in = np.asarray(offered_load, dtype=np.float64)
    check_array("erlang_c offered_load", a_in, positive=False)
    return erlang_c_unchecked(c_in, a_in)


def erlang_c_unchecked(servers: IntArray, offered_load: FloatArray) -> FloatArray:
    """:func:`erlang_c` for inputs already checked: whole ``servers`` ≥ 1 (int64) and
    finite ``offered_load`` ≥ 0."""
    c, a = servers, offered_load  # broadcast by each operation
    b = np.ones(np.broadcast_shapes(c.shape, a.shape))
    for k in range(1, int(c.max(initial=0)) + 1):
        b = np.where(k <= c, a * b / (k + a * b), b)
    rho = a / c
    stable = rho < 1.0
    denominator = np.where(stable, 1.0 - rho * (1.0 - b), 1.0)
    return np.where(stable, b / denominator, 1.0)


@dataclass(frozen=True)
class ResponseTimeDistribution:
    """Per-element law of a response time ``T = fixed_wait_s + W + S`` (seconds).

    ``W`` is 0 with probability ``1 − wait_probability``; otherwise it has the density
    ``∝ e^{−θ x}`` on ``(0, wait_limit_s]`` with ``θ = wait_rate_per_s`` — an exponential
    truncated at the limit, which is how a queue whose requests leave at a client
    timeout waits (M/M/c+D). ``θ`` may be 0 or negative when the limit is finite (an
    overloaded queue: waits pile up towards the limit). With ``wait_limit_s = inf`` (the
    default) ``W ~ Exp(θ)``, ``θ > 0``. ``S ~ Exp(service_rate_per_s)``, or with probability
    ``service_share2`` ``Exp(service_rate2_per_s)`` (a two-phase hyperexponential, for work
    more variable than exponential); ``W`` and ``S`` are independent. Arrays of any one
    shape (services in a tick, or one service's ticks).
    """

    fixed_wait_s: FloatArray
    wait_probability: FloatArray
    wait_rate_per_s: FloatArray
    service_rate_per_s: FloatArray
    wait_limit_s: FloatArray | float = math.inf
    service_share2: FloatArray | float = 0.0
    service_rate2_per_s: FloatArray | float = 1.0


def _phi(x: FloatArray) -> FloatArray:
    """``(1 − e^{−x}) / x`` for any real ``x`` (1 at 0), without cancellation."""
    safe = np.where(x != 0, x, 1.0)
    return np.where(x != 0, -np.expm1(-safe) / safe, 1.0)


def _wait_parts(
    u: FloatArray, theta: FloatArray, mu: FloatArray, limit: FloatArray | float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For a waiting request, at ``u ≥ 0``: ``P(W > u)``, ``I(u)`` and ``E[W]``.

    ``W`` has density ``h e^{−θx}`` on ``(0, τ]`` (``h = 1/(τ φ(θτ))``; ``h = θ`` when
    ``τ = ∞``). ``I(u) = ∫₀^{min(u,τ)} h e^{−θx} e^{−μ(u−x)} dx``, so that
    ``P(W + S > u) = P(W > u) + I(u)`` and the density of ``W + S`` is ``μ I(u)``.
    """
    tau = np.broadcast_to(np.asarray(limit, dtype=np.float64), np.shape(u))
    finite = np.isfinite(tau)
    tau_f = np.where(finite & (tau > 0), tau, 1.0)  # τ = 0: no wait (the caller's C is 0)
    # θτ below −500: every wait within τ/500 of τ (as capsim.models.service clamps it)
    theta = np.where(finite, np.maximum(theta, -500.0 / tau_f), theta)
    h = np.where(finite, 1.0 / (tau_f * _phi(theta * tau_f)), theta)
    ue = np.where(finite, np.minimum(u, tau_f), u)
    low = np.minimum(theta, mu)
    i_end = h * ue * np.exp(-low * ue) * _phi(np.abs(theta - mu) * ue)
    integral = i_end * np.exp(-mu * (u - ue))
    rest = np.maximum(tau_f - u, 0.0)
    beyond = np.where(
        finite, h * rest * np.exp(-theta * np.minimum(u, tau_f)) * _phi(theta * rest), 0.0
    )
    beyond = np.where(finite, beyond, np.exp(-theta * np.where(finite, 0.0, u)))
    x = theta * tau_f
    small = np.abs(x) < 1e-6
    safe = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):  # e^x beyond float range: 1/(e^x − 1) is 0
        tail_term = 1.0 / np.expm1(np.minimum(safe, 700.0))
    truncated_mean = np.where(small, tau_f * (0.5 - x / 12.0), tau_f * (1.0 / safe - tail_term))
    mean = np.where(finite, truncated_mean, 1.0 / np.where(finite, 1.0, theta))
    return beyond, integral, mean


def _one_phase(
    t: FloatArray, c_wait: FloatArray, theta: FloatArray, mu: FloatArray, limit: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    beyond, integral, _ = _wait_parts(t, theta, mu, limit)
    waits = (np.asarray(limit) > 0) & (c_wait > 0)  # no room to wait: no wait
    c_wait = np.where(waits, c_wait, 0.0)
    plain = np.exp(-mu * t)
    tail = np.where(waits, (1.0 - c_wait) * plain + c_wait * (beyond + integral), plain)
    density = np.where(waits, (1.0 - c_wait) * mu * plain + c_wait * mu * integral, mu * plain)
    return tail, density


def tail_and_density(
    t: FloatArray,
    c_wait: FloatArray,
    theta: FloatArray,
    mu: FloatArray,
    limit: FloatArray | float = math.inf,
    share2: FloatArray | float = 0.0,
    mu2: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """``P(W + S > t)`` and its density, ``t ≥ 0`` (law: :class:`ResponseTimeDistribution`)."""
    tail, density = _one_phase(t, c_wait, theta, mu, limit)
    second = np.asarray(share2, dtype=np.float64)
    if not (second > 0).any():
        return tail, density
    tail2, density2 = _one_phase(t, c_wait, theta, np.asarray(mu2, dtype=np.float64), limit)
    return (1.0 - second) * tail + second * tail2, (1.0 - second) * density + second * density2


def wait_mean_s(theta: FloatArray, limit: FloatArray | float) -> FloatArray:
    """Mean of a waiting request's wait (density ``∝ e^{−θx}`` on ``(0, limit]``), s."""
    theta = np.asarray(theta, dtype=np.float64)
    return _wait_parts(np.zeros(theta.shape), theta, np.ones(theta.shape), limit)[2]


def _random_part_quantile_s(
    q: float,
    c_wait: FloatArray,
    theta: FloatArray,
    mu: FloatArray,
    limit: FloatArray | float = math.inf,
    share2: FloatArray | float = 0.0,
    mu2: FloatArray | float = 1.0,
) -> FloatArray:
    """Solve ``P(W + S > t) = 1 − q`` by Newton on the log tail, safeguarded by bisection;
    converges to ~1e-13 relative (see :func:`_random_part_quantile_bracket_s`)."""
    return _random_part_quantile_bracket_s(q, c_wait, theta, mu, limit, share2=share2, mu2=mu2)[0]


def upper_bound_s(
    q: float,
    c_wait: FloatArray,
    theta: FloatArray,
    mu: FloatArray,
    limit: FloatArray | float,
    share2: FloatArray | float = 0.0,
    mu2: FloatArray | float = 1.0,
) -> FloatArray:
    """A time beyond the ``q``-quantile of ``W + S``: ``W ≤ τ`` gives ``τ − ln(1−q)/μ``;
    for ``τ = ∞``, ``P(W + S > t) ≤ 2 e^{−st/2}`` (``s = min(θ, μ)``) gives
    ``2 ln(2/(1−q)) / s``. With two service phases, the slower one's (a bound on both)."""
    mu = np.where(np.asarray(share2) > 0, np.minimum(mu, mu2), mu)
    service = -math.log1p(-q) / mu
    tau = np.broadcast_to(np.asarray(limit, dtype=np.float64), np.shape(service))
    finite = np.isfinite(tau)
    slowest = np.where(finite, 1.0, np.minimum(np.where(finite, 1.0, theta), mu))
    unbounded = 2.0 * math.log(2.0 / (1.0 - q)) / slowest
    bound = np.where(finite, np.where(finite, tau, 0.0) + service, unbounded)
    return np.where(c_wait > 0, bound, service)


def _random_part_quantile_bracket_s(
    q: float,
    c_wait: FloatArray,
    theta: FloatArray,
    mu: FloatArray,
    limit: FloatArray | float = math.inf,
    iterations: int = _MAX_ITER,
    *,
    share2: FloatArray | float = 0.0,
    mu2: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(t, lo, hi)`` after at most ``iterations`` safeguarded Newton steps: the estimate
    of the quantile and a bracket that always holds it (``W + S ≥ S`` gives
    ``lo = −ln(1−q)/μ``; ``hi`` from :func:`upper_bound_s`)."""
    log_target = np.log1p(-q)
    shape = np.broadcast(c_wait, theta, mu, np.asarray(limit)).shape
    fastest = np.where(np.asarray(share2) > 0, np.maximum(mu, mu2), mu)
    lo = np.broadcast_to(-log_target / fastest, shape).copy()
    hi = np.broadcast_to(upper_bound_s(q, c_wait, theta, mu, limit, share2, mu2), shape).copy()
    t = lo.copy()
    for _ in range(iterations):
        tail, density = tail_and_density(t, c_wait, theta, mu, limit, share2, mu2)
        gap = np.log(np.maximum(tail, 1e-300)) - log_target
        lo = np.where(gap >= 0, t, lo)
        hi = np.where(gap <= 0, t, hi)
        newton = t + gap * tail / np.maximum(density, 1e-300)
        inside = (newton >= lo) & (newton <= hi) & np.isfinite(newton)
        nxt = np.where(inside, newton, 0.5 * (lo + hi))
        done = np.abs(nxt - t) <= _REL_TOL * np.maximum(t, 1e-300)
        t = nxt
        if done.all():
            break
    return t, lo, hi


def _validate_q(q: float) -> None:
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile q: must be in (0, 1), got {q!r}")


def response_time_tail(dist: ResponseTimeDistribution, t_s: npt.ArrayLike) -> FloatArray:
    """``P(T > t_s)``; 1 for ``t_s`` below the fixed wait; NaN where the law is NaN."""
    shifted = np.asarray(t_s, dtype=np.float64) - dist.fixed_wait_s
    positive = np.maximum(np.nan_to_num(shifted, nan=0.0, posinf=0.0), 0.0)
    tail, _ = tail_and_density(
        positive,
        dist.wait_probability,
        dist.wait_rate_per_s,
        dist.service_rate_per_s,
        dist.wait_limit_s,
        dist.service_share2,
        dist.service_rate2_per_s,
    )
    tail = np.where(np.isposinf(shifted), 0.0, tail)
    return np.where(np.isnan(shifted), np.nan, tail)


def response_time_quantile_s(dist: ResponseTimeDistribution, q: float) -> FloatArray:
    """The exact ``q``-quantile of ``T`` (seconds), per element."""
    _validate_q(q)
    random_part = _random_part_quantile_s(
        q,
        dist.wait_probability,
        dist.wait_rate_per_s,
        dist.service_rate_per_s,
        dist.wait_limit_s,
        dist.service_share2,
        dist.service_rate2_per_s,
    )
    return dist.fixed_wait_s + random_part


def response_time_mean_s(dist: ResponseTimeDistribution) -> FloatArray:
    """``E[T] = fixed wait + C E[W | wait] + 1 / μ`` (seconds; ``E[W | wait] = 1/θ``
    without a limit)."""
    waiting = wait_mean_s(
        np.broadcast_to(dist.wait_rate_per_s, np.shape(dist.wait_probability)), dist.wait_limit_s
    )
    second = np.asarray(dist.service_share2, dtype=np.float64)
    service = np.where(
        second > 0,
        (1.0 - second) / dist.service_rate_per_s + second / np.asarray(dist.service_rate2_per_s),
        1.0 / dist.service_rate_per_s,
    )
    return (
        dist.fixed_wait_s
        + np.where(dist.wait_probability > 0, dist.wait_probability * waiting, 0.0)
        + service
    )


def pooled_response_time_quantile_s(
    dist: ResponseTimeDistribution, weights: npt.ArrayLike, q: float
) -> float:
    """``q``-quantile of the response time of all requests of many ticks together.

    The pooled tail is ``Σ wᵢ P_i(T > t) / Σ wᵢ``; give ``weights`` = requests served in
    each tick (``served_rate × dt``) to get the request-weighted run percentile (dropped
    requests have no latency). Entries of weight 0 are ignored (their law may be NaN).
    NaN when every weight is 0. Bisection between the smallest and largest per-tick
    quantiles, which bracket the pooled one.
    """
    _validate_q(q)
    w = np.asarray(weights, dtype=np.float64).ravel()
    check_array("weights", w, positive=False)
    keep = w > 0
    if not keep.any():
        return float("nan")
    parts = [
        np.broadcast_to(np.asarray(getattr(dist, f.name), dtype=np.float64), w.shape)[keep]
        for f in fields(dist)
    ]
    kept = ResponseTimeDistribution(*parts)
    share = w[keep] / w[keep].sum()
    each = response_time_quantile_s(kept, q)
    lo, hi = float(each.min()), float(each.max())
    for _ in range(_MAX_ITER):
        if hi - lo <= _REL_TOL * hi:
            break
        mid = 0.5 * (lo + hi)
        if float(np.dot(share, response_time_tail(kept, mid))) > 1.0 - q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pooled_row_quantiles_s(
    dist: ResponseTimeDistribution,
    weights: npt.ArrayLike,
    qs: tuple[float, ...],
    tolerance: float = 1e-9,
) -> FloatArray:
    """Pooled ``q``-quantiles of each row of 2-D laws at once: shape ``(len(qs), rows)``.

    Row ``i`` pools the components ``dist[i, :]`` with ``weights[i, :]`` (requests
    served), as :func:`pooled_response_time_quantile_s` does for one row. The pooled
    quantile lies between the smallest and largest component quantiles; Newton on the
    pooled tail, kept inside that shrinking bracket, stops when a step is below
    ``tolerance`` relative (1e-9 by default: far below a microsecond at web latencies).
    NaN for rows whose weights are all 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    total = w.sum(axis=1)
    share = np.where(keep, w / np.where(total > 0, total, 1.0)[:, None], 0.0)
    fixed = np.where(keep, dist.fixed_wait_s, 0.0)
    c_wait = np.where(keep, dist.wait_probability, 0.0)
    theta = np.where(keep, dist.wait_rate_per_s, 1.0)
    mu = np.where(keep, dist.service_rate_per_s, 1.0)
    limit = np.where(keep, dist.wait_limit_s, math.inf)
    share2 = np.where(keep, dist.service_share2, 0.0)
    mu2 = np.where(keep, dist.service_rate2_per_s, 1.0)
    out = np.empty((len(qs), w.shape[0]))
    for index, q in enumerate(qs):
        _validate_q(q)
        # A few Newton steps per component: an estimate of its quantile and a bracket
        # that holds it. The pooled quantile lies between the components' quantiles.
        part, part_lo, part_hi = _random_part_quantile_bracket_s(
            q, c_wait, theta, mu, limit, iterations=_START_ITER, share2=share2, mu2=mu2
        )
        each = fixed + part
        lo = np.min(np.where(keep, fixed + part_lo, np.inf), axis=1)
        hi = np.max(np.where(keep, fixed + part_hi, -np.inf), axis=1)
        rows = total > 0
        lo, hi = np.where(rows, lo, 0.0), np.where(rows, hi, 0.0)
        # Start from the share-weighted component estimate: right when the ticks agree,
        # close when they are alike (the usual case within a record interval).
        t = np.clip(np.sum(share * np.where(keep, each, 0.0), axis=1), lo, hi)
        active = np.flatnonzero(rows)
        for _ in range(_MAX_ITER):
            if active.size == 0:
                break
            ta = t[active]
            shifted = ta[:, None] - fixed[active]
            tail, density = tail_and_density(
                np.maximum(shifted, 0.0),
                c_wait[active],
                theta[active],
                mu[active],
                limit[active],
                share2[active],
                mu2[active],
            )
            before = shifted < 0
            part = share[active]
            gap = np.sum(part * np.where(before, 1.0, tail), axis=1) - (1.0 - q)
            slope = np.sum(part * np.where(before, 0.0, density), axis=1)
            la = np.where(gap > 0, ta, lo[active])
            ha = np.where(gap <= 0, ta, hi[active])
            newton = ta + gap / np.maximum(slope, 1e-300)
            at_root = np.abs(gap) <= 1e-15
            nxt = np.where((newton >= la) & (newton <= ha), newton, 0.5 * (la + ha))
            nxt = np.where(at_root, ta, nxt)
            lo[active], hi[active], t[active] = la, ha, nxt
            converged = at_root | (np.abs(nxt - ta) <= tolerance * np.maximum(np.abs(ta), 1e-300))
            active = active[~converged]
        out[index] = np.where(rows, t, np.nan)
    return out


def pooled_row_means_s(dist: ResponseTimeDistribution, weights: npt.ArrayLike) -> FloatArray:
    """Request-weighted mean response time of each row of 2-D laws (NaN without weight)."""
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    total = w.sum(axis=1)
    means = np.where(keep, response_time_mean_s(dist), 0.0)
    return np.where(total > 0, np.sum(w * means, axis=1) / np.where(total > 0, total, 1.0), np.nan)


def _mmc_law(
    arrival_rate_per_s: npt.ArrayLike, service_rate_per_s: npt.ArrayLike, servers: npt.ArrayLike
) -> tuple[ResponseTimeDistribution, npt.NDArray[np.bool_]]:
    """The stationary M/M/c response-time law and where it exists (``ρ < 1``)."""
    lam = np.asarray(arrival_rate_per_s, dtype=np.float64)
    mu = np.asarray(service_rate_per_s, dtype=np.float64)
    check_array("arrival_rate_per_s", lam, positive=False)
    check_array("service_rate_per_s", mu, positive=True)
    c = as_counts("servers", servers, minimum=1)
    lam, mu, c = np.broadcast_arrays(lam, mu, c)
    stable = lam < c * mu
    c_wait = np.where(stable, erlang_c(c, np.where(stable, lam / mu, 0.0)), 0.0)
    theta = np.where(stable, c * mu - lam, c * mu)
    zero = np.zeros(lam.shape)
    return ResponseTimeDistribution(zero, c_wait, theta, mu.astype(np.float64)), stable


def mmc_mean_response_s(
    arrival_rate_per_s: npt.ArrayLike, service_rate_per_s: npt.ArrayLike, servers: npt.ArrayLike
) -> FloatArray:
    """Stationary M/M/c mean response time ``1/μ + C / (cμ − λ)`` (s); inf where ``ρ ≥ 1``."""
    law, stable = _mmc_law(arrival_rate_per_s, service_rate_per_s, servers)
    return np.where(stable, response_time_mean_s(law), np.inf)


def mmc_response_tail(
    t_s: npt.ArrayLike,
    arrival_rate_per_s: npt.ArrayLike,
    service_rate_per_s: npt.ArrayLike,
    servers: npt.ArrayLike,
) -> FloatArray:
    """Stationary M/M/c ``P(T > t_s)``; 1 where ``ρ ≥ 1``."""
    law, stable = _mmc_law(arrival_rate_per_s, service_rate_per_s, servers)
    return np.where(stable, response_time_tail(law, t_s), 1.0)


def mmc_response_quantile_s(
    q: float,
    arrival_rate_per_s: npt.ArrayLike,
    service_rate_per_s: npt.ArrayLike,
    servers: npt.ArrayLike,
) -> FloatArray:
    """Exact stationary M/M/c response-time ``q``-quantile (s); inf where ``ρ ≥ 1``."""
    law, stable = _mmc_law(arrival_rate_per_s, service_rate_per_s, servers)
    return np.where(stable, response_time_quantile_s(law, q), np.inf)


# --- the service model -------------------------------------------------------------------
