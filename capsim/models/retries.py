"""Pure retry model: client retries with capped exponential back-off and full jitter, for
the expected (fluid) service model of :mod:`capsim.models.service`.

Written in the subset of Python that Numba compiles (floats, ints, 1-D float64 arrays,
``math``); it imports neither Numba nor SimPy and has no clock and no randomness. The
callers (the engine tick by tick, the fast path in its compiled loop) compile it with
:mod:`capsim.jit` and own every array. Units: seconds, requests.

**The client behaviour the maths stands for.**

* A request that fails is retried by its client up to ``max_retries`` times. Attempt
  level 0 is the fresh request, level ``k`` its ``k``-th retry. A retry is a new arrival
  needing the same work.
* Failures: **refused** (no ready replica, or a full queue) fail at once, at the
  attempt's arrival instant; **abandoned** (still queued at the client timeout ``τ``)
  fail ``τ`` after the attempt's arrival.
* Retry number ``k`` (``k = 1..max_retries``) is sent ``delay_k`` after the failure,
  with full jitter (AWS, *Exponential Backoff And Jitter*, 2015):
  ``delay_k ~ Uniform(0, J_k)``, ``J_k = min(backoff_s · multiplier^(k−1), max_backoff_s)``.
* An attempt of level ``max_retries`` that fails is a client-visible **failed** request
  (failed finally); it is not retried.

**The discretisation (ticks of** ``dt_s`` **seconds).** A tick's arrivals (all levels
together) are Poisson at the tick's rate, so their instants are spread uniformly over the
tick. The service model gives, per tick, the attempts refused now and those of this
tick's arrivals that will abandon at ``τ``, as totals; within one tick every attempt
level is indistinguishable in the queue, so each level fails in the same share: the
totals are split across levels in proportion to this tick's offered amount per level.
(When the service model drops requests queued in earlier ticks, e.g. when the last
replica goes, they are split in the same proportions.) A failure of an attempt arriving
at ``U·dt`` into the tick (``U ~ Uniform(0, 1)``) with fixed delay ``D`` (0 or ``τ``)
sends its retry at ``(U + D/dt + V/dt)·dt`` with ``V ~ Uniform(0, J_k)``: the retry's
tick offset has the law of the sum of two uniforms (a trapezoid CDF, a triangle when
``J_k = dt``, the plain uniform when ``J_k = 0``) shifted by ``D``. The share of the
failed amount booked into each future tick is **exactly** that law's mass in the tick
(:func:`retry_kernel`). The one approximation: mass falling in the failure's own tick
(tick offset 0) is sent in the next tick, because a tick's arrivals are fixed once its
failures are known; such a retry is sent at most one tick late.

**Conservation**, exact in real arithmetic (to rounding in floats): over any run, every
failed attempt is either waiting in the ring, already sent as a retry, or failed
finally — ``Σ refused + Σ abandoning = Σ retries sent + ring total + Σ failed finally``
(retries sent: those popped plus those sent within their failure's tick).

**Retries within the failure's tick.** With no ready replica every attempt of the tick
is refused at once, so a retry due within the same tick is refused again there, and its
own retry may fall in the tick too: for such ticks the chain within the tick is followed
exactly (:func:`retry_cascade`; the law of a chain's position within the tick is carried
on fine cells) and only what leaves the tick is booked. This matters when the back-off is
short against the tick (100 ms against a minute: all of a request's attempts happen in
the tick of an outage). Everywhere else (a full queue refusing a share, abandonment with
``τ`` shorter than the tick) a retry due in its failure's own tick is sent in the next
tick, at most one tick late: a tick's arrivals are fixed once its failures are known.

**Use per tick** (``head`` is carried by the caller, initially 0):

1. ``head = pop_retries(ring, head, max_retries, slots, offered)`` writes this tick's
   due retries into ``offered[1..max_retries]``; the caller sets ``offered[0]`` to the
   fresh requests of the tick (``λ·dt``).
2. ``p = 1.0`` if no replica is ready, else ``0.0``;
   ``in_tick_attempts(offered, p, cascade, max_retries, slots, attempts)``; the service
   model runs at rate ``sum(attempts) / dt`` (the retries sent in the tick are
   ``sum(attempts[1:])``).
3. ``failed = book_retries(offered, p, refused, abandoning, kernel, cascade,
   max_retries, slots, ring, head, attempts)`` books the failures' next attempts and
   returns the amount that failed finally.

The kernel (:func:`retry_kernel`) and the cascade (:func:`retry_cascade`) depend on
``τ``, the back-off and ``dt`` only: they are computed once per service, so a tick
costs ``O(levels × slots touched)`` multiply-adds and no allocation.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "KIND_ABANDONED",
    "KIND_REFUSED",
    "book_retries",
    "in_tick_attempts",
    "pop_retries",
    "retry_cascade",
    "retry_cascade_length",
    "retry_delay_cap",
    "retry_kernel",
    "retry_kernel_length",
    "retry_ring_length",
    "tick_offset_mass",
]

FloatArray = npt.NDArray[np.float64]

KIND_REFUSED = 0  # kernel rows of failures at the arrival instant (delay 0)
KIND_ABANDONED = 1  # kernel rows of failures τ after arrival
_HEADER = 2  # a kernel row: first tick offset, count, then `count` masses
_CASCADE_HEADER = 3  # a cascade row: Q, first tick offset, count, then `count` masses
_TINY_JITTER = 1e-9  # J/dt below this: the jitter is taken as 0 (shifts by < 1e-9 dt)

COMPILED_FUNCTIONS = (
    "retry_delay_cap",
    "retry_ring_length",
    "retry_kernel_length",
    "_clip_integral",
    "_sum_cdf",
    "tick_offset_mass",
    "retry_kernel",
    "retry_cascade_length",
    "retry_cascade",
    "in_tick_attempts",
    "pop_retries",
    "book_retries",
)
"""The functions callers compile, callees before their callers
(:func:`capsim.jit.compile_family`)."""


def retry_delay_cap(backoff_s: float, multiplier: float, max_backoff_s: float, k: int) -> float:
    """``J_k = min(backoff_s · multiplier^(k−1), max_backoff_s)``: the jitter window (s)
    of retry number ``k ≥ 1``."""
    return min(backoff_s * multiplier ** (k - 1), max_backoff_s)


def retry_ring_length(timeout_s: float, max_backoff_s: float, dt_s: float) -> int:
    """Slots per retry level of the ring: a retry is sent at most ``dt + τ + J`` after
    the start of its failure's tick (``J ≤ max_backoff_s``), in tick offset at most
    ``⌊(τ + J)/dt⌋ + 1``; one more slot keeps the popped slot apart. Bounded by the
    scenario limits on ``τ``, ``max_backoff_s`` and ``dt``."""
    return math.floor((timeout_s + max_backoff_s) / dt_s) + 2


def retry_kernel_length(max_retries: int, slots: int) -> int:
    """Length of the flat kernel array of :func:`retry_kernel`: two kinds of failure ×
    ``max_retries`` retry numbers × (2 header entries + ``slots`` masses)."""
    return 2 * max_retries * (_HEADER + slots)


def _clip_integral(a: float, b: float) -> float:
    """``∫_a^b clip(z, 0, 1) dz`` for ``a ≤ b``, without cancellation between large
    terms (the linear part as a product, the flat part as a length)."""
    lo = max(a, 0.0)
    hi = min(b, 1.0)
    linear = 0.5 * (hi - lo) * (hi + lo) if hi > lo else 0.0
    start = max(a, 1.0)
    flat = b - start if b > start else 0.0
    return linear + flat


def _sum_cdf(y: float, j: float) -> float:
    """``P(U + W ≤ y)`` with ``U ~ Uniform(0, 1)`` and ``W ~ Uniform(0, j)`` independent
    (``j ≥ 0``; the trapezoid CDF, plain ``clip(y, 0, 1)`` when ``j = 0``):
    ``(1/j) ∫_{y−j}^{y} clip(z, 0, 1) dz``."""
    if j <= _TINY_JITTER:
        return min(max(y, 0.0), 1.0)
    if y <= 0.0:
        return 0.0
    if y >= 1.0 + j:
        return 1.0
    return min(max(_clip_integral(y - j, y) / j, 0.0), 1.0)


def tick_offset_mass(delay: float, jitter: float, m: int) -> float:
    """``P(⌊U + delay + W⌋ = m)``: the probability that an attempt arriving uniformly in
    a tick (``U ~ Uniform(0, 1)``) and failing ``delay`` ticks later has its retry
    (jitter ``W ~ Uniform(0, jitter)`` ticks) sent in the tick ``m`` ticks after its own.
    Both arguments in ticks (seconds / ``dt``)."""
    upper = _sum_cdf(m + 1.0 - delay, jitter)
    lower = _sum_cdf(m - delay, jitter)
    return max(upper - lower, 0.0)


def retry_kernel(
    timeout_s: float,
    backoff_s: float,
    multiplier: float,
    max_backoff_s: float,
    max_retries: int,
    dt_s: float,
    slots: int,
    kernel: FloatArray,
) -> None:
    """Fill ``kernel`` (length :func:`retry_kernel_length`) with, for each kind of failure
    (refused: delay 0; abandoned: delay ``τ``) and each retry number ``k = 1..max``, the
    share of a failed amount whose retry is sent in each tick after the failure's tick.

    Row ``(kind · max_retries + k − 1)`` holds ``[first, count, w_0 … w_{count−1}]``:
    ``w_i`` is the probability of tick offset ``first + i`` (``first ≥ 1``). The mass of
    offset 0 (a retry due within its failure's own tick) is added to offset 1. The last
    weight is ``1 −`` the others, so each row sums to 1 to rounding. ``slots`` must be at
    least :func:`retry_ring_length` of the same ``τ``, ``max_backoff_s`` and ``dt_s``.
    """
    width = _HEADER + slots
    for kind in range(2):
        delay = timeout_s / dt_s if kind == KIND_ABANDONED else 0.0
        for k in range(1, max_retries + 1):
            jitter = retry_delay_cap(backoff_s, multiplier, max_backoff_s, k) / dt_s
            if jitter <= _TINY_JITTER:
                jitter = 0.0
            row = (kind * max_retries + k - 1) * width
            for i in range(width):
                kernel[row + i] = 0.0
            low = math.floor(delay)  # the first tick the retry can fall in
            high = math.floor(delay + 1.0 + jitter)  # the last (its mass may be 0)
            if high > slots:
                raise ValueError("retry ring too short for the timeout and back-off")
            first = max(low, 1)
            count = high - first + 1
            kernel[row] = float(first)
            kernel[row + 1] = float(count)
            below = 0.0  # P(offset < m), kept monotone
            for m in range(low, high + 1):
                if m == high:
                    mass = 1.0 - below
                else:
                    cum = max(_sum_cdf(m + 1.0 - delay, jitter), below)
                    mass = cum - below
                    below = cum
                kernel[row + _HEADER + max(m, 1) - first] += max(mass, 0.0)


def retry_cascade_length(max_retries: int, slots: int) -> int:
    """Length of the flat cascade array of :func:`retry_cascade`: ``max_retries²`` rows of
    (3 header entries + ``slots`` masses)."""
    return max_retries * max_retries * (_CASCADE_HEADER + slots)


def retry_cascade(
    backoff_s: float,
    multiplier: float,
    max_backoff_s: float,
    max_retries: int,
    dt_s: float,
    slots: int,
    cells: int,
    cascade: FloatArray,
) -> None:
    """Fill ``cascade`` (length :func:`retry_cascade_length`) with the retry chains of a
    tick in which every attempt is refused at once (no ready replica).

    An attempt of level ``k`` arriving uniformly in the tick (``S₀ = U``) is refused, its
    retry comes at ``S₁ = S₀ + V_{k+1}``, and so on (``V_n ~ Uniform(0, J_n)``): while
    ``S_i < 1`` (in ticks) the retry of level ``k + i`` arrives within the same tick and is
    refused again. Row ``k · max_retries + i − 1`` (``k = 0..max−1``, ``i = 1..max−k``)
    holds ``[Q, first, count, w_0 …]``: ``Q = P(S_i < 1)`` (the level-``k+i`` attempts
    within the tick per level-``k`` arrival) and ``w`` the probabilities
    ``P(S_{i−1} < 1, ⌊S_i⌋ = first + n)`` (its retry leaves the tick into tick offset
    ``first + n ≥ 1``), whose sum is ``Q_{i−1} − Q_i`` (the last weight is that minus the
    others). The law of ``S_i`` within the tick is carried on ``cells`` equal cells, each
    taken uniform: the first retry is exact, later ones are placed to within a cell.
    """
    width = _CASCADE_HEADER + slots
    for i in range(cascade.shape[0]):
        cascade[i] = 0.0
    h = 1.0 / cells
    mass = np.zeros(cells)
    moved = np.zeros(cells)
    for k in range(max_retries):
        for c in range(cells):
            mass[c] = h
        inside = 1.0  # Q_{i-1}
        for i in range(1, max_retries - k + 1):
            jitter = retry_delay_cap(backoff_s, multiplier, max_backoff_s, k + i) / dt_s
            if jitter <= _TINY_JITTER:
                jitter = 0.0
            row = (k * max_retries + i - 1) * width
            high = math.floor(1.0 + jitter)  # last tick offset an exit can reach
            if high > slots:
                raise ValueError("retry ring too short for the back-off")
            cascade[row + 1] = 1.0
            cascade[row + 2] = float(high)
            for c in range(cells):
                moved[c] = 0.0
            spread = jitter * cells  # the jitter in cells
            for c in range(cells):
                amount = mass[c]
                if amount <= 0.0:
                    continue
                below = 0.0
                for target in range(c, cells):  # stays within the tick
                    cum = max(_sum_cdf(float(target - c + 1), spread), below)
                    moved[target] += amount * (cum - below)
                    below = cum
                for m in range(1, high + 1):  # leaves the tick into offset m
                    if m == high:
                        cum = 1.0
                    else:
                        cum = max(_sum_cdf(float((m + 1) * cells - c), spread), below)
                    cascade[row + _CASCADE_HEADER + m - 1] += amount * (cum - below)
                    below = cum
            stay = 0.0
            for c in range(cells):
                mass[c] = moved[c]
                stay += moved[c]
            stay = min(stay, inside)
            cascade[row] = stay
            # the exits sum to Q_{i-1} - Q_i: the last weight takes the rounding
            total = 0.0
            for m in range(1, high):
                total += cascade[row + _CASCADE_HEADER + m - 1]
            cascade[row + _CASCADE_HEADER + high - 1] = max(inside - stay - total, 0.0)
            inside = stay


def in_tick_attempts(
    offered: FloatArray,
    cascade_share: float,
    cascade: FloatArray,
    max_retries: int,
    slots: int,
    attempts: FloatArray,
) -> None:
    """The tick's attempts per level, ``attempts`` (length ``max_retries + 1``): the
    ``offered`` arrivals (fresh and due retries, uniform over the tick) plus the retries
    that their refusals send within the same tick when a share ``cascade_share`` of every
    attempt is refused at once (1 with no ready replica, else 0):
    ``attempts_j = offered_j + Σ_{k<j} offered_k · p^{j−k} · Q(k, j−k)``."""
    width = _CASCADE_HEADER + slots
    for j in range(max_retries + 1):
        attempts[j] = offered[j]
    if cascade_share <= 0.0:
        return
    for k in range(max_retries):
        amount = offered[k]
        if amount <= 0.0:
            continue
        weight = amount
        for i in range(1, max_retries - k + 1):
            weight *= cascade_share
            attempts[k + i] += weight * cascade[(k * max_retries + i - 1) * width]


def pop_retries(
    ring: FloatArray, head: int, max_retries: int, slots: int, offered: FloatArray
) -> int:
    """Move this tick's due retries out of ``ring`` (length ``max_retries · slots``; retry
    number ``k`` in block ``k − 1``, tick slot ``head``) into ``offered[k]``
    (``k = 1..max_retries``), zero those slots, and return the next tick's head.
    ``offered[0]`` (fresh requests) is left to the caller."""
    for k in range(1, max_retries + 1):
        index = (k - 1) * slots + head
        offered[k] = ring[index]
        ring[index] = 0.0
    return (head + 1) % slots


def book_retries(
    offered: FloatArray,
    cascade_share: float,
    refused: float,
    abandoning: float,
    kernel: FloatArray,
    cascade: FloatArray,
    max_retries: int,
    slots: int,
    ring: FloatArray,
    head: int,
    attempts: FloatArray,
) -> float:
    """Book the next attempts of this tick's failures into ``ring``; return the amount
    that failed finally (failed attempts of level ``max_retries``).

    ``offered`` (length ``max_retries + 1``): the tick's arrivals per attempt level before
    in-tick retries (fresh and those :func:`pop_retries` gave); ``cascade_share``: the
    share of every attempt refused at once that :func:`in_tick_attempts` used (1 with no
    ready replica, else 0); ``attempts``: scratch (length ``max_retries + 1``), receives
    :func:`in_tick_attempts`. ``refused``: every request the service refused in the tick
    (at least ``cascade_share · Σ attempts``); ``abandoning``: those of the tick's
    arrivals that will abandon ``τ`` after arriving. The refusals of the cascade are
    booked through the cascade's chains; the other refusals and the abandonments are split
    across levels in proportion to ``attempts`` (everything at level 0 if nothing
    arrived) and booked through ``kernel`` (:func:`retry_kernel`). ``head`` is the value
    :func:`pop_retries` returned this tick (the slot of tick offset 1). Touches only the
    slots the kernel and cascade rows cover.
    """
    in_tick_attempts(offered, cascade_share, cascade, max_retries, slots, attempts)
    total = 0.0
    for k in range(max_retries + 1):
        total += attempts[k]
    failed_finally = 0.0
    if cascade_share > 0.0:
        refused -= cascade_share * total
        if refused < 0.0:  # rounding (the caller promises at least the cascade's share)
            refused = 0.0
        cwidth = _CASCADE_HEADER + slots
        for k in range(max_retries + 1):
            amount = offered[k]
            if amount <= 0.0:
                continue
            weight = amount * cascade_share  # level-k arrivals refused
            inside = 1.0
            for i in range(1, max_retries - k + 1):
                # retries of level k + i: those leaving the tick are booked
                row = (k * max_retries + i - 1) * cwidth
                count = int(cascade[row + 2])
                block = (k + i - 1) * slots
                slot = head
                for n in range(count):
                    ring[block + slot] += weight * cascade[row + _CASCADE_HEADER + n]
                    slot += 1
                    if slot == slots:
                        slot = 0
                inside = cascade[row]
                weight *= cascade_share  # the level-k+i attempts within the tick, refused
            # the last level's attempts within the tick fail finally
            failed_finally += weight * inside
    width = _HEADER + slots
    for level in range(max_retries + 1):
        if total > 0.0:
            share = attempts[level] / total
        elif level == 0:
            share = 1.0
        else:
            share = 0.0
        if share <= 0.0:
            continue
        lost_now = refused * share
        lost_later = abandoning * share
        if level == max_retries:
            failed_finally += lost_now + lost_later
            continue
        block = level * slots  # ring block of retry number level + 1
        for kind in range(2):
            amount = lost_now if kind == KIND_REFUSED else lost_later
            if amount <= 0.0:
                continue
            row = (kind * max_retries + level) * width
            first = int(kernel[row])
            count = int(kernel[row + 1])
            slot = head + first - 1
            if slot >= slots:
                slot -= slots
            for i in range(count):
                ring[block + slot] += amount * kernel[row + _HEADER + i]
                slot += 1
                if slot == slots:
                    slot = 0
    return failed_finally
