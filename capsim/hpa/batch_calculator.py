"""One metric's replica proposal for many homogeneous deployments at once (NumPy).

The decisions are those of :func:`capsim.hpa.resource_replicas`, decision for decision
(a hypothesis test holds them equal), under one modelling assumption: a deployment is
**homogeneous**, so every pod has the same request and the calculator only needs counts
(ready pods with samples, unready pods, pods missing samples) and the summed usage of
the ready pods. Row ``i`` is one deployment (a configuration in a sweep, or a service in
the engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.hpa._arrays import BoolArray, FloatArray, IntArray
from capsim.hpa._arrays import as_float as _as_float
from capsim.hpa._arrays import as_int as _as_int

__all__ = [
    "BatchReplicas",
    "replicas_from_counts",
    "resource_replicas_batch",
    "resource_replicas_counts",
]


@dataclass(frozen=True)
class BatchReplicas:
    """Per-row proposals of one metric: replicas, status utilization and average, and
    ``ok`` (False where the scalar calculator raises :class:`~capsim.hpa.MetricsError`)."""

    replicas: IntArray
    utilization: IntArray
    raw_average_milli: IntArray
    ratio: FloatArray
    ok: BoolArray


def resource_replicas_batch(
    current: npt.ArrayLike,
    ready: npt.ArrayLike,
    unready: npt.ArrayLike,
    missing: npt.ArrayLike,
    usage_milli: npt.ArrayLike,
    request_milli: npt.ArrayLike,
    *,
    target_utilization: npt.ArrayLike | None = None,
    target_average_value_milli: npt.ArrayLike | None = None,
    tolerance_up: npt.ArrayLike = 0.1,
    tolerance_down: npt.ArrayLike = 0.1,
) -> BatchReplicas:
    """``resource_replicas`` for homogeneous deployments.

    ``ready`` counts ready pods with samples, ``unready`` the unready ones (Pending,
    or CPU pods inside the start-up rules), ``missing`` running pods without samples;
    ``usage_milli`` is the summed usage of the ready pods and ``request_milli`` the
    request of one pod. Exactly one target (Utilization percent or AverageValue milli).
    Deleted/failed pods are left out by the caller (they do not change the maths of a
    homogeneous deployment). A custom ``Pods`` metric (``pods_metric_replicas``) is the
    AverageValue form with pods counted as for a non-CPU resource (only Pending pods
    are unready).
    """
    cur = np.asarray(current, dtype=np.int64)
    n = cur.shape[0]
    rdy, unr, mis = _as_int(ready, n), _as_int(unready, n), _as_int(missing, n)
    usage, request = _as_int(usage_milli, n), _as_int(request_milli, n)
    tol_up, tol_down = _as_float(tolerance_up, n), _as_float(tolerance_down, n)
    if (target_utilization is None) == (target_average_value_milli is None):
        raise ValueError("give exactly one of target_utilization and target_average_value_milli")
    utilization_target = target_utilization is not None
    chosen = target_utilization if target_utilization is not None else target_average_value_milli
    assert chosen is not None
    target = _as_int(chosen, n)
    pods_listed = rdy + unr + mis
    ok = (rdy > 0) & (pods_listed > 0)
    if utilization_target:
        ok &= request > 0
    safe_ready = np.maximum(rdy, 1)
    if utilization_target:
        utilization = (usage * 100) // np.maximum(safe_ready * request, 1)
        ratio = utilization.astype(np.float64) / target
    else:
        utilization = np.zeros(n, dtype=np.int64)
        ratio = (usage // safe_ready).astype(np.float64) / target
    raw_average = usage // safe_ready

    def within(r: FloatArray) -> BoolArray:
        return ((1.0 - tol_down) <= r) & (r <= (1.0 + tol_up))

    with_unready = (unr > 0) & (ratio > 1.0)
    fast = ~with_unready & (mis == 0)
    fast_replicas = np.where(within(ratio), cur, np.ceil(ratio * rdy).astype(np.int64))
    # Conservative path: fill missing pods (down: fallback, up: 0) and, on a scale-up
    # with unready pods, the unready pods with 0; recompute over the filled entries.
    fill_missing = ratio != 1.0
    per_missing = request * np.maximum(100, target) // 100 if utilization_target else target
    filled_usage = usage + np.where(ratio < 1.0, mis * per_missing, 0)
    entries = rdy + np.where(fill_missing, mis, 0) + np.where(with_unready, unr, 0)
    safe_entries = np.maximum(entries, 1)
    if utilization_target:
        new_util = (filled_usage * 100) // np.maximum(safe_entries * request, 1)
        new_ratio = new_util.astype(np.float64) / target
    else:
        new_ratio = (filled_usage // safe_entries).astype(np.float64) / target
    flip = ((ratio < 1.0) & (new_ratio > 1.0)) | ((ratio > 1.0) & (new_ratio < 1.0))
    new_replicas = np.ceil(new_ratio * entries).astype(np.int64)
    against = ((new_ratio < 1.0) & (new_replicas > cur)) | (
        (new_ratio > 1.0) & (new_replicas < cur)
    )
    slow_replicas = np.where(within(new_ratio) | flip | against, cur, new_replicas)
    replicas = np.where(fast, fast_replicas, slow_replicas)
    return BatchReplicas(
        replicas=np.where(ok, replicas, cur),
        utilization=utilization,
        raw_average_milli=raw_average,
        ratio=np.where(fast, ratio, new_ratio),
        ok=ok,
    )


def resource_replicas_counts(
    current: int,
    ready: int,
    unready: int,
    missing: int,
    usage_milli: int,
    request_milli: int,
    *,
    target_utilization: int | None = None,
    target_average_value_milli: int | None = None,
    tolerance_up: float = 0.1,
    tolerance_down: float = 0.1,
) -> tuple[int, bool]:
    """One row of :func:`resource_replicas_batch` in plain Python: ``(replicas, ok)``.

    The same decisions, with the same float64 operations in the same order, without
    NumPy's per-call overhead. It is for engines that sync a handful of HPAs; a hypothesis
    test holds it equal to the batch form. (The rules are :func:`replicas_from_counts`'s,
    which compiled callers use directly.)
    """
    if (target_utilization is None) == (target_average_value_milli is None):
        raise ValueError("give exactly one of target_utilization and target_average_value_milli")
    utilization_target = target_utilization is not None
    target = target_utilization if target_utilization is not None else target_average_value_milli
    assert target is not None
    replicas = replicas_from_counts(
        current, ready, unready, missing, usage_milli, request_milli, target,
        utilization_target, tolerance_up, tolerance_down,
    )  # fmt: skip
    return (current, False) if replicas < 0 else (replicas, True)


def replicas_from_counts(
    current: int,
    ready: int,
    unready: int,
    missing: int,
    usage_milli: int,
    request_milli: int,
    target: int,
    utilization_target: bool,
    tolerance_up: float,
    tolerance_down: float,
) -> int:
    """The rules of :func:`resource_replicas_counts` on plain numbers, in the subset of
    Python that Numba compiles (``target``: percent of the request if
    ``utilization_target``, else milli-units per pod). Returns the proposal, or −1 where
    the calculator has no usable metrics (no ready pod, or a utilization target without a
    request)."""
    if ready <= 0 or (utilization_target and request_milli <= 0):
        return -1
    low, high = 1.0 - tolerance_down, 1.0 + tolerance_up
    if utilization_target:
        ratio = ((usage_milli * 100) // (ready * request_milli)) / target
    else:
        ratio = (usage_milli // ready) / target
    if not (unready > 0 and ratio > 1.0) and missing == 0:
        return current if low <= ratio <= high else math.ceil(ratio * ready)
    with_unready = unready > 0 and ratio > 1.0
    per_missing = request_milli * max(100, target) // 100 if utilization_target else target
    filled = usage_milli + (missing * per_missing if ratio < 1.0 else 0)
    entries = ready + (missing if ratio != 1.0 else 0) + (unready if with_unready else 0)
    if utilization_target:
        new_ratio = ((filled * 100) // (entries * request_milli)) / target
    else:
        new_ratio = (filled // entries) / target
    if (low <= new_ratio <= high) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * entries)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas
