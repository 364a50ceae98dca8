"""Pure service model: one tick of one service — offered load and ready replicas in;
served, dropped, abandoned, requests in flight, usage and the latency law out.

Written in the subset of Python that Numba compiles (floats, ints, 1-D arrays, ``math``),
so that the engine (:mod:`capsim.engine.platform`, tick by tick) and the fast path
(:mod:`capsim.fastpath.kernel`, inside its compiled loop) run *the same function*:
:func:`service_tick`. It imports neither Numba nor SimPy; the callers compile it
(:mod:`capsim.jit`). No clock, no randomness: ``dt_s``, the load and the replicas are
arguments, and the state it carries is an array the caller owns. Units: seconds,
requests, requests/s, cores, MiB.

**The request model the maths stands for** (``README.md`` › *The service model*):

* Requests arrive as a Poisson process at the tick's mean rate ``λ`` (the load; the
  expected model never draws counts). Each needs an exponential amount of CPU work of
  mean ``s = cpu_ms_per_request / 1000`` core-seconds.
* A replica has ``c = concurrency`` slots and ``k = cpu_limit_cores`` cores. Requests in
  slots share the cores (processor sharing once more than ``k`` are busy); beyond the
  slots they wait in a FCFS queue. The replica therefore serves at most
  ``min(c, k) / s`` requests/s. The number of requests in a replica is a birth–death
  chain with death rate ``min(n, k) / s`` (for whole ``k`` exactly an M/M/k): its mean,
  hence the mean response by Little's law, is exact; the response time's *shape* is
  that of FCFS service on ``min(c, k)`` full-speed cores (processor sharing spreads
  response times more: the README's accuracy table states how much).
* **Routing** over the ready replicas: ``random`` (kube-proxy: each replica an
  independent queue fed ``λ/N``), ``round_robin`` (each replica fed every N-th request:
  its waits scaled by the Allen–Cunneen factor ``(c_a² + 1)/2`` with ``c_a² = 1/N``, an
  approximation whose error the README states), ``pooled`` (one queue in front of every
  slot, the ideal). With no ready replica every request is **dropped** (connection
  refused), and so is whatever was queued.
* **Client timeout** ``τ``: a request still waiting in the queue ``τ`` after it arrived
  **abandons** (an error; it used no CPU). A request that started service completes, so a
  served request's latency is at most ``τ`` plus its own service time (M/M/c+D, Baccelli
  and Hebuterne 1981). Abandonments are booked when they happen, ``τ`` after arrival; until
  then the request counts as waiting.

**The maths per tick.** The stationary law of the routed queue at ``λ`` is M/M/c+D in
closed form, valid at any load (``ρ ≥ 1`` too: the timeout bounds the queue): the share
that abandons, the chance a served request waits, and its wait, an exponential of rate
``θ = kμ − λ`` truncated at ``τ`` (``θ ≤ 0`` in overload). On top of it a **fluid
backlog** carries what the stationary law cannot: the queue built up by an overload
(``λ ≥`` capacity), which then drains at the spare capacity and delays every request
behind it by a fixed wait, while arrivals that would wait beyond ``τ`` abandon. The
stationary requests in flight (Little's law) are a carried reservoir too, so that
arrivals = served + dropped + abandoned + in system holds at every tick, exactly in real
arithmetic, also while load and replicas change.

**Usage per replica.** CPU = served req/s per replica × ``s`` + ``idle_cpu_cores``, capped
at ``k``. Memory = ``memory_mib`` + ``memory_mib_per_request`` × requests in flight per
replica.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from capsim.models.least_request import least_request_lookup

__all__ = [
    "OUT_FIELDS",
    "PARAM_FIELDS",
    "ROUTING",
    "STATE_FIELDS",
    "ring_length",
    "service_params",
    "service_tick",
]

FloatArray = npt.NDArray[np.float64]

ROUTING = {
    "random": 0,
    "round_robin": 1,
    "pooled": 2,
    "least_request": 3,
    "join_shortest_queue": 4,
}
LEAST_REQUEST_CHOICES = {3: 2.0, 4: 0.0}
"""Replicas a least-request router compares, per routing code (0: all of them)."""
LAW_POINTS = 256
"""Load grid of a least-request law table (:func:`least_request_law`)."""

# Per-service constants (:func:`service_params`; a 1-D array the callers build once).
P_DT = 0  # tick length (s)
P_CPU_S = 1  # mean work of a request (core-seconds)
P_MU = 2  # 1 / P_CPU_S: a request's service rate at one full core (1/s)
P_CORES = 3  # cores a replica's busy slots use at most: min(slots, CPU limit)
P_SLOTS = 4  # concurrency slots per replica
P_LIMIT = 5  # CPU limit per replica (cores)
P_SERVICE_S = 6  # a request alone in a replica: P_CPU_S / min(1, P_CORES) (s)
P_TIMEOUT = 7  # client timeout τ (s)
P_IDLE = 8  # idle CPU per replica (cores)
P_MEMORY = 9  # MiB per replica
P_MEMORY_PER_REQUEST = 10  # MiB per request in flight
P_ROUTING = 11  # ROUTING code
P_WORK_SCV = 12  # the work's c_s² as the waits see it (1 under processor sharing)
P_ARRIVAL_SCV = 13  # c_a² of the arrivals at the service (1: Poisson)
P_QUEUE_LIMIT = 14  # requests a replica's queue holds (inf: no limit)
P_SHIFT = 15  # the service time's law (work_law): shift (s)
P_LAW_MU = 16  # its first exponential phase's rate (1/s)
P_SHARE2 = 17  # its second phase's probability
P_LAW_MU2 = 18  # its second phase's rate (1/s)
P_RING_WHOLE = 19  # ⌊τ/dt⌋: whole ticks from arrival to abandonment
P_RING_FRAC = 20  # τ/dt − ⌊τ/dt⌋
P_PER_S = 21  # 1 / P_DT
PARAM_FIELDS = 22
"""Routing policies of the expected model and their codes in :func:`service_tick`."""

# --- carried state, one float64 row per service -----------------------------------------
S_BACKLOG = 0  # fluid backlog: requests waiting beyond the stationary queue (to be served)
S_QUEUED = 1  # requests waiting in the routed queues (to be served)
S_PENDING = 2  # requests waiting that will abandon (booked in the ring)
S_BUSY = 3  # requests in service
S_HEAD = 4  # the ring's slot for the current tick
STATE_FIELDS = 5

# --- per-tick output, one float64 row per service-tick ----------------------------------
O_SERVED = 0  # requests completed in the tick
O_DROPPED = 1  # requests refused (no ready replica)
O_ABANDONED = 2  # requests that left the queue at their timeout in the tick
O_CAPACITY = 3  # most requests/s the ready replicas serve
O_CPU = 4  # cores used per ready replica
O_MEMORY = 5  # MiB used per ready replica
O_IN_FLIGHT = 6  # requests in the system (in service + waiting), tick mean
O_QUEUED = 7  # requests waiting, tick mean (including those that will abandon)
O_BUSY = 8  # requests in service, tick mean
O_FIXED = 9  # law: fixed wait (s)
O_WAIT_P = 10  # law: probability a served request waits
O_WAIT_RATE = 11  # law: θ of the truncated-exponential wait (1/s, any sign)
O_MU = 12  # law: service rate of one request at one core (1/s)
O_WAIT_LIMIT = 13  # law: longest wait (s)
O_IN_SYSTEM = 14  # requests in the system at the tick's end (the carried state's sum)
O_SHARE2 = 15  # law: share of requests whose work is the second exponential phase
O_MU2 = 16  # law: that phase's rate (1/s)
O_PUSHED = 17  # requests that arrived in the tick and will abandon at τ (booked in the ring)
OUT_FIELDS = 18

_NEGLIGIBLE = 1e-15  # P(abandon) below float64's resolution of 1 − P: taken as 0
_FAR = 40.0  # θτ beyond this: e^-θτ < 5e-18, the timeout changes nothing representable
_SETTLED = 30.0  # canonical RBM time beyond this: H₁ within 1e-9 of 1 (settled)
_MIN_THETA_TAU = -500.0  # θτ below this: every served wait is within τ/500 of τ (e^500 fits)


COMPILED_FUNCTIONS = (
    "_phi",
    "_last_state_share",
    "_truncated_wait_mean",
    "_mean_clipped_linear",
    "exponential_wait_law",
    "stationary_law",
    "rbm_progress",
    "rbm_age",
    "grow_queue",
    "_unit_truncation_rate",
    "matched_wait_rate",
    "full_queue_wait",
    "limited_queue_law",
    "abandon_share",
    "unit_arrival_scv",
    "wait_scale",
    "work_law",
    "routed_unit",
    "_renewal_transform",
    "renewal_load",
    "least_request_lookup",
    "single_server_decay",
    "unit_law",
    "service_tick",
    "steady_law",
    "steady_cpu_per_replica",
    "warm_up",
    "_phase_tail",
    "response_tail",
)
"""The functions callers compile, callees before their callers
(:func:`capsim.jit.compile_family`)."""

HOT_HELPERS = (
    "_phi",
    "_last_state_share",
    "_truncated_wait_mean",
    "_mean_clipped_linear",
    "stationary_law",
    "grow_queue",
    "matched_wait_rate",
    "unit_arrival_scv",
    "wait_scale",
    "work_law",
    "routed_unit",
    "unit_law",
    "_phase_tail",
)
"""The small functions a compiler should build into their callers: every service-tick
calls them (:func:`capsim.jit.compile_family`)."""


def ring_length(timeout_s: float, dt_s: float, horizon_s: float = math.inf) -> int:
    """Slots of the abandonment ring: a request abandons ``τ`` after it arrived, in the
    tick ``⌊τ/dt⌋`` or ``⌊τ/dt⌋ + 1`` after its own. A run of ``horizon_s`` seconds needs
    no more than its own length: a timeout beyond it is never reached (those requests
    wait, counted as in the system, to the end)."""
    return math.floor(min(timeout_s, horizon_s) / dt_s) + 2


def _phi(x: float) -> float:
    """``(1 − e^{−x}) / x`` (1 at 0), any real ``x``."""
    if x == 0.0:
        return 1.0
    return -math.expm1(-x) / x


def _truncated_wait_mean(theta: float, tau: float) -> float:
    """Mean of the density ``∝ e^{−θx}`` on ``(0, τ]``."""
    x = theta * tau
    if x > _FAR:  # 1/(e^x − 1) below 5e-18 of 1/x
        return tau / x
    if abs(x) < 1e-6:
        return tau * (0.5 - x / 12.0)
    return tau * (1.0 / x - 1.0 / math.expm1(x))


def _mean_clipped_linear(x0: float, x1: float, upper: float) -> float:
    """Average over ``u ∈ [0, 1]`` of ``clip(x0 + (x1 − x0) u, 0, upper)``, exactly: the
    difference quotient of the antiderivative across a kink, else the midpoint."""
    low, high = min(x0, x1), max(x0, x1)
    crosses = (low < 0.0 < high) or (low < upper < high)
    span = x1 - x0
    scale = max(max(abs(x0), abs(x1)), upper)
    if crosses and abs(span) > 1e-6 * scale:
        a0 = min(max(x0, 0.0), upper)
        a1 = min(max(x1, 0.0), upper)
        f0 = 0.5 * a0 * a0 + upper * max(x0 - upper, 0.0)
        f1 = 0.5 * a1 * a1 + upper * max(x1 - upper, 0.0)
        value = (f1 - f0) / span
    else:
        value = 0.5 * (x0 + x1)
    return min(max(value, 0.0), upper)


def _last_state_share(lam: float, cores: float, mu: float) -> float:
    """``π_{n₀−1} / Σ_{n<n₀} π_n`` of the birth–death weights ``π_n = Π λ/(μ min(j, cores))``
    over the ``n₀ = ⌈cores⌉`` states before saturation (Erlang B's stable recursion)."""
    r = 1.0
    for n in range(1, math.ceil(cores)):
        weight = lam * r  # r ← x r / (1 + x r) with x = λ / (μ min(n, cores))
        r = weight / (mu * min(float(n), cores) + weight)
    return r


def exponential_wait_law(
    busy: float, theta: float, tau: float
) -> tuple[float, float, float, float]:
    """``(P(abandon), P(wait | served), θ, E[W | wait])`` of a queue where a request
    waits with probability ``busy`` an exponential time of rate ``theta`` and abandons if
    that exceeds ``τ``."""
    beyond = math.exp(-min(theta * tau, 700.0))
    p_ab = busy * beyond
    p_wait = busy * (1.0 - beyond) / (1.0 - p_ab)
    if p_ab < _NEGLIGIBLE:
        p_ab = 0.0
    return p_ab, p_wait, theta, _truncated_wait_mean(theta, tau)


def stationary_law(
    lam: float, cores: float, mu: float, tau: float, wait_scale: float
) -> tuple[float, float, float, float]:
    """M/M/c+D of one routed queue: ``(P(abandon), P(wait | served), θ, E[W | wait])``.

    ``lam`` requests/s into a queue whose ``n`` requests complete at rate
    ``μ min(n, cores)`` (``μ = 1/s``, ``cores`` may be fractional), FCFS, patience ``τ``.
    With ``π`` the birth–death weights of the ``n₀ = ⌈cores⌉`` states before saturation,
    ``r = π_{n₀−1} / Σπ`` (Erlang B's recursion, stable), ``K = cores μ`` and
    ``θ = K − λ``: the served waits have mass ``W = λ r τ φ(θτ)`` and the abandoners
    ``A = λ r e^{−θτ} / K`` against 1 for the requests that do not wait. ``wait_scale``
    (:func:`wait_scale`) ≠ 1 keeps the chance ``(W + A)/(1 + W + A)`` of finding every
    core busy and scales the waits' rate (below capacity): those beyond ``τ`` abandon.
    """
    capacity = cores * mu
    if lam <= 0.0:
        return 0.0, 0.0, capacity, 0.0
    r = _last_state_share(lam, cores, mu)
    if tau <= 0.0:  # no queue: Erlang's loss system refuses what finds every core busy
        blocked = lam * r / capacity
        return blocked / (1.0 + blocked), 0.0, capacity, 0.0
    theta_tau = max((capacity - lam) * tau, _MIN_THETA_TAU)
    if theta_tau > _FAR and wait_scale == 1.0:
        # the timeout is far beyond the waits (e^-θτ below 1e-17): no abandonment, and the
        # waits are the untruncated exponential (M/M/c)
        theta = capacity - lam
        weight = lam * r  # waiting: λ r / θ, of 1 + waiting
        return 0.0, weight / (theta + weight), theta, 1.0 / theta
    waiting = lam * r * tau * _phi(theta_tau)
    abandoning = lam * r * math.exp(-theta_tau) / capacity
    if wait_scale == 1.0 or theta_tau <= 0.0:
        theta = theta_tau / tau
        p_abandon = abandoning / (1.0 + waiting + abandoning)
        p_wait = waiting / (1.0 + waiting)
    else:
        # the same chance of finding every core busy, with the waits' exponential rate
        # scaled: a wait beyond τ abandons
        busy = (waiting + abandoning) / (1.0 + waiting + abandoning)
        return exponential_wait_law(busy, (capacity - lam) * wait_scale, tau)
    if p_abandon < _NEGLIGIBLE:
        p_abandon = 0.0
    return p_abandon, p_wait, theta, _truncated_wait_mean(theta, tau)


def rbm_progress(t: float) -> float:
    """``H₁(t) = E Z(t) / E Z(∞)`` of the canonical regulated Brownian motion (drift −1,
    variance 1) started empty: ``1 − 2[(1 + t) Ψ(√t) − √t φ(√t)]`` with ``Ψ`` the normal
    tail and ``φ`` its density (Abate and Whitt 1987, *Transient behavior of regulated
    Brownian motion I*). 0 at 0, → 1; ``≈ 4 φ(0) √t`` for small ``t``."""
    if t <= 0.0:
        return 0.0
    root = math.sqrt(t)
    tail = 0.5 * math.erfc(root / math.sqrt(2.0))
    density = math.exp(-0.5 * t) / math.sqrt(2.0 * math.pi)
    return min(max(1.0 - 2.0 * ((1.0 + t) * tail - root * density), 0.0), 1.0)


def rbm_age(progress: float) -> float:
    """The canonical time ``t`` with ``H₁(t) = progress`` (0 ≤ progress < 1): Newton on
    ``log t`` with ``H₁'(t) = 2 (φ(√t)/√t − Ψ(√t))`` (positive: Mills' ratio), safeguarded
    by a bracket, from the small-``t`` inverse ``t = (progress / 4φ(0))²``."""
    if progress <= 0.0:
        return 0.0
    if progress >= 1.0:
        return math.inf
    lo, hi = -60.0, 8.0  # log t; H₁(e^8) = 1 − 1e-500
    x = min(max(2.0 * math.log(progress * math.sqrt(2.0 * math.pi) / 4.0), lo), hi)
    for _ in range(60):
        t = math.exp(x)
        gap = rbm_progress(t) - progress
        if gap < 0.0:
            lo = x
        else:
            hi = x
        root = math.sqrt(t)
        slope = 2.0 * (
            math.exp(-0.5 * t) / math.sqrt(2.0 * math.pi) / root
            - 0.5 * math.erfc(root / math.sqrt(2.0))
        )
        step = gap / (slope * t) if slope > 0.0 else math.inf
        nxt = x - step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) < 1e-12 or hi - lo < 1e-12:
            return math.exp(nxt)
        x = nxt
    return math.exp(x)


def grow_queue(
    queued: float, target: float, lam: float, capacity: float, variance: float, dt_s: float
) -> float:
    """The waiting requests of one routed queue after ``dt_s`` s, growing from ``queued``
    towards the stationary ``target`` (never beyond it).

    The queue's growth from empty is that of a regulated Brownian motion with drift
    ``λ − K`` and variance ``σ² = λ c_a² + K c_s²`` (``variance``; Poisson arrivals and
    exponential work give ``λ + K``). Below capacity its progress towards the stationary
    mean is ``H₁`` of :func:`rbm_progress` at the canonical age ``δ² t / σ²``
    (``δ = K − λ``), applied to the exact stationary level: the current level gives the
    age, the age grows by ``dt_s``. At or above capacity the driftless part grows as
    ``σ √(2t/π)`` and the drift adds ``(λ − K) t``. Exact for growth from empty in the
    heavy-traffic limit; elsewhere
    an approximation the README's accuracy table measures.
    """
    if queued >= target * (1.0 - 1e-12):  # settled (to rounding)
        return target
    drift = capacity - lam
    if variance <= 0.0:
        return target
    if drift > 0.0:
        scale = variance / (drift * drift)  # canonical time unit, seconds
        if dt_s > _SETTLED * scale:  # relaxes within the tick, whatever the start
            return target
        age = rbm_age(queued / target) + dt_s / scale
        return min(target * rbm_progress(age), target)
    grown = math.sqrt(queued * queued + 2.0 * variance * dt_s / math.pi) - drift * dt_s
    return min(grown, target)


def _unit_truncation_rate(mean: float) -> float:
    """The rate ``x`` whose exponential truncated to ``(0, 1]`` has mean ``mean`` (0 < mean
    < 1): the root of ``1/x − 1/(e^x − 1) = mean``, decreasing in ``x`` (½ at 0).
    Newton's method safeguarded by a bracket (``x ≤ 1/mean`` above ½, ``x ≥ −1 − 1/(1 −
    mean)`` below), to 1e-12; the series ``½ − x/12`` near 0."""
    if mean <= 0.5:
        lo, hi = 0.0, 1.0 / mean
    else:
        lo, hi = -1.0 - 1.0 / (1.0 - mean), 0.0
    x = 12.0 * (0.5 - mean)  # the series' root
    if not lo < x < hi:
        x = 0.5 * (lo + hi)
    for _ in range(100):
        if abs(x) < 1e-4:
            gap = 0.5 - x / 12.0 + x * x * x / 720.0 - mean
            slope = -1.0 / 12.0 + x * x / 240.0
        else:
            e = math.expm1(x)
            gap = 1.0 / x - 1.0 / e - mean if x < 700.0 else 1.0 / x - mean
            slope = -1.0 / (x * x) + ((e + 1.0) / (e * e) if x < 350.0 else 0.0)
        if gap > 0.0:  # mean too large: x must grow
            lo = x
        else:
            hi = x
        step = gap / slope if slope < 0.0 else 0.0
        nxt = x - step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) <= 1e-12 * max(1.0, abs(x)) or hi - lo <= 1e-12 * max(1.0, abs(x)):
            return nxt
        x = nxt
    return x


def matched_wait_rate(theta: float, tau: float, mean_s: float) -> float:
    """``θ' ≥ θ`` whose truncated-exponential wait on ``(0, τ]`` has mean ``mean_s`` (at
    most the mean at ``θ``; :func:`_unit_truncation_rate` in units of ``τ``)."""
    if _truncated_wait_mean(theta, tau) <= mean_s:
        return theta
    guess = 1.0 / mean_s
    if guess * tau > 40.0:  # the truncation takes less than e^-40 of the mean: E[W] = 1/θ
        return max(guess, theta)
    return max(_unit_truncation_rate(mean_s / tau) / tau, theta)


def full_queue_wait(held: float, capacity: float) -> float:
    """Where the wait law of a queue holding ``held`` requests is cut: the mean wait
    behind a full queue, ``(held + 1)/(cores μ)``, plus 1.5 standard deviations of that
    Erlang wait (``√(held + 1)/(cores μ)``). 1.5 balances the p99 error against the exact
    M/M/c/K over c ∈ {1, 4}, held ∈ {1, 5, 20}, ρ ∈ {0.5, 0.9, 1.2}: −6 … +8 % (1 gives
    −11 … +1 %, 2 gives −4 … +13 %)."""
    return (held + 1.0 + 1.5 * math.sqrt(held + 1.0)) / capacity


def limited_queue_law(
    lam: float, cores: float, mu: float, held: float, tau: float, wait_scale: float
) -> tuple[float, float, float, float, float]:
    """A routed queue that holds at most ``held`` waiting requests (a full queue refuses
    an arrival): ``(P(refused), P(wait | admitted), θ, E[W | wait], longest wait)``.

    The birth–death chain of :func:`stationary_law` stopped at ``held`` waiting (M/M/c/K):
    beyond the ``n₀ = ⌈cores⌉`` states below saturation its weights are geometric,
    ``r aʲ⁺¹`` for ``j = 0 … held`` waiting with ``a = λ / (cores μ)`` (closed sums, any
    load), so the refused share, the chance an admitted request waits and its mean wait
    (``j + 1`` completions of the queue for one admitted behind ``j``) are exact; the mean
    wait is divided by ``wait_scale`` (Allen–Cunneen). The shape of the wait is the
    model's truncated exponential with that mean, cut at :func:`full_queue_wait` or at
    the timeout ``τ`` if shorter. Against the exact M/M/c/K the p99 of the response is
    within −6 … +8 % (README, accuracy table).
    """
    capacity = cores * mu
    if lam <= 0.0:
        return 0.0, 0.0, capacity, 0.0, tau
    r = _last_state_share(lam, cores, mu)
    a = lam / capacity
    if held <= 0.0:  # no queue: Erlang's loss system
        return r * a / (1.0 + r * a), 0.0, capacity, 0.0, 0.0
    # with A = Σ_{i=1}^{held} aⁱ (admitted to wait), F = a^{held+1} (full), M = Σ i aⁱ / A:
    # refused = rF / (1 + rA + rF), P(wait) = rA / (1 + rA), E[W | wait] = M / (cores μ)
    if abs(a - 1.0) * (held + 1.0) < 1e-6:  # a = 1 to rounding: the sums are linear
        refused = r / (1.0 + r * held + r)
        p_wait = r * held / (1.0 + r * held)
        completions = 0.5 * (held + 1.0)
    elif a < 1.0:
        power = a**held
        admitted = a * (1.0 - power) / (1.0 - a)
        refused = r * power * a / (1.0 + r * admitted + r * power * a)
        p_wait = r * admitted / (1.0 + r * admitted)
        completions = (1.0 - (held + 1.0) * power + held * power * a) / ((1.0 - a) * (1.0 - power))
    else:  # overloaded: the same sums divided by a^{held} (which may overflow)
        q = a ** (-held)
        refused = r / (q / a + r * (1.0 - q) / (a - 1.0) + r)
        p_wait = 1.0 / (1.0 + (a - 1.0) * q / (r * a * (1.0 - q)))
        completions = (q + held * (a - 1.0) - 1.0) / ((a - 1.0) * (1.0 - q))
    mean = completions / capacity / wait_scale
    longest = min(full_queue_wait(held, capacity), tau)
    theta = matched_wait_rate(_MIN_THETA_TAU / longest, longest, min(mean, 0.999 * longest))
    return refused, p_wait, theta, _truncated_wait_mean(theta, longest), longest


def abandon_share(lam: float, cores: float, mu: float, tau: float, theta: float) -> float:
    """``P(abandon)`` of the M/M/c+D of :func:`stationary_law` with the wait's exponential
    rate set to ``θ`` (the law a queue still building up has: its waits are shorter)."""
    if lam <= 0.0:
        return 0.0
    r = _last_state_share(lam, cores, mu)
    theta_tau = max(theta * tau, _MIN_THETA_TAU)
    waiting = lam * r * tau * _phi(theta_tau)
    abandoning = lam * r * math.exp(-theta_tau) / (cores * mu)
    share = abandoning / (1.0 + waiting + abandoning)
    return share if share >= _NEGLIGIBLE else 0.0


def unit_arrival_scv(routing: int, replicas: float, arrival_scv: float) -> float:
    """``c_a²`` of the arrivals at one routed unit when the service's arrivals have
    ``arrival_scv`` (a renewal stream): random routing thins it at random (``1 + (I − 1)/N``),
    round robin takes every ``N``-th arrival (a sum of ``N`` gaps: ``I/N``), the pooled
    queue sees it whole."""
    if routing == 2 or replicas <= 0.0:
        return arrival_scv
    if routing == 1:
        return arrival_scv / replicas
    return 1.0 + (arrival_scv - 1.0) / replicas


def wait_scale(arrival_scv: float, work_scv: float) -> float:
    """The Allen–Cunneen factor ``2 / (c_a² + c_s²)`` on the rate of the waits (``c_a²``
    of the unit's arrivals, :func:`unit_arrival_scv`; ``c_s²`` the work's, 1 when slots
    share the cores: processor sharing is insensitive to the work's shape). Exact for the
    mean wait of M/G/1; an approximation elsewhere (README, accuracy table)."""
    return 2.0 / (arrival_scv + work_scv)


def work_law(cpu_s: float, work_scv: float) -> tuple[float, float, float, float]:
    """A request's work as ``(shift, rate, share2, rate2)``: ``shift + Exp(rate)`` with
    probability ``1 − share2``, else ``shift + Exp(rate2)``, matching mean ``cpu_s`` and
    squared coefficient of variation ``work_scv``: a shifted exponential up to 1
    (``shift = s(1 − cv)``; deterministic work keeps 0.1 % of its mean as exponential
    jitter), a two-phase hyperexponential with balanced means above it."""
    if work_scv == 1.0:
        return 0.0, 1.0 / cpu_s, 0.0, 1.0
    if work_scv <= 1.0:
        cv = max(math.sqrt(work_scv), 1e-3)
        return cpu_s * (1.0 - cv), 1.0 / (cpu_s * cv), 0.0, 1.0
    first = 0.5 * (1.0 + math.sqrt((work_scv - 1.0) / (work_scv + 1.0)))
    return 0.0, 2.0 * first / cpu_s, 1.0 - first, 2.0 * (1.0 - first) / cpu_s


def service_params(
    dt_s: float,
    cpu_s: float,
    concurrency: float,
    cpu_limit_cores: float,
    timeout_s: float,
    idle_cpu_cores: float = 0.0,
    memory_mib: float = 0.0,
    memory_mib_per_request: float = 0.0,
    routing: int = 0,
    work_scv: float = 1.0,
    arrival_scv: float = 1.0,
    queue_limit: float = math.inf,
) -> FloatArray:
    """The per-service constants :func:`service_tick` reads (``P_*`` indices), worked out
    once: ``dt_s`` the tick, ``cpu_s`` a request's mean work (core-s), ``concurrency``
    slots and ``cpu_limit_cores`` per replica, ``timeout_s`` the client's, usage
    constants, the ``routing`` code, the work's and the arrivals' squared coefficients of
    variation, and the requests a replica's queue holds (``inf``: unbounded)."""
    cores = min(concurrency, cpu_limit_cores)
    service_s = cpu_s / min(1.0, cores)  # a request alone on a sub-core limit
    shift, rate, share2, rate2 = work_law(service_s, work_scv)
    delay = timeout_s / dt_s
    whole = math.floor(delay)
    p = np.zeros(PARAM_FIELDS)
    p[P_DT] = dt_s
    p[P_CPU_S] = cpu_s
    p[P_MU] = 1.0 / cpu_s
    p[P_CORES] = cores
    p[P_SLOTS] = concurrency
    p[P_LIMIT] = cpu_limit_cores
    p[P_SERVICE_S] = service_s
    p[P_TIMEOUT] = timeout_s
    p[P_IDLE] = idle_cpu_cores
    p[P_MEMORY] = memory_mib
    p[P_MEMORY_PER_REQUEST] = memory_mib_per_request
    p[P_ROUTING] = routing
    p[P_WORK_SCV] = work_scv if cpu_limit_cores >= concurrency else 1.0
    p[P_ARRIVAL_SCV] = arrival_scv
    p[P_QUEUE_LIMIT] = queue_limit
    p[P_SHIFT] = shift
    p[P_LAW_MU] = rate
    p[P_SHARE2] = share2
    p[P_LAW_MU2] = rate2
    p[P_RING_WHOLE] = whole
    p[P_RING_FRAC] = delay - whole
    p[P_PER_S] = 1.0 / dt_s
    return p


def _renewal_transform(s: float, r1: float, r2: float, p1: float, p2: float) -> tuple[float, float]:
    """``A*(s)`` and its derivative of the two-phase interarrival law (shares ``pᵢ``,
    rates ``rᵢ``)."""
    value = p1 * r1 / (r1 + s) + p2 * r2 / (r2 + s)
    slope = -p1 * r1 / ((r1 + s) * (r1 + s)) - p2 * r2 / ((r2 + s) * (r2 + s))
    return value, slope


def renewal_load(
    lam_unit: float, replicas: float, capacity: float, routing: int, dispersion: float
) -> tuple[float, bool]:
    """The Poisson load whose M/M/c law has the waits of one routed unit fed a renewal
    stream, and whether it differs from ``lam_unit``.

    The service's arrivals are a renewal stream of rate ``Λ`` whose gaps have squared
    coefficient of variation ``I = dispersion`` (≥ 1: a two-phase hyperexponential with
    balanced means, ``p₁ = ½(1 + √((I − 1)/(I + 1)))``, rates ``rᵢ = 2pᵢΛ``). A unit fed
    by random routing (each arrival kept with chance ``1/N``), round robin (every
    ``N``-th arrival) or the pooled queue is a GI/M/c, whose wait, given that it waits,
    is exactly exponential of rate ``K(1 − σ)`` (``K`` the unit's capacity) with ``σ``
    the root in (0, 1) of ``σ = A*_u(K(1 − σ))``, ``A*_u`` the unit's gap transform: a
    quadratic for random and pooled, Newton's method from 0 (convex, ≤ 30 steps) for
    round robin (``A*_u = A*ᴺ``). The returned load ``Kσ`` gives that rate, and Erlang C
    at ``Kσ`` the chance to wait (exact for one server and for Poisson arrivals; within
    5 % of the exact GI/M/c on mean, p95 and p99 over I ∈ {2, 4, 10}, c ∈ {1, 4}, ρ ∈
    {0.6, 0.9}, README, accuracy table). Poisson arrivals under random or pooled routing,
    ``I < 1`` (the Allen–Cunneen factor covers them) and overload (``λ ≥ K``) return
    ``lam_unit``."""
    if lam_unit >= capacity or lam_unit <= 0.0:
        return lam_unit, False
    if routing != 1 and dispersion == 1.0:
        return lam_unit, False
    if dispersion < 1.0:
        return lam_unit, False
    whole = lam_unit * (1.0 if routing == 2 else replicas)
    p1 = 0.5 * (1.0 + math.sqrt((dispersion - 1.0) / (dispersion + 1.0)))
    p2 = 1.0 - p1
    r1, r2 = 2.0 * p1 * whole, 2.0 * p2 * whole
    if routing != 1:
        keep = 1.0 if routing == 2 else 1.0 / replicas
        e = r1 + r2 - (1.0 - keep) * (p1 * r1 + p2 * r2)
        f = keep * r1 * r2 - capacity * (p2 * r1 + p1 * r2)
        gap = capacity - e
        x = 0.5 * (gap + math.sqrt(max(gap * gap - 4.0 * f, 0.0)))
        return min(max(capacity - x, 0.0), capacity), True
    sigma = 0.0
    n = replicas
    for _ in range(30):
        value, slope = _renewal_transform(capacity * (1.0 - sigma), r1, r2, p1, p2)
        lower = value ** (n - 1.0)
        gap = lower * value - sigma
        derivative = -n * lower * slope * capacity - 1.0  # ≤ −1: the step is finite
        step = gap / derivative
        sigma = min(max(sigma - step, 0.0), 1.0)
        if abs(step) < 1e-12:
            break
    return capacity * sigma, True


def routed_unit(replicas: float, params: FloatArray) -> tuple[float, float, float, float, float]:
    """One routed queue of a service with ``replicas`` (> 0) ready: ``(units, cores,
    c_a², wait scale, held)``: ``units`` queues (one per replica, or one pooled) with
    ``cores`` each, the ``c_a²`` of their arrivals, the Allen–Cunneen factor of their
    waits, and the requests each queue holds (``inf``: no limit; a pooled queue holds
    every replica's)."""
    routing = int(params[P_ROUTING])
    pooled = routing == 2
    units = 1.0 if pooled else replicas
    cores = replicas * params[P_CORES] if pooled else params[P_CORES]
    arrival_scv = unit_arrival_scv(routing, replicas, params[P_ARRIVAL_SCV])
    scale = wait_scale(arrival_scv, params[P_WORK_SCV])
    held = params[P_QUEUE_LIMIT] * (replicas if pooled else 1.0)
    return units, cores, arrival_scv, scale, held


def single_server_decay(lam: float, shift: float, rate: float) -> float:
    """The decay rate ``η`` of the waits of one FCFS server fed Poisson arrivals at
    ``lam`` whose service time is ``shift + Exp(rate)``: the root ``η > 0`` of
    ``λ (M(η) − 1) = η``, ``M(x) = e^{x·shift} rate/(rate − x)`` the service time's
    moment generating function (Cramér–Lundberg: ``P(W > t) ~ C e^{−ηt}``, exact for
    M/G/1). The function is convex, negative just above 0 (``λ E[S] < 1``) and positive
    at ``min(rate, (2/E[S]) ln(2/ρ))`` (Jensen: ``M(x) ≥ e^{x E[S]}``), so Newton's
    method safeguarded by that bracket converges, to 1e-12. 0 if the server is
    saturated."""
    mean = shift + 1.0 / rate
    rho = lam * mean
    if rho >= 1.0 or lam <= 0.0:
        return 0.0
    lo = 0.0
    hi = min(rate * (1.0 - 1e-12), 2.0 / mean * math.log(2.0 / rho))
    x = min(1.0 / mean - lam, 0.5 * hi)  # the exponential's root, or inside the bracket
    for _ in range(100):
        grow = math.exp(min(x * shift, 700.0)) * rate / (rate - x)
        gap = lam * (grow - 1.0) - x
        slope = lam * grow * (shift + 1.0 / (rate - x)) - 1.0
        if gap > 0.0:
            hi = x
        else:
            lo = x
        nxt = x - gap / slope if slope != 0.0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) <= 1e-12 * x or hi - lo <= 1e-12 * hi:
            return nxt
        x = nxt
    return x


def unit_law(
    lam_unit: float,
    replicas: float,
    cores: float,
    held: float,
    scale: float,
    params: FloatArray,
    law: FloatArray,
) -> tuple[float, float, float, float, float, bool]:
    """The stationary law of one routed queue: ``(P(fail), P(wait | served), θ,
    E[W | wait], patience, refuses)``. A queue limit whose full queue's wait is shorter
    than the timeout binds (:func:`limited_queue_law`: failing requests are refused at
    arrival, waits end by ``patience``); otherwise the timeout does
    (:func:`stationary_law`: failing requests abandon at ``τ``). Least-request routing
    below capacity reads its waits from ``law`` (``least_request_law`` of these
    ``replicas``): a request waits with its probability ``p``, an exponential of its mean
    (times the Allen–Cunneen factor), and those that would wait beyond ``τ`` abandon; at
    capacity or above, the router keeps every replica busy: the pooled queue's law.
    Renewal arrivals (a dispersion index, or round robin's every ``N``-th request) with
    exponential work wait as :func:`renewal_load` says; with other work the
    Allen–Cunneen factor of :func:`routed_unit` stands (round robin of deterministic work
    comes out 4–14 % slow: README, accuracy table). One slot with Poisson arrivals and
    other work waits as :func:`single_server_decay` says."""
    mu = params[P_MU]
    tau = params[P_TIMEOUT]
    routing = int(params[P_ROUTING])
    dispersion = params[P_ARRIVAL_SCV]
    work_scv = params[P_WORK_SCV]
    poisson = routing != 1 and dispersion == 1.0  # Poisson arrivals at the unit
    if work_scv == 1.0 and (routing == 1 or (routing < 3 and dispersion > 1.0)):
        # renewal arrivals and exponential work: the unit is a GI/M/c
        lam_law, renewal = renewal_load(lam_unit, replicas, cores * mu, routing, dispersion)
        if renewal:
            scale = wait_scale(1.0, params[P_WORK_SCV])
            lam_unit = lam_law
    if held < math.inf and full_queue_wait(held, cores * mu) < tau:
        refused, c_wait, theta, wait, longest = limited_queue_law(
            lam_unit, cores, mu, held, tau, scale
        )
        return refused, c_wait, theta, wait, longest, True
    if routing >= 3 and law.shape[0] > 0:
        points = law.shape[0] // 2
        if lam_unit < cores * mu * (1.0 - 1.0 / points):
            busy, mean = least_request_lookup(
                law[:points], law[points:], lam_unit * replicas, replicas, cores, mu
            )
            if busy <= 0.0:
                return 0.0, 0.0, cores * mu, 0.0, tau, False
            p_ab, p_wait, theta, wait = exponential_wait_law(busy, scale / mean, tau)
            return p_ab, p_wait, theta, wait, tau, False
        lam_unit, cores = lam_unit * replicas, cores * replicas  # every replica busy: pooled
    if poisson and cores <= 1.0 and work_scv != 1.0:
        # one server, Poisson arrivals, work not exponential: the exact decay of M/G/1
        # (Cramér–Lundberg) with Pollaczek–Khinchine's mean wait
        theta = single_server_decay(lam_unit, params[P_SHIFT], params[P_LAW_MU])
        if theta > 0.0:
            rho = lam_unit / (cores * mu)
            mean_wait = rho / (cores * mu - lam_unit) * 0.5 * (1.0 + work_scv)
            busy = min(mean_wait * theta, 1.0)
            p_ab, p_wait, theta, wait = exponential_wait_law(busy, theta, tau)
            return p_ab, p_wait, theta, wait, tau, False
    p_ab, c_wait, theta, wait = stationary_law(lam_unit, cores, mu, tau, scale)
    return p_ab, c_wait, theta, wait, tau, False


def service_tick(
    lam: float,
    replicas: float,
    params: FloatArray,
    law: FloatArray,
    state: FloatArray,
    ring: FloatArray,
    out: FloatArray,
) -> None:
    """Advance one service by one tick (model: the module docstring).

    ``lam`` requests/s offered over the tick, ``replicas`` ready (whole, ≥ 0, held over
    the tick), ``params`` the service's constants (:func:`service_params`), ``law`` the
    least-request law of these replicas (:func:`least_request_law`; empty otherwise). ``state``
    (``STATE_FIELDS``) and ``ring`` (``ring_length(timeout_s, dt_s)`` slots) are updated
    in place; ``out`` (``OUT_FIELDS``) receives the tick (``O_*`` indices). Conservation,
    per tick: ``lam·dt = served + dropped + abandoned + Δ(backlog + queued + in service +
    pending)``.
    """
    dt_s = params[P_DT]
    mu = params[P_MU]
    service_s = params[P_SERVICE_S]
    timeout_s = params[P_TIMEOUT]
    capacity = replicas * params[P_CORES] * mu
    arrivals = lam * dt_s
    backlog = state[S_BACKLOG]
    queued = state[S_QUEUED]
    busy = state[S_BUSY]
    served = dropped = push = mean_backlog = 0.0
    new_backlog = new_queued = new_busy = 0.0
    fixed = wait_p = 0.0
    theta = capacity
    limit = timeout_s
    queued_mean = 0.0
    law_mu, share2, law_mu2 = mu, 0.0, 1.0
    if replicas <= 0.0:
        dropped = arrivals + backlog + queued + busy
        fixed = math.nan
    else:
        units, cores_unit, arrival_scv, scale, held = routed_unit(replicas, params)
        lam_unit = lam / units
        p_ab, c_wait, theta, wait_mean, patience, refuses = unit_law(
            lam_unit, replicas, cores_unit, held, scale, params, law
        )
        target = lam * (1.0 - p_ab) * c_wait * wait_mean  # stationary waiting requests
        if queued > target:  # the queue is above its level: the excess drains as a fluid
            backlog += queued - target
            queued = target
        if queued >= target * (1.0 - 1e-12):  # settled (to rounding)
            new_queued = target
        else:
            variance = lam_unit * arrival_scv + cores_unit * mu * params[P_WORK_SCV]
            capacity_unit = cores_unit * mu
            new_queued = units * grow_queue(
                queued / units, target / units, lam_unit, capacity_unit, variance, dt_s
            )
        queued_mean = 0.5 * (queued + new_queued)
        if new_queued < target and c_wait > 0.0 and lam > 0.0:
            # still building up: the waits of the stationary family with this mean, and
            # the share beyond the patience that law has (none while the queue is short)
            wanted = queued_mean / (lam * (1.0 - p_ab)) / c_wait
            theta = matched_wait_rate(theta, patience, wanted) if wanted > 0.0 else math.inf
            p_ab = abandon_share(lam_unit, cores_unit, mu, patience, theta) if wanted > 0.0 else 0.0
        failing = arrivals * p_ab
        if refuses:  # a full queue refuses them at once
            dropped = failing
        else:  # they wait until the timeout, then abandon
            push = failing
        # in service: what arrives (less those failing) plus what a backlog adds, at most all
        inflow = lam * (1.0 - p_ab) + (backlog * params[P_PER_S] if backlog > 0.0 else 0.0)
        new_busy = min(inflow, capacity) * service_s
        available = arrivals - failing + backlog + (queued - new_queued) + busy
        if available < 0.0:  # cannot hold more than arrived: the queue grows less
            new_queued += available
            available = 0.0
        new_busy = min(new_busy, available)
        served = available - new_busy
        # a fluid backlog holds at most the timeout's service, or what the queues hold
        top = units * held if refuses else capacity * timeout_s
        if served > capacity * dt_s:  # more than the replicas can serve: all busy
            new_busy = min(capacity * service_s, available)
            served = available - new_busy
        if served > capacity * dt_s:  # and the rest waits as a fluid backlog
            left = served - capacity * dt_s
            served = capacity * dt_s
            new_backlog = min(left, top)
            if refuses:
                dropped += left - new_backlog
            else:
                push += left - new_backlog
        if backlog > 0.0 or new_backlog > 0.0:
            mean_backlog = _mean_clipped_linear(
                backlog, backlog - (capacity * dt_s - lam * dt_s), top
            )
            mean_backlog = min(mean_backlog, max(backlog, new_backlog))
        fixed = mean_backlog / capacity if mean_backlog > 0.0 else 0.0
        limit = max(patience - fixed, 0.0)
        law_mu, share2, law_mu2 = params[P_LAW_MU], params[P_SHARE2], params[P_LAW_MU2]
        fixed += params[P_SHIFT]
        wait_p = c_wait
        if limit <= 0.0 or c_wait <= 0.0 or math.isinf(theta):
            wait_p = 0.0
            theta = capacity
        elif limit < patience:  # behind a fluid backlog: the spread keeps its mean
            accepted = lam * (1.0 - p_ab)
            wanted = queued_mean / accepted / c_wait if accepted > 0.0 else 0.0
            if wanted <= 0.0:
                wait_p = 0.0
            else:
                theta = matched_wait_rate(theta, limit, wanted)
    # abandonments: each request leaves τ after it arrived, uniformly over the tick
    slots = ring.shape[0]
    head = int(state[S_HEAD])
    whole = int(params[P_RING_WHOLE])
    if push > 0.0 and whole + 1 < slots:  # else the timeout falls beyond the run
        frac = params[P_RING_FRAC]
        first = head + whole  # the ring has ⌊τ/dt⌋ + 2 slots
        if first >= slots:
            first -= slots
        second = first + 1 if first + 1 < slots else 0
        ring[first] += push * (1.0 - frac)
        ring[second] += push * frac
    abandoned = ring[head]
    ring[head] = 0.0
    pending_before = state[S_PENDING]
    pending = max(pending_before + push - abandoned, 0.0)
    state[S_HEAD] = float(head + 1 if head + 1 < slots else 0)
    state[S_PENDING] = pending
    state[S_BACKLOG] = new_backlog
    state[S_QUEUED] = new_queued
    state[S_BUSY] = new_busy

    in_service = 0.5 * (busy + new_busy)
    waiting = mean_backlog + queued_mean + 0.5 * (pending_before + pending)
    in_flight = waiting + in_service
    out[O_SERVED] = served
    out[O_DROPPED] = dropped
    out[O_ABANDONED] = abandoned
    out[O_CAPACITY] = capacity
    out[O_IN_FLIGHT] = in_flight
    out[O_QUEUED] = waiting
    out[O_BUSY] = in_service
    out[O_FIXED] = fixed
    out[O_WAIT_P] = wait_p
    out[O_WAIT_RATE] = theta
    out[O_MU] = law_mu
    out[O_SHARE2] = share2
    out[O_MU2] = law_mu2
    out[O_WAIT_LIMIT] = limit
    out[O_IN_SYSTEM] = new_backlog + new_queued + new_busy + pending
    out[O_PUSHED] = push
    if replicas > 0.0:
        per_replica = 1.0 / replicas
        cpu = served * params[P_PER_S] * per_replica * params[P_CPU_S] + params[P_IDLE]
        out[O_CPU] = min(cpu, params[P_LIMIT])
        out[O_MEMORY] = params[P_MEMORY] + params[P_MEMORY_PER_REQUEST] * in_flight * per_replica
    else:
        out[O_CPU] = 0.0
        out[O_MEMORY] = 0.0


def _phase_tail(t: float, c_wait: float, theta: float, mu: float, tau: float) -> float:
    plain = math.exp(-mu * t)
    if c_wait <= 0.0 or tau <= 0.0:
        return plain
    low = min(theta, mu)
    if math.isinf(tau) or theta * tau > _FAR:  # the truncation is below e^-40: W ~ Exp(θ)
        gap = theta - mu
        if abs(gap) * t > 1e-3:  # P(W + S > t | W > 0) = (θ e^{−μt} − μ e^{−θt}) / (θ − μ)
            waited = (theta * plain - mu * math.exp(-theta * t)) / gap
        else:  # θ ≈ μ: the same in a form without cancellation
            waited = math.exp(-theta * t) + theta * t * math.exp(-low * t) * _phi(abs(gap) * t)
        return (1.0 - c_wait) * plain + c_wait * waited
    h = 1.0 / (tau * _phi(theta * tau))
    reach = min(t, tau)
    rest = max(tau - t, 0.0)
    beyond = h * rest * math.exp(-theta * reach) * _phi(theta * rest)
    integral = h * reach * math.exp(-low * reach) * _phi(abs(theta - mu) * reach)
    integral *= math.exp(-mu * (t - reach))
    return (1.0 - c_wait) * plain + c_wait * (beyond + integral)


def response_tail(
    t: float, c_wait: float, theta: float, mu: float, tau: float, share2: float, mu2: float
) -> float:
    """``P(W + S > t)`` for ``t ≥ 0`` of one tick's law (``W`` 0 or, with probability
    ``c_wait``, of density ``∝ e^{−θx}`` on ``(0, τ]``; ``S ~ Exp(μ)``, or ``Exp(μ₂)`` with
    probability ``share2``): the scalar form of
    :func:`capsim.models.queueing.tail_and_density`."""
    tail = _phase_tail(t, c_wait, theta, mu, tau)
    if share2 <= 0.0:
        return tail
    return (1.0 - share2) * tail + share2 * _phase_tail(t, c_wait, theta, mu2, tau)


def steady_law(
    lam: float, replicas: float, params: FloatArray, law: FloatArray
) -> tuple[float, float, float, float, float]:
    """:func:`stationary_law` of one service's routed queue (``replicas`` > 0), with how
    long a failing request stays: ``(P(fail), P(wait | served), θ, E[W | wait], stay)``,
    ``stay`` the timeout when failing requests abandon, 0 when a full queue refuses them."""
    units, cores, _, scale, held = routed_unit(replicas, params)
    p_fail, c_wait, theta, wait, _, refuses = unit_law(
        lam / units, replicas, cores, held, scale, params, law
    )
    return p_fail, c_wait, theta, wait, 0.0 if refuses else params[P_TIMEOUT]


def steady_cpu_per_replica(
    lam: float, replicas: float, params: FloatArray, law: FloatArray
) -> float:
    """Cores one of ``replicas`` ready replicas uses when ``lam`` requests/s have arrived
    steadily for long: what :func:`service_tick` reports once its state has settled
    (served ``λ (1 − P(fail))``, or the capacity in overload)."""
    if replicas <= 0.0:
        return 0.0
    p_fail = steady_law(lam, replicas, params, law)[0]
    capacity = replicas * params[P_CORES] * params[P_MU]
    served = min(lam * (1.0 - p_fail), capacity)
    cores: float = min(served / replicas * params[P_CPU_S] + params[P_IDLE], params[P_LIMIT])
    return cores


def warm_up(
    lam: float,
    replicas: float,
    params: FloatArray,
    law: FloatArray,
    state: FloatArray,
    ring: FloatArray,
) -> None:
    """Put a service's state where a long steady run at ``lam`` with ``replicas`` leaves
    it: requests in flight and those waiting to abandon, as at time 0 of a warm start
    (one tick per ring slot, plus one, at ``lam``; the outputs are discarded)."""
    if replicas > 0.0 and lam > 0.0:
        p_fail, c_wait, _, wait_mean, _ = steady_law(lam, replicas, params, law)
        state[S_QUEUED] = lam * (1.0 - p_fail) * c_wait * wait_mean
        capacity = replicas * params[P_CORES] * params[P_MU]
        state[S_BUSY] = min(lam * (1.0 - p_fail), capacity) * params[P_SERVICE_S]
    scratch = np.zeros(OUT_FIELDS)
    for _ in range(ring.shape[0] + 1):
        service_tick(lam, replicas, params, law, state, ring, scratch)
