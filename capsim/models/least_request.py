"""Least-request routing (Envoy ``LEAST_REQUEST``, power of ``d`` choices; nginx
``least_conn`` / IPVS ``lc``, join-the-shortest-queue): the stationary waiting-time law of
an arriving request, for the expected service model.

Pure maths in the Numba subset (floats, ints, 1-D arrays, ``math``); it imports neither
Numba nor SimPy, callers compile it (:mod:`capsim.jit`). Units: seconds, requests/s.

**The model** (as :mod:`capsim.models.requests`'s ``least_request``, without timeout or
queue limit). ``N`` replicas; the requests in a replica complete at rate ``μ·min(n, k)``
(``k = min(slots, cores)`` effective servers, whole or fractional), FCFS beyond
``K = ⌈k⌉`` busy. Requests arrive as a Poisson stream of rate ``λ``; each samples ``d``
distinct replicas uniformly (``d ≥ N``, or ``d ≤ 0``: all ``N``, JSQ) and joins the one
with the fewest requests in system, ties uniform. An arrival *waits* iff it joins a
replica with ``n ≥ K``; its wait is then ``Erlang(n − K + 1, kμ)``. ``ρ = λ/(N k μ)``.

**The approximation** (three steps; the accuracy table in ``scripts/least_request_accuracy.py``
and the README measure it against the per-request core and ciw):

1. *Mean field at a utilisation r* (the supermarket model of Vvedenskaya, Dobrushin and
   Karpelevich 1996 and Mitzenmacher 2001, with ``k`` servers per queue): ``s_j`` the share
   of replicas with ``≥ j`` requests, ``s_0 = 1``, balance across each level
   ``k r (P(s_{j−1}) − P(s_j)) = min(j, k) (s_j − s_{j+1})`` and ``Σ_{j≤K}
   (min(j,k) − min(j−1,k)) s_j = k r`` (every request is served). For ``j > K`` it
   telescopes to ``s_j = r P(s_{j−1})``; the ``K`` lower levels are found by shooting on
   ``s_1``. ``P(s)`` is the chance that all ``d`` sampled replicas hold ``≥ j`` when a
   share ``s`` does.
2. *Finite N.* Sampling is without replacement among ``N``: ``P`` is the hypergeometric
   ``H(s) = Π_{i<d} (N s − i)/(N − i)`` blended with the with-replacement ``s^d``:
   ``P = (1 − w) H + w s^d``, ``w = (d − 1)/N``. The blend is an *empirical* calibration
   (``H`` alone under-states the waits of JSQ, ``s^d`` alone over-states P2C at small N),
   fitted to the per-request core at ``N ∈ {2, 4, 8, 16, 32}``, ``d ∈ {2, …, N}``,
   ``ρ ∈ {0.6, 0.9}`` (mean response within ±4.1 %).
3. *Fluctuations of the total load* (time-scale separation, as in the state-space
   collapse of power-of-d routing, Chen and Ye 2012; Maguluri, Srikant and Ying 2014: at
   fixed ``N`` the total behaves like the pooled queue in heavy traffic, which mean field
   alone misses). The total ``X`` in system is a birth–death chain: births ``λ``, deaths
   ``N k μ r(X/N)``, with ``r(x)`` the mean-field utilisation whose mean per replica
   ``x(r) = Σ_{j≥1} s_j`` is ``x``; given ``X`` the replicas are in the mean-field state at
   ``r(X/N)`` (fast relaxation). Beyond ``x_c = x(r_c)``, ``r_c`` just below 1, every
   replica's queue is shifted: deaths ``N k μ r_c``, waits longer by ``(X/N − x_c)/(kμ)``
   (the geometric tail summed in closed form). The arrival's wait law is the
   ``π(X)``-mixture (PASTA) of the mean-field laws.

``d = 1`` (random routing) and ``N = 1`` are M/M/k (Erlang C) exactly.

**The exponential shape.** The lead's law family is an atom at 0 and an exponential wait
of rate ``θ``. :func:`least_request_wait` returns the pair that matches the law's first
two moments (``θ = 2E[W]/E[W²]``, ``p = θ E[W]``, capped at ``p ≤ 1``): the mean response is
kept exactly, and the tail of power-of-two waits (lighter than exponential: a request
rarely joins a long queue) is not stretched as much as the literal ``(P(wait),
E[W | wait])`` pair would (p99 +34 % instead of +17 % at N = 16, ρ = 0.95, k = 1).
:func:`least_request_moments` gives the literal law.

**Cost.** :func:`least_request_moments` costs tens of microseconds (48 mean-field solves
and a sum over the total). For the per-tick path, :func:`least_request_table` tabulates
a ``(N, k, d)`` once on a uniform ρ grid and :func:`least_request_lookup` interpolates
(tens of nanoseconds).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "least_request_lookup",
    "least_request_moments",
    "least_request_table",
    "least_request_wait",
]

FloatArray = npt.NDArray[np.float64]

_NODES = 48  # mean-field solves per call (utilisations r between 0 and r_c)
_TAIL_GAP = 1e-3  # r_c = 1 − (1 − ρ)·_TAIL_GAP: the shifted-queue tail starts well past ρ
_MIN_GAP = 1e-12  # 1 − r_c at least this
_TINY = 1e-17  # a level whose join probability is below this ends the mean-field sum
_MAX_LEVELS = 100_000

COMPILED_FUNCTIONS = (
    "_p_min",
    "_mean_field",
    "_erlang_c_law",
    "least_request_moments",
    "least_request_wait",
    "least_request_table",
    "least_request_lookup",
)
"""Callees before their callers (:func:`capsim.jit.compile_family`)."""


def _p_min(s: float, n: float, d: int, w: float) -> float:
    """Chance that every one of ``d`` replicas sampled from ``n`` holds ``≥ j`` when a share
    ``s`` of them does: ``(1 − w)·hypergeometric + w·s^d`` (module docstring, step 2)."""
    if s >= 1.0:
        return 1.0
    if s <= 0.0:
        return 0.0
    x = n * s
    h = 1.0
    for i in range(d):
        h *= max(x - i, 0.0) / (n - i)
        if h == 0.0:
            break
    return (1.0 - w) * h + w * s**d


def _mean_field(
    r: float, n: float, cores: float, d: int, w: float
) -> tuple[float, float, float, float]:
    """Mean-field fixed point at utilisation ``r`` (< 1): ``(x, P(wait), m1, m2)`` with
    ``x = Σ_{j≥1} s_j`` the mean requests per replica and ``m1 = kμ E[W]``,
    ``m2 = (kμ)² E[W²]`` of an arrival's wait (module docstring, step 1)."""
    if r <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    big_k = max(math.ceil(cores), 1)
    if big_k == 1:
        s_k = r  # s_1 = r·P(s_0) = r
        x = r
    else:
        # shooting on s_1 (Illinois regula falsi on [0, 1]): the levels below K from the
        # local balance, the residual is the busy-server equation
        target = cores * r
        lo, hi = 0.0, 1.0
        g_lo, g_hi = -target, cores - target
        side = 0
        s1 = 0.5
        for _ in range(200):
            s1 = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
            cur = s1
            p_prev, p_cur = 1.0, _p_min(s1, n, d, w)
            busy = min(1.0, cores) * s1
            for j in range(1, big_k):
                m_j = min(float(j), cores)
                nxt = cur - target * (p_prev - p_cur) / m_j
                nxt = min(max(nxt, 0.0), cur)
                busy += (min(float(j + 1), cores) - m_j) * nxt
                cur = nxt
                p_prev, p_cur = p_cur, _p_min(cur, n, d, w)
            g = busy - target
            if g > 0.0:
                hi, g_hi = s1, g
                if side == 1:
                    g_lo *= 0.5
                side = 1
            else:
                lo, g_lo = s1, g
                if side == -1:
                    g_hi *= 0.5
                side = -1
            if hi - lo < 1e-14 or abs(g) < 1e-15 * target:
                break
        # recompute the levels at the root for x and s_K
        cur = s1
        p_prev, p_cur = 1.0, _p_min(s1, n, d, w)
        x = s1
        for j in range(1, big_k):
            m_j = min(float(j), cores)
            nxt = min(max(cur - target * (p_prev - p_cur) / m_j, 0.0), cur)
            cur = nxt
            x += cur
            p_prev, p_cur = p_cur, _p_min(cur, n, d, w)
        s_k = cur
    p_wait = _p_min(s_k, n, d, w)
    m1 = 0.0
    m2 = 0.0
    s = s_k
    p = p_wait
    level = 1  # requests ahead to clear, including the one finishing: n − K + 1
    while p > _TINY and level < _MAX_LEVELS:
        m1 += p
        m2 += 2.0 * level * p
        s = r * p  # the next level
        x += s
        p = _p_min(s, n, d, w)
        level += 1
    return x, p_wait, m1, m2


def _erlang_c_law(lam: float, cores: float, mu: float) -> tuple[float, float, float]:
    """One M/M/k queue (``k`` may be fractional: deaths ``μ min(n, k)``), ``λ < kμ``:
    ``(P(wait), E[W], E[W²])``; a wait is exponential of rate ``kμ − λ``."""
    # r = π_{K−1}/Σ_{n<K} π_n by Erlang B's stable recursion, then the geometric tail
    r = 1.0
    for m in range(1, max(math.ceil(cores), 1)):
        a = lam / (mu * min(float(m), cores))
        r = a * r / (1.0 + a * r)
    theta = cores * mu - lam
    tail = lam * r / theta  # Σ_{n≥K} π_n / Σ_{n<K} π_n (π_K = π_{K−1} λ/(kμ), ratio λ/kμ)
    p = tail / (1.0 + tail)
    return p, p / theta, 2.0 * p / (theta * theta)


def least_request_moments(
    lam_total: float, replicas: float, cores: float, mu: float, choices: float
) -> tuple[float, float, float]:
    """``(P(wait), E[W], E[W²])`` (s, s²) of an arriving request's wait under least-request
    routing (module docstring), for ``ρ = λ/(N k μ) < 1``.

    ``replicas`` ``N`` is rounded to a whole number ≥ 1, ``choices`` ``d`` too (``d ≤ 0``
    or ``d ≥ N``: all replicas, JSQ). ``ρ ≥ 1`` returns ``(1, inf, inf)`` (no stationary
    law: the caller treats overload); ``λ ≤ 0`` returns zeros.
    """
    n_rep = max(round(replicas), 1)
    n = float(n_rep)
    d = round(choices)
    if d <= 0 or d > n_rep:
        d = n_rep
    capacity = n * cores * mu
    if lam_total <= 0.0:
        return 0.0, 0.0, 0.0
    if lam_total >= capacity:
        return 1.0, math.inf, math.inf
    if d == 1 or n_rep == 1:
        return _erlang_c_law(lam_total / n, cores, mu)
    rho = lam_total / capacity
    w = (d - 1.0) / n
    gap = max((1.0 - rho) * _TAIL_GAP, _MIN_GAP)
    # mean-field nodes r_i = 1 − gap^(i/(M−1)): dense towards r_c = 1 − gap
    node_x = np.empty(_NODES)
    node_r = np.empty(_NODES)
    node_p = np.empty(_NODES)
    node_m1 = np.empty(_NODES)
    node_m2 = np.empty(_NODES)
    for i in range(_NODES):
        r = 1.0 - gap ** (i / (_NODES - 1.0)) if i > 0 else 0.0
        x, p, m1, m2 = _mean_field(r, n, cores, d, w)
        node_r[i] = r
        node_x[i] = x
        node_p[i] = p
        node_m1[i] = m1
        node_m2[i] = m2
    x_c = node_x[_NODES - 1]
    r_c = node_r[_NODES - 1]
    # the total X = 0, 1, … up to N x_c: weights Π ρ/r(X/N), kept in log space with a
    # running offset (they may exceed float64 before the mode at large N)
    z = 1.0  # X = 0: weight 1, no wait
    a_p = a_1 = a_2 = 0.0
    log_w = 0.0
    offset = 0.0
    seg = 0
    last = math.floor(n * x_c)
    for big_x in range(1, last + 1):
        x = big_x / n
        while seg < _NODES - 2 and node_x[seg + 1] < x:
            seg += 1
        span = node_x[seg + 1] - node_x[seg]
        f = (x - node_x[seg]) / span if span > 0.0 else 1.0
        f = min(max(f, 0.0), 1.0)
        r = node_r[seg] + f * (node_r[seg + 1] - node_r[seg])
        log_w += math.log(rho / r)
        if log_w - offset > 600.0:
            scale = math.exp(offset - log_w)
            z *= scale
            a_p *= scale
            a_1 *= scale
            a_2 *= scale
            offset = log_w
        weight = math.exp(log_w - offset)
        z += weight
        a_p += weight * (node_p[seg] + f * (node_p[seg + 1] - node_p[seg]))
        a_1 += weight * (node_m1[seg] + f * (node_m1[seg + 1] - node_m1[seg]))
        a_2 += weight * (node_m2[seg] + f * (node_m2[seg + 1] - node_m2[seg]))
    # the shifted tail X = last + m, m ≥ 1: weights w_last q^m, every wait longer by
    # Δ_m = δ0 + m/N service-completion steps (δ0 = last/N − x_c ≤ 0)
    q = rho / r_c
    w_last = math.exp(log_w - offset)
    p_c, m1_c, m2_c = node_p[_NODES - 1], node_m1[_NODES - 1], node_m2[_NODES - 1]
    s0 = q / (1.0 - q)
    s1 = q / ((1.0 - q) * (1.0 - q))
    s2 = q * (1.0 + q) / ((1.0 - q) * (1.0 - q) * (1.0 - q))
    d0 = last / n - x_c
    sum_delta = d0 * s0 + s1 / n
    sum_delta2 = d0 * d0 * s0 + 2.0 * d0 * s1 / n + s2 / (n * n)
    z += w_last * s0
    a_p += w_last * p_c * s0
    a_1 += w_last * (m1_c * s0 + p_c * sum_delta)
    a_2 += w_last * (m2_c * s0 + 2.0 * m1_c * sum_delta + p_c * sum_delta2)
    rate = cores * mu
    return a_p / z, a_1 / z / rate, a_2 / z / (rate * rate)


def least_request_wait(
    lam_total: float, replicas: float, cores: float, mu: float, choices: float
) -> tuple[float, float]:
    """``(p, E[W | wait])`` of the exponential-shaped wait law for least-request routing:
    with probability ``p`` a request waits an exponential time of mean ``E[W | wait]``
    (s), else not at all; fitted to the first two moments of :func:`least_request_moments`
    (``p = 2E[W]²/E[W²]``, capped at 1, which keeps the mean wait ``E[W]`` exact).

    ``λ ≤ 0``: ``(0, 1/(kμ))`` (the limit of a request finding all ``k`` busy);
    ``ρ ≥ 1``: ``(1, inf)`` (no stationary law; the caller treats overload).
    """
    if lam_total <= 0.0:
        return 0.0, 1.0 / (cores * mu)
    _, m1, m2 = least_request_moments(lam_total, replicas, cores, mu, choices)
    if not m1 < math.inf:
        return 1.0, math.inf
    if m1 <= 0.0 or m2 <= 0.0:
        return 0.0, 1.0 / (cores * mu)
    fitted = 2.0 * m1 * (m1 / m2)  # not m1²/m2: m1² underflows for waits below 1e-154
    if fitted >= 1.0:
        return 1.0, m1
    return fitted, m2 / (2.0 * m1)


def least_request_table(
    replicas: float, cores: float, choices: float, points: int
) -> tuple[FloatArray, FloatArray]:
    """:func:`least_request_wait` of one ``(N, k, d)`` on the grid ``ρ_i = i/points``
    (``i < points``), in service units (``μ = 1``): ``(p_i, (1 − ρ_i) k E[W | wait]_i)``.
    The second column stays bounded as ρ → 1 (the wait grows as ``1/(1 − ρ)``)."""
    p_col = np.empty(points)
    g_col = np.empty(points)
    capacity = max(round(replicas), 1) * cores
    for i in range(points):
        rho = i / points
        p, mean = least_request_wait(rho * capacity, replicas, cores, 1.0, choices)
        p_col[i] = p
        g_col[i] = (1.0 - rho) * cores * mean
    return p_col, g_col


def least_request_lookup(
    p_col: FloatArray,
    g_col: FloatArray,
    lam_total: float,
    replicas: float,
    cores: float,
    mu: float,
) -> tuple[float, float]:
    """:func:`least_request_wait` by linear interpolation in :func:`least_request_table`
    (made for the same ``replicas``, ``cores`` and choices); beyond the last grid point the
    last values are held. ``ρ ≥ 1``: ``(1, inf)``; ``λ ≤ 0``: ``(0, 1/(kμ))``."""
    rate = cores * mu
    if lam_total <= 0.0:
        return 0.0, 1.0 / rate
    rho = lam_total / (max(round(replicas), 1) * rate)
    if rho >= 1.0:
        return 1.0, math.inf
    points = p_col.shape[0]
    at = rho * points
    i = int(at)
    if i >= points - 1:
        p, g = p_col[points - 1], g_col[points - 1]
    else:
        f = at - i
        p = p_col[i] + f * (p_col[i + 1] - p_col[i])
        g = g_col[i] + f * (g_col[i + 1] - g_col[i])
    return p, g / ((1.0 - rho) * rate)
