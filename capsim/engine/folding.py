"""The engine's per-block and per-scrape arithmetic, as compiled loops.

After each block of ticks (:meth:`capsim.engine.platform.PlatformSim._step_block`) the
engine folds the model's output ``out`` (ticks × services × fields) into

* the platform's running integrals, which metric scrapes difference over their window
  (CPU per replica; requests in flight and served per ready pod), and
* the recorder's per-interval sums and its per-tick latency laws;

and each metrics scrape reads windowed means off those integrals.

These were a few dozen NumPy calls on arrays of a handful of elements per block, which
cost more than the model step itself for a small platform (issue 16). Here they are plain loops,
compiled with Numba where it is installed (:mod:`capsim.jit`). Every float is computed
in the order the NumPy expressions computed it (sums over ticks run in tick order, a
block's sum is added to the interval's sum, ``x / dt / pods`` divides twice), so the
results are the same bits (``tests/golden``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.engine import services
from capsim.engine.services import O_FAILED_FINALLY, O_RETRIED
from capsim.jit import compile_family, forget_stale_cache
from capsim.models import service as sv

__all__ = [
    "LAW_FIELDS",
    "SUM_FIELDS",
    "close_row",
    "compiled_folds",
    "fold_integrals",
    "fold_sums",
    "scrape_samples",
]

FloatArray = npt.NDArray[np.float64]

LAW_FIELDS = (
    sv.O_SERVED,
    sv.O_FIXED,
    sv.O_WAIT_P,
    sv.O_WAIT_RATE,
    sv.O_MU,
    sv.O_WAIT_LIMIT,
    sv.O_SHARE2,
    sv.O_MU2,
)
"""The per-tick latency law the recorder keeps for the run's percentiles, in its order:
requests served, then the law's parameters (capsim.models.service's ``O_*`` fields)."""

SUM_FIELDS = 17
"""Rows of the recorder's interval sums (``capsim.engine.recorder._SUMS``)."""

# the fields read below, as plain ints (Numba freezes module constants when it compiles;
# forget_stale_cache() drops the cache when capsim.models.service changes)
_SERVED = sv.O_SERVED
_DROPPED = sv.O_DROPPED
_ABANDONED = sv.O_ABANDONED
_CPU = sv.O_CPU
_MEMORY = sv.O_MEMORY
_IN_FLIGHT = sv.O_IN_FLIGHT
_QUEUED = sv.O_QUEUED
_IN_SYSTEM = sv.O_IN_SYSTEM
_RETRIED = O_RETRIED
_FAILED = O_FAILED_FINALLY
_LAWS = np.array(LAW_FIELDS, dtype=np.int64)


def fold_integrals(
    out: FloatArray,
    ready: npt.NDArray[np.int64],
    dt_s: float,
    cpu_integral: FloatArray,
    cpu_rate: FloatArray,
    memory_mib: FloatArray,
    pods_integral: FloatArray,
    pods_rate: FloatArray,
    arrivals: FloatArray,
) -> None:
    """Advance the platform's integrals over the block ``out`` (in place).

    On entry ``cpu_integral`` holds core-seconds per replica up to the start of the tick
    before the block and ``cpu_rate`` that tick's cores per replica; on return they hold
    the same for the block's last tick: ``I(k + 1) = I(k) + cpu(k) × dt`` folded tick by
    tick, so the floats do not depend on how ticks are blocked. ``pods_integral`` and
    ``pods_rate`` (services × 2) do the same for requests in flight per ready pod and
    requests/s served per ready pod (0 without a ready pod) and, when they have more
    columns, the service-wide values of
    :data:`~capsim.scenario.manifests.SIMULATED_SERVICE_METRICS` in order: requests waiting,
    requests in the service, requests/s served and requests/s arriving (``arrivals``,
    ticks of the block × services). ``memory_mib`` takes the last tick's MiB per replica.
    """
    count = out.shape[0]
    for s in range(out.shape[1]):
        r = ready[s]
        pods = float(max(r, 1))
        x = cpu_integral[s] + cpu_rate[s] * dt_s
        for t in range(count - 1):
            x = x + out[t, s, _CPU] * dt_s
        cpu_integral[s] = x
        cpu_rate[s] = out[count - 1, s, _CPU]
        memory_mib[s] = out[count - 1, s, _MEMORY]
        flight = pods_integral[s, 0] + pods_rate[s, 0] * dt_s
        served = pods_integral[s, 1] + pods_rate[s, 1] * dt_s
        last_flight = last_served = 0.0
        for t in range(count):
            if r > 0:
                last_flight = out[t, s, _IN_FLIGHT] / pods
                last_served = out[t, s, _SERVED] / dt_s / pods
            if t < count - 1:
                flight = flight + last_flight * dt_s
                served = served + last_served * dt_s
        pods_integral[s, 0] = flight
        pods_integral[s, 1] = served
        pods_rate[s, 0] = last_flight
        pods_rate[s, 1] = last_served
        if pods_integral.shape[1] > 2:
            for m in range(4):
                x = pods_integral[s, 2 + m] + pods_rate[s, 2 + m] * dt_s
                value = 0.0
                for t in range(count):
                    if m == 0:
                        value = out[t, s, _QUEUED]
                    elif m == 1:
                        value = out[t, s, _IN_FLIGHT]
                    elif m == 2:
                        value = out[t, s, _SERVED] / dt_s
                    else:
                        value = arrivals[t, s]
                    if t < count - 1:
                        x = x + value * dt_s
                pods_integral[s, 2 + m] = x
                pods_rate[s, 2 + m] = value


def fold_sums(
    first: int,
    out: FloatArray,
    ready: npt.NDArray[np.int64],
    requested_cores: FloatArray,
    capacity_cores: FloatArray,
    busy_slots: FloatArray,
    busy_given: bool,
    slots: FloatArray,
    dt_s: float,
    acc: FloatArray,
    ends: FloatArray,
    laws: FloatArray,
) -> None:
    """Add the block ``out`` (ticks ``first, first + 1, …``) to the recorder (in place).

    ``acc`` (:data:`SUM_FIELDS` × services) gains the block's sums in the recorder's row
    order (rates in requests/s, per-pod values only with a ready pod, CPU and memory
    over the ready replicas, requested and capacity cores held over the block); the
    block's sum of busy slots per ready pod is summed here in tick order, or taken from
    ``busy_slots`` when ``busy_given`` (NumPy's sum over ticks of one service is pairwise
    from 8 ticks on, an order this loop does not repeat: the recorder sums those); ``ends``
    (2 × services) takes the queue and the requests in the system at the block's end;
    ``laws`` (:data:`LAW_FIELDS` × ticks × services) takes each tick's latency law.
    """
    count = out.shape[0]
    for s in range(out.shape[1]):
        r = ready[s]
        pods = float(max(r, 1))
        served = out[0, s, _SERVED]
        dropped = out[0, s, _DROPPED]
        abandoned = out[0, s, _ABANDONED]
        flight = out[0, s, _IN_FLIGHT]
        queued = out[0, s, _QUEUED]
        retried = out[0, s, _RETRIED]
        failed = out[0, s, _FAILED]
        cpu = out[0, s, _CPU]
        memory = out[0, s, _MEMORY]
        busy = busy_slots[s] if busy_given else _busy(flight / pods, slots[s])
        for t in range(1, count):
            served = served + out[t, s, _SERVED]
            dropped = dropped + out[t, s, _DROPPED]
            abandoned = abandoned + out[t, s, _ABANDONED]
            flight = flight + out[t, s, _IN_FLIGHT]
            queued = queued + out[t, s, _QUEUED]
            retried = retried + out[t, s, _RETRIED]
            failed = failed + out[t, s, _FAILED]
            cpu = cpu + out[t, s, _CPU]
            memory = memory + out[t, s, _MEMORY]
            if not busy_given:
                busy = busy + _busy(out[t, s, _IN_FLIGHT] / pods, slots[s])
        acc[1, s] += served / dt_s
        acc[2, s] += (dropped + abandoned) / dt_s
        acc[3, s] += abandoned / dt_s
        acc[4, s] += flight
        acc[5, s] += queued
        acc[6, s] += flight / pods if r > 0 else 0.0
        acc[7, s] += queued / pods if r > 0 else 0.0
        acc[8, s] += served / dt_s / pods if r > 0 else 0.0
        acc[9, s] += 100.0 * busy / slots[s] if r > 0 else 0.0
        acc[10, s] += retried / dt_s
        acc[11, s] += failed / dt_s
        acc[12, s] += cpu * r
        acc[13, s] += memory * r
        acc[14, s] += requested_cores[s] * count
        acc[15, s] += capacity_cores[s] * count
        ends[0, s] = out[count - 1, s, _QUEUED]
        ends[1, s] = out[count - 1, s, _IN_SYSTEM]
        for k in range(_LAWS.shape[0]):
            field = _LAWS[k]
            for t in range(count):
                laws[k, first + t, s] = out[t, s, field]


def scrape_samples(
    elapsed_s: float,
    span_s: float,
    back_s: float,
    window_s: float,
    slot: int,
    start_slot: int,
    first: bool,
    cpu_integral: FloatArray,
    cpu_rate: FloatArray,
    memory_mib: FloatArray,
    pods_integral: FloatArray,
    pods_rate: FloatArray,
    last_cpu: FloatArray,
    pods_ring: FloatArray,
    first_pods: FloatArray,
    cpu_milli: npt.NDArray[np.int64],
    memory_milli: npt.NDArray[np.int64],
    pods_milli: npt.NDArray[np.int64],
) -> None:
    """One metrics scrape of every service, ``elapsed_s`` into the current tick.

    CPU: the mean cores per replica since the last scrape (``span_s`` ago; the current
    rate when ``span_s`` is 0), from the integral ``cpu_integral + cpu_rate × elapsed_s``;
    ``last_cpu`` takes that integral. Memory: the current MiB per replica. Both in
    milli-units per pod (milli-cores, milli-bytes), rounded half to even.

    Pods metrics: the integrals now go to ``pods_ring[slot]``; the mean over the window
    (``window_s``) is their difference from ``pods_ring[start_slot]`` (the scrape one
    window ago), or, before there is one (``start_slot`` < 0), from the first scrape's
    integrals extrapolated back at its rates, ``first_pods[0] + first_pods[1] × back_s``
    (``back_s`` = now − window − the first scrape's time). At the ``first`` scrape
    ``first_pods`` takes the integrals and rates first.
    """
    for s in range(cpu_integral.shape[0]):
        x = cpu_integral[s] + cpu_rate[s] * elapsed_s
        cores = (x - last_cpu[s]) / span_s if span_s > 0.0 else cpu_rate[s]
        cpu_milli[s] = np.int64(np.rint(cores * 1000.0))
        memory_milli[s] = np.int64(np.rint(memory_mib[s] * 1048576.0 * 1000.0))
        last_cpu[s] = x
        for m in range(pods_integral.shape[1]):
            now_integral = pods_integral[s, m] + pods_rate[s, m] * elapsed_s
            pods_ring[slot, s, m] = now_integral
            if first:
                first_pods[0, s, m] = now_integral
                first_pods[1, s, m] = pods_rate[s, m]
            if start_slot >= 0:
                start = pods_ring[start_slot, s, m]
            else:
                start = first_pods[0, s, m] + first_pods[1, s, m] * back_s
            pods_milli[s, m] = np.int64(np.rint((now_integral - start) / window_s * 1000.0))


def close_row(
    row: int,
    ticks: int,
    acc: FloatArray,
    ends: FloatArray,
    services: npt.NDArray[np.intp],
    means: FloatArray,
    backlog: FloatArray,
    in_system: FloatArray,
) -> None:
    """Write record row ``row`` (in place) from the interval's sums ``acc`` over
    ``ticks`` ticks and the last tick's ``ends`` (queued, in system) of the services,
    which sit at columns ``services`` among the workloads; memory (``_SUMS`` row 13) goes
    from MiB to bytes for every workload; ``acc`` is zeroed for the next interval.
    Means are ``acc / ticks`` (nothing without ticks: the row keeps what is there)."""
    for k in range(services.shape[0]):
        w = services[k]
        if ticks:
            for f in range(acc.shape[0]):
                means[f, row, w] = acc[f, k] / ticks
            backlog[row, w] = ends[0, k]
        in_system[row, w] = ends[1, k]
    for w in range(means.shape[2]):
        means[13, row, w] *= 1048576.0
    acc[:] = 0.0


def _busy(per_pod: float, slots: float) -> float:
    """``numpy.minimum(per_pod, slots)`` (NaN stays NaN)."""
    return per_pod if not per_pod > slots else slots


@functools.cache
def compiled_folds() -> tuple[Any, Any, Any, Any]:
    """(:func:`fold_integrals`, :func:`fold_sums`, :func:`scrape_samples`,
    :func:`close_row`), compiled on first use."""
    forget_stale_cache(__file__, sv.__file__, services.__file__)
    names = ["_busy", "fold_integrals", "fold_sums", "scrape_samples", "close_row"]
    family = compile_family(globals(), names, inline=["_busy"])
    return (
        family["fold_integrals"],
        family["fold_sums"],
        family["scrape_samples"],
        family["close_row"],
    )
