"""The compiled inner loop of the fast path (:mod:`capsim.fastpath.evaluate`).

One function steps one HPA configuration through the whole run, exactly as
:class:`capsim.engine.kubernetes.KubernetesSim` steps one service whose pods always
find room and start after constant delays; :func:`evaluate_configs` runs many
configurations in parallel threads. Everything here is plain numbers and NumPy arrays
(Numba ``njit``). It calls the very service model the engine steps,
:func:`capsim.models.service.service_tick`, compiled (so the CPU samples the HPA sees are
the same floats), and re-expresses, operation for operation:

* the engine's event order (:meth:`capsim.engine.platform.PlatformSim._loop`): at one
  instant, pod changes, then the record row, then the tick starting then, then the
  scrape and the HPA sync; times within ``SAME_INSTANT_S`` are one instant;
* the HPA maths, :func:`capsim.hpa.batch_calculator.replicas_from_counts` (called) and
  :func:`capsim.hpa.reconcile`: the metric proposal, then stabilization and rate
  limits. Recommendations sit in monotone deques (the min or max over a window is the
  same as upstream's scan over its list, since entries leave a window only by age);
  scale events keep upstream's list order and replacement rule (the rate limits of one
  direction count the other direction's events).

Why compiled: a NumPy step per HPA sync over all configurations costs about 1.6 ms for
1,000 configurations (``benchmarks/bench_hpa.py``), so the 159,000 syncs of a month
would take minutes; compiled, one configuration-sync costs tens of nanoseconds. Numba
comes with the ``fast`` extra: without it the very same functions run as plain Python
(:data:`COMPILED` is False), with the same results, bit for bit, about 170–200× slower.

Pods live in *cohorts* (pods created by one sync): with constant delays they run, turn
Ready and leave the HPA's start-up rules together, and a ReplicaSet removes the newest
first, so a cohort stack is exact.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from capsim.hpa import batch_calculator, calculator
from capsim.hpa.batch_calculator import replicas_from_counts
from capsim.hpa.calculator import cpu_unready_rule
from capsim.jit import compile_family, forget_stale_cache
from capsim.models import service
from capsim.models import slo as slo_model
from capsim.models.service import (
    O_ABANDONED,
    O_CPU,
    O_DROPPED,
    O_FIXED,
    O_MEMORY,
    O_MU,
    O_MU2,
    O_SERVED,
    O_SHARE2,
    O_WAIT_LIMIT,
    O_WAIT_P,
    O_WAIT_RATE,
    OUT_FIELDS,
    P_CPU_S,
    STATE_FIELDS,
)
from capsim.models.slo import LATENCY_PERCENTILE

COMPILED = importlib.util.find_spec("numba") is not None
"""Whether the kernel is compiled (the ``fast`` extra installs Numba). Without Numba the
same functions run as plain Python: the same results, about 170–200× slower
(``benchmarks/fastpath_without_numba.py``)."""


def _uncompiled(**_options: Any) -> Callable[[Any], Any]:
    """Numba's ``njit`` where Numba is not installed: the function itself, uncompiled."""
    return lambda function: function


njit: Any
prange: Any
if COMPILED:
    import numba

    njit = numba.njit
    prange = numba.prange
else:  # the core install without the fast extra
    njit = _uncompiled
    prange = range


def kernel_cached() -> bool:
    """Whether Numba's cache holds the compiled kernel (so its first call loads it in a
    second instead of compiling it for about a minute); False without Numba."""
    from pathlib import Path

    cache = Path(__file__).parent / "__pycache__"
    return COMPILED and any(cache.glob("kernel.evaluate_configs-*.nbi"))


SAME_INSTANT_S = 1e-9
RECORD, SCRAPE, SYNC = 1, 2, 4

# The kernel's cached machine code includes the service model and the HPA rule it calls.
forget_stale_cache(
    __file__, service.__file__, calculator.__file__, batch_calculator.__file__, slo_model.__file__
)

# The CPU unready-pod rule and the replica calculator of the HPA maths, compiled with the
# kernel (one rule for all).
_cpu_unready = njit(cache=True)(cpu_unready_rule)
_replicas = njit(cache=True)(replicas_from_counts)
# The service model, compiled: the very function the engine steps (capsim.engine.services).
_SERVICE = compile_family(vars(service), service.COMPILED_FUNCTIONS, inline=service.HOT_HELPERS)
_service_tick = _SERVICE["service_tick"]
_response_tail = _SERVICE["response_tail"]
_steady_cpu = _SERVICE["steady_cpu_per_replica"]
_warm_up = _SERVICE["warm_up"]

# Columns of the per-configuration metrics array.
M_SCALE_EVENTS = 0
M_REVERSALS = 1
M_READY_MAX = 2
M_AT_MAX_S = 3
M_SLO_BAD_S = 4
M_ROWS_S = 5
M_ARRIVED = 6
M_SERVED = 7
M_DROPPED = 8
M_HELD_CORE_S = 9
M_MEMORY_BYTE_S = 10
M_AT_MAX_MISSED_ROWS = 11
M_OVER_UTIL_S = 12
M_USED_CORE_S = 13
M_REQUESTED_CORE_S = 14
M_DESIRED_MAX = 15
M_LATE = 16
M_SLO_WINDOWS = 17  # latency-objective windows that served requests (capsim.models.slo)
M_SLO_GOOD_WINDOWS = 18  # ... and those within the threshold
N_METRICS = 19
_LATE_SHARE = 1.0 - LATENCY_PERCENTILE / 100.0  # a window is good up to this share late

_PODS, _PERCENT = 0, 1
_SELECT_MAX, _SELECT_MIN, _SELECT_DISABLED = 0, 1, 2
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


@njit(cache=True)
def _tick_index(time_s: float, tick_s: float, n_ticks: int, inclusive: bool) -> int:
    """``PlatformSim._tick_index``: ticks starting before ``time_s`` (or at it)."""
    ticks = time_s / tick_s
    nearest = np.rint(ticks)
    if abs(ticks - nearest) <= 1e-9:
        count = int(nearest) + 1 if inclusive else int(nearest)
    else:
        count = int(math.ceil(ticks))
    return min(max(count, 0), n_ticks)


@njit(cache=True)
def _changed_within(period_s: float, times, changes, length: int, now: float) -> int:
    cutoff = now - period_s
    total = 0
    for i in range(length):
        if times[i] > cutoff:
            total += changes[i]
    return total


@njit(cache=True)
def _store_event(times, changes, length: int, change: int, now: float, longest: float) -> int:
    """``storeScaleEvent``: overwrite the last outdated entry, else append; new length."""
    cutoff = now - longest
    for i in range(length - 1, -1, -1):
        if times[i] < cutoff:
            times[i] = now
            changes[i] = change
            return length
    times[length] = now
    changes[length] = change
    return length + 1


@njit(cache=True)
def _limit(
    current: int,
    up: bool,
    select: int,
    policies,
    up_t,
    up_c,
    up_n: int,
    down_t,
    down_c,
    down_n: int,
    now: float,
) -> int:
    """``scale_up_limit`` (``up``) or ``scale_down_limit`` for one configuration."""
    if select == _SELECT_DISABLED:
        return current
    pick_min = select == _SELECT_MIN
    if up:
        result = _INT32_MAX if pick_min else _INT32_MIN
    else:
        result = _INT32_MIN if pick_min else _INT32_MAX
    for p in range(policies.shape[0]):
        kind = policies[p, 0]
        if kind < 0:
            continue
        value, period = policies[p, 1], float(policies[p, 2])
        added = _changed_within(period, up_t, up_c, up_n, now)
        deleted = _changed_within(period, down_t, down_c, down_n, now)
        start = current - added + deleted
        if up:
            if kind == _PODS:
                proposed = start + value
            else:
                proposed = int(math.ceil(float(start) * (1 + float(value) / 100)))
            result = min(result, proposed) if pick_min else max(result, proposed)
        else:
            if kind == _PODS:
                proposed = start - value
            else:
                proposed = int(float(start) * (1 - float(value) / 100))
            result = max(result, proposed) if pick_min else min(result, proposed)
    return result


WARM_SETTLE_STEPS = 10_000  # capsim.engine.warm.MAX_SETTLE_STEPS (a test holds them equal)


@njit(cache=True)
def _law(laws_by_n, n):
    """The least-request law row for ``n`` ready replicas (an empty row without one)."""
    if laws_by_n.shape[1] == 0:
        return laws_by_n[0]
    return laws_by_n[min(n, laws_by_n.shape[0] - 1)]


@njit(cache=True)
def _settle(
    first,
    lam,
    params,
    laws_by_n,
    request,
    target,
    utilization,
    tol_up,
    tol_down,
    min_r,
    max_r,
):
    """``capsim.engine.warm.settle`` of one CPU-metric HPA: iterate one sync on the
    metrics ``n`` warm pods report; a fixed point, else the largest size of the cycle
    (or of the walk, after ``WARM_SETTLE_STEPS``)."""
    seen = np.zeros(WARM_SETTLE_STEPS + 1, dtype=np.int64)
    seen[0] = first
    count = 1
    n = first
    for _ in range(WARM_SETTLE_STEPS):
        cpu = _steady_cpu(lam, float(n), params, _law(laws_by_n, n))
        sample = int(np.rint(cpu * 1000.0))
        proposal = _replicas(n, n, 0, 0, n * sample, request, target, utilization, tol_up, tol_down)
        nxt = min(max(proposal, min_r), max_r) if proposal >= 0 else n
        if nxt == n:
            return n
        at = -1
        for j in range(count):
            if seen[j] == nxt:
                at = j
                break
        if at >= 0:
            best = nxt
            for j in range(at, count):
                best = max(best, seen[j])
            return best
        seen[count] = nxt
        count += 1
        n = nxt
    best = seen[0]
    for j in range(count):
        best = max(best, seen[j])
    return best


@njit(cache=True)
def _push_max(times, values, head: int, tail: int, mask: int, t: float, v: int) -> int:
    """Push onto a max-deque (a ring of ``mask + 1`` slots, a power of two); returns the
    new tail."""
    while tail > head and values[(tail - 1) & mask] <= v:
        tail -= 1
    times[tail & mask] = t
    values[tail & mask] = v
    return tail + 1


@njit(cache=True)
def _push_min(times, values, head: int, tail: int, mask: int, t: float, v: int) -> int:
    while tail > head and values[(tail - 1) & mask] >= v:
        tail -= 1
    times[tail & mask] = t
    values[tail & mask] = v
    return tail + 1


@njit(cache=True)
def _close_window(out, served: float, late: float) -> None:
    """Count a latency-objective window (:func:`capsim.models.slo.window_counts`)."""
    if served > 0.0:
        out[M_SLO_WINDOWS] += 1
        if late <= _LATE_SHARE * served:
            out[M_SLO_GOOD_WINDOWS] += 1


@njit(cache=True)
def simulate_config(
    c: int,
    inst_time,
    inst_flags,
    rates,
    tick_s: float,
    duration_s: float,
    service,  # (n, PARAM_FIELDS): the service model's constants per configuration
    ring_slots: int,  # the abandonment ring's length
    laws_by_n,  # the least-request law at each replica count (rows), or no column
    pod_times,  # start_s, ready_s, window_s, init_s, initial_readiness_delay_s
    config_int,  # (n, 10): request_m, target, utilization, min, max, legacy, up_sel, down_sel,
    #              up_longest_s, down_longest_s
    config_float,  # (n, 5): limit_cores, tol_up, tol_down, up_window_s, down_window_s
    up_policies,
    down_policies,
    slo,  # p95_s (NaN: none), max_error_rate (NaN: none), max_utilization_pct (NaN: none),
    #       the latency objective's window in ticks
    caps,  # cohorts, recommendations, events
    metrics,
    trajectory,
    laws,
) -> None:
    """Run configuration ``c`` over the whole schedule; fill ``metrics[c]`` (and
    ``trajectory[c]``, ``laws[c]`` when they have room)."""
    n_ticks = rates.shape[0]
    params = service[c]
    cpu_s = params[P_CPU_S]
    start_delay, ready_delay, window_s, init_s, ird_s = (
        pod_times[0],
        pod_times[1],
        pod_times[2],
        pod_times[3],
        pod_times[4],
    )
    request = config_int[c, 0]
    target = config_int[c, 1]
    utilization = config_int[c, 2] != 0
    min_r, max_r = config_int[c, 3], config_int[c, 4]
    legacy = config_int[c, 5] != 0
    up_sel, down_sel = config_int[c, 6], config_int[c, 7]
    up_longest, down_longest = float(config_int[c, 8]), float(config_int[c, 9])
    tol_up, tol_down = config_float[c, 1], config_float[c, 2]  # [c, 0]: the CPU limit, in params
    up_window, down_window = config_float[c, 3], config_float[c, 4]
    up_pol, down_pol = up_policies[c], down_policies[c]
    slo_s, max_error, max_util = slo[0], slo[1], slo[2]
    window_ticks = int(slo[3])  # the latency objective's window, in ticks
    request_cores = request / 1000.0
    keep_laws = laws.shape[1] > 0
    keep_trajectory = trajectory.shape[1] > 0

    # --- warm start (engine.kubernetes.warm_start.settled_hpa_size, engine.warm.settle) ---
    demand_cores = rates[0] * cpu_s
    per_pod_m = request * target / 100.0 if utilization else float(target)
    needed = max(1, int(math.ceil(demand_cores * 1000.0 / per_pod_m)))
    desired = _settle(
        min(max(needed, min_r), max_r),
        rates[0],
        params,
        laws_by_n,
        request,
        target,
        utilization,
        tol_up,
        tol_down,
        min_r,
        max_r,
    )

    # --- pods: settled ones counted, the rest in cohorts (ids head..tail-1, a ring) ---
    cohort_cap = caps[0]  # ring lengths are powers of two: an index is masked, not divided
    cohort_mask = cohort_cap - 1
    c_time = np.zeros(cohort_cap)
    c_count = np.zeros(cohort_cap, dtype=np.int64)
    settled = desired
    head = tail = 0
    run_ptr = ready_ptr = 0  # first cohort not yet running / not yet Ready
    serving = desired  # Ready pods (traffic)
    total_pods = desired

    # --- HPA memory ---
    rec_cap, ev_cap = caps[1], caps[2]
    rec_mask = rec_cap - 1
    mx_t = np.zeros(rec_cap)
    mx_v = np.zeros(rec_cap, dtype=np.int64)
    mn_t = np.zeros(rec_cap)
    mn_v = np.zeros(rec_cap, dtype=np.int64)
    mx_head = mx_tail = mn_head = mn_tail = 0
    seeded = False
    up_t = np.zeros(ev_cap)
    up_c = np.zeros(ev_cap, dtype=np.int64)
    down_t = np.zeros(ev_cap)
    down_c = np.zeros(ev_cap, dtype=np.int64)
    up_n = down_n = 0

    # --- service and metrics state ---
    service_state = np.zeros(STATE_FIELDS)
    ring = np.zeros(ring_slots)
    tick_out = np.zeros(OUT_FIELDS)
    if n_ticks > 0:  # the warm pods have served the first tick's load for long
        _warm_up(rates[0], float(serving), params, _law(laws_by_n, serving), service_state, ring)
    integral = 0.0  # core-seconds per replica up to the current tick's start
    cpu_rate = 0.0  # per replica, current tick
    next_tick = 0
    last_scrape = -1.0
    has_scrape = False
    scrape_integral = 0.0
    sample_m = 0
    sync_index = 0
    last_direction = 0
    # row accumulators
    row_ticks = 0
    row_arrived = row_served = row_dropped = 0.0
    row_used = row_mem = row_requested = 0.0
    row_w = row_late = 0.0
    win_w = win_late = 0.0  # the latency objective's current window
    win_ticks = 0
    prev_row_s = 0.0
    out = metrics[c]

    n_inst = inst_time.shape[0]
    for i in range(n_inst + 1):
        if i < n_inst:
            now = inst_time[i]
            flags = inst_flags[i]
        else:  # the end: remaining ticks, pod changes up to the end, the last row
            now = duration_s
            flags = RECORD
        for phase in range(2):
            if phase == 0:
                if flags & RECORD == 0:
                    continue
                if i < n_inst and not next_tick * tick_s < now - SAME_INSTANT_S:
                    until = next_tick
                elif i < n_inst:
                    until = _tick_index(now, tick_s, n_ticks, False)
                else:
                    until = n_ticks
            else:
                if flags & (SCRAPE | SYNC) == 0:
                    continue
                if next_tick * tick_s <= now + SAME_INSTANT_S:
                    until = _tick_index(now, tick_s, n_ticks, True)
                else:
                    until = next_tick
            # ticks before the instant, each after the pod changes due by its start
            while next_tick < until:
                while run_ptr < tail and (
                    _tick_index(c_time[run_ptr & cohort_mask] + start_delay, tick_s, n_ticks, False)
                    <= next_tick
                ):
                    run_ptr += 1
                while ready_ptr < run_ptr and (
                    _tick_index(
                        c_time[ready_ptr & cohort_mask] + start_delay + ready_delay,
                        tick_s,
                        n_ticks,
                        False,
                    )
                    <= next_tick
                ):
                    serving += c_count[ready_ptr & cohort_mask]
                    ready_ptr += 1
                # one tick of the service model (capsim.models.service.service_tick)
                lam = rates[next_tick]
                integral = integral + cpu_rate * tick_s
                _service_tick(
                    lam, float(serving), params, _law(laws_by_n, serving), service_state, ring,
                    tick_out,
                )  # fmt: skip
                served = tick_out[O_SERVED] / tick_s
                dropped = tick_out[O_DROPPED] + tick_out[O_ABANDONED]
                cpu_rate = tick_out[O_CPU]
                memory = tick_out[O_MEMORY]
                fixed_wait = tick_out[O_FIXED]
                wait_p = tick_out[O_WAIT_P]
                wait_rate = tick_out[O_WAIT_RATE]
                mu = tick_out[O_MU]
                wait_limit = tick_out[O_WAIT_LIMIT]
                share2 = tick_out[O_SHARE2]
                mu2 = tick_out[O_MU2]
                row_arrived += lam
                row_served += served
                row_dropped += dropped / tick_s
                row_used += cpu_rate * serving
                row_mem += memory * serving
                row_requested += request_cores * total_pods
                weight = served * tick_s
                if weight > 0.0 and slo_s == slo_s:
                    late = _response_tail(
                        max(slo_s - fixed_wait, 0.0), wait_p, wait_rate, mu, wait_limit, share2, mu2
                    )
                    row_w += weight
                    row_late += weight * late
                    win_w += weight
                    win_late += weight * late
                if slo_s == slo_s:
                    win_ticks += 1
                    if win_ticks == window_ticks:
                        _close_window(out, win_w, win_late)
                        win_w = win_late = 0.0
                        win_ticks = 0
                if keep_laws:
                    laws[c, next_tick, 0] = weight
                    laws[c, next_tick, 1] = fixed_wait
                    laws[c, next_tick, 2] = wait_p
                    laws[c, next_tick, 3] = wait_rate
                    laws[c, next_tick, 4] = mu
                    laws[c, next_tick, 5] = wait_limit
                    laws[c, next_tick, 6] = share2
                    laws[c, next_tick, 7] = mu2
                row_ticks += 1
                next_tick += 1
            # pod changes due by the instant
            bound = now + SAME_INSTANT_S
            while run_ptr < tail and c_time[run_ptr & cohort_mask] + start_delay <= bound:
                run_ptr += 1
            while (
                ready_ptr < run_ptr
                and c_time[ready_ptr & cohort_mask] + start_delay + ready_delay <= bound
            ):
                serving += c_count[ready_ptr & cohort_mask]
                ready_ptr += 1
            if phase == 0:
                if now <= 0.0:
                    continue
                # --- close a record row (PlatformRecorder.row / finalize / summary) ---
                dt = now - prev_row_s
                prev_row_s = now
                if row_ticks > 0:
                    arrived_mean = row_arrived / row_ticks
                    served_mean = row_served / row_ticks
                    dropped_mean = row_dropped / row_ticks
                    used_mean = row_used / row_ticks
                    requested_mean = row_requested / row_ticks
                    memory_mean = row_mem / row_ticks * 2**20
                else:
                    arrived_mean = served_mean = dropped_mean = 0.0
                    used_mean = requested_mean = memory_mean = 0.0
                missed = row_w > 0.0 and row_late > 0.05 * row_w
                answered = served_mean + dropped_mean
                error = dropped_mean / answered if answered > 0 else 0.0
                bad = missed or (max_error == max_error and error > max_error)
                at_max = desired >= max_r
                out[M_ROWS_S] += dt
                if bad:
                    out[M_SLO_BAD_S] += dt
                if at_max:
                    out[M_AT_MAX_S] += dt
                    if missed or dropped_mean > 0:
                        out[M_AT_MAX_MISSED_ROWS] += 1
                out[M_READY_MAX] = max(out[M_READY_MAX], serving)
                out[M_DESIRED_MAX] = max(out[M_DESIRED_MAX], desired)
                out[M_ARRIVED] += arrived_mean * dt
                out[M_SERVED] += served_mean * dt
                out[M_DROPPED] += dropped_mean * dt
                out[M_USED_CORE_S] += used_mean * dt
                out[M_REQUESTED_CORE_S] += requested_mean * dt
                out[M_HELD_CORE_S] += max(requested_mean, used_mean) * dt
                out[M_MEMORY_BYTE_S] += memory_mean * dt
                out[M_LATE] += row_late
                if max_util == max_util:
                    share = 100 * used_mean / requested_mean if requested_mean > 0 else 0.0
                    if share > max_util:
                        out[M_OVER_UTIL_S] += dt
                row_ticks = 0
                row_arrived = row_served = row_dropped = 0.0
                row_used = row_mem = row_requested = 0.0
                row_w = row_late = 0.0
                continue
            if flags & SCRAPE:
                # --- metrics-server scrape (engine.kubernetes.metrics.ResourceMetrics.scrape) ---
                tick_start = 0.0 if next_tick == 0 else (next_tick - 1) * tick_s
                at_now = integral + cpu_rate * (now - tick_start)
                if has_scrape and now > last_scrape:
                    cores = (at_now - scrape_integral) / (now - last_scrape)
                else:
                    cores = cpu_rate
                sample_m = int(np.rint(cores * 1000.0))
                scrape_integral = at_now
                last_scrape = now
                has_scrape = True
            if flags & SYNC == 0:
                continue
            # --- HPA sync: classify pods (engine.kubernetes.metrics.ResourceMetrics.count_pods) ---
            current = desired
            ready = settled
            unready = missing = 0
            for k in range(head, tail):
                n = c_count[k & cohort_mask]
                created = c_time[k & cohort_mask]
                if k >= run_ptr:
                    unready += n
                    continue
                running_s = created + start_delay
                if not has_scrape or running_s + window_s > last_scrape + SAME_INSTANT_S:
                    missing += n
                    continue
                is_ready = k < ready_ptr
                if is_ready and created + init_s <= now + SAME_INSTANT_S:
                    ready += n
                    if k == head:  # settled for good
                        settled += n
                        head += 1
                    continue
                transition = running_s + ready_delay if is_ready else created
                if _cpu_unready(
                    is_ready,
                    created,
                    transition,
                    last_scrape,
                    window_s,
                    now,
                    init_s,
                    ird_s,
                    SAME_INSTANT_S,
                ):
                    unready += n
                else:
                    ready += n
            # --- reconcile (capsim.hpa.reconcile) ---
            if not seeded:
                seeded = True
                mx_tail = _push_max(mx_t, mx_v, mx_head, mx_tail, rec_mask, now, current)
                mn_tail = _push_min(mn_t, mn_v, mn_head, mn_tail, rec_mask, now, current)
            new = current
            if current == 0 and min_r != 0:
                new = current
            elif current > max_r or current < min_r:
                new = max_r if current > max_r else min_r
                if not legacy:
                    if new > current:
                        up_n = _store_event(up_t, up_c, up_n, new - current, now, up_longest)
                    else:
                        down_n = _store_event(
                            down_t, down_c, down_n, current - new, now, down_longest
                        )
            else:
                proposal = _replicas(
                    current,
                    ready,
                    unready,
                    missing,
                    ready * sample_m,
                    request,
                    target,
                    utilization,
                    tol_up,
                    tol_down,
                )
                if proposal >= 0:
                    if legacy:
                        cutoff = now - down_window
                        while mx_head < mx_tail and mx_t[mx_head & rec_mask] < cutoff:
                            mx_head += 1
                        stabilized = proposal
                        if mx_head < mx_tail:
                            stabilized = max(stabilized, mx_v[mx_head & rec_mask])
                        mx_tail = _push_max(mx_t, mx_v, mx_head, mx_tail, rec_mask, now, proposal)
                        cap = int(max(2.0 * float(current), 4.0))
                        upper = cap if max_r > cap else max_r
                        if stabilized < min_r:
                            new = min_r
                        elif stabilized > upper:
                            new = upper
                        else:
                            new = stabilized
                    else:
                        up_cut = now - up_window
                        down_cut = now - down_window
                        while mn_head < mn_tail and not mn_t[mn_head & rec_mask] > up_cut:
                            mn_head += 1
                        while mx_head < mx_tail and not mx_t[mx_head & rec_mask] > down_cut:
                            mx_head += 1
                        up_rec = proposal
                        if mn_head < mn_tail:
                            up_rec = min(up_rec, mn_v[mn_head & rec_mask])
                        down_rec = proposal
                        if mx_head < mx_tail:
                            down_rec = max(down_rec, mx_v[mx_head & rec_mask])
                        stabilized = min(max(current, up_rec), down_rec)
                        mx_tail = _push_max(mx_t, mx_v, mx_head, mx_tail, rec_mask, now, proposal)
                        mn_tail = _push_min(mn_t, mn_v, mn_head, mn_tail, rec_mask, now, proposal)
                        new = stabilized
                        if stabilized > current:
                            limit = _limit(
                                current, True, up_sel, up_pol,
                                up_t, up_c, up_n, down_t, down_c, down_n, now,
                            )  # fmt: skip
                            allowed = max(limit, current)
                            if max_r <= allowed:
                                allowed = max_r
                            new = min(stabilized, allowed)
                        elif stabilized < current:
                            limit = _limit(
                                current, False, down_sel, down_pol,
                                up_t, up_c, up_n, down_t, down_c, down_n, now,
                            )  # fmt: skip
                            allowed = min(limit, current)
                            if min_r >= allowed:
                                allowed = min_r
                            new = max(stabilized, allowed)
                        if new > current:
                            up_n = _store_event(up_t, up_c, up_n, new - current, now, up_longest)
                        elif new < current:
                            down_n = _store_event(
                                down_t, down_c, down_n, current - new, now, down_longest
                            )
            # --- apply (engine.kubernetes.hpa_controller, cluster.Cluster.scale_to) ---
            if new != current:
                out[M_SCALE_EVENTS] += 1
                direction = 1 if new > current else -1
                if last_direction != 0 and direction != last_direction:
                    out[M_REVERSALS] += 1
                last_direction = direction
                desired = new
                if new > total_pods:
                    if tail - head >= cohort_cap:
                        raise ValueError("fast path: more pod cohorts than the kernel holds")
                    c_time[tail & cohort_mask] = now
                    c_count[tail & cohort_mask] = new - total_pods
                    tail += 1
                    total_pods = new
                else:
                    remove = total_pods - new
                    total_pods = new
                    while remove > 0 and tail > head:
                        k = tail - 1
                        take = min(remove, c_count[k & cohort_mask])
                        c_count[k & cohort_mask] -= take
                        remove -= take
                        if k < ready_ptr:
                            serving -= take
                        if c_count[k & cohort_mask] == 0:
                            tail -= 1
                    run_ptr = min(run_ptr, tail)
                    ready_ptr = min(ready_ptr, tail)
                    if remove > 0:
                        settled -= remove
                        serving -= remove
            if keep_trajectory:
                trajectory[c, sync_index] = desired
            sync_index += 1
    if win_ticks > 0:  # the last window, shorter
        _close_window(out, win_w, win_late)


@njit(parallel=True, cache=True)
def evaluate_configs(
    inst_time,
    inst_flags,
    rates,
    tick_s,
    duration_s,
    service,
    ring_slots,
    laws_by_n,
    pod_times,
    config_int,
    config_float,
    up_policies,
    down_policies,
    slo,
    caps,
    metrics,
    trajectory,
    laws,
) -> None:
    """:func:`simulate_config` for every configuration (rows of ``config_*``), in
    parallel threads; each fills only its own rows of the outputs."""
    for c in prange(config_int.shape[0]):
        simulate_config(
            c,
            inst_time,
            inst_flags,
            rates,
            tick_s,
            duration_s,
            service,
            ring_slots,
            laws_by_n,
            pod_times,
            config_int,
            config_float,
            up_policies,
            down_policies,
            slo,
            caps,
            metrics,
            trajectory,
            laws,
        )
