"""The plain-Python count calculator equals the batch form, row for row."""

from __future__ import annotations

from random import Random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from capsim import hpa

ROWS = st.tuples(
    st.integers(0, 60),  # current
    st.integers(0, 30),  # ready
    st.integers(0, 10),  # unready
    st.integers(0, 10),  # missing
    st.integers(0, 4000),  # usage per ready pod (milli)
    st.integers(0, 2000),  # request per pod (milli)
    st.integers(1, 300),  # target
    st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    st.sampled_from([0.0, 0.1, 0.3]),
)


@settings(max_examples=400)
@given(st.lists(ROWS, min_size=1, max_size=20), st.booleans())
def test_counts_equal_batch(rows: list[tuple[int, ...]], utilization: bool) -> None:
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    current, ready, unready, missing, per_pod, request, target, up, down = columns
    usage = ready * per_pod
    key = "target_utilization" if utilization else "target_average_value_milli"
    batch = hpa.resource_replicas_batch(
        current,
        ready,
        unready,
        missing,
        usage,
        request,
        tolerance_up=up,
        tolerance_down=down,
        **{key: target},
    )
    for i, row in enumerate(rows):
        got = hpa.resource_replicas_counts(
            int(current[i]),
            int(ready[i]),
            int(unready[i]),
            int(missing[i]),
            int(usage[i]),
            int(request[i]),
            tolerance_up=float(up[i]),
            tolerance_down=float(down[i]),
            **{key: int(target[i])},
        )
        assert got == (int(batch.replicas[i]), bool(batch.ok[i])), row


@settings(max_examples=200, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=20), st.booleans(), st.randoms(use_true_random=False))
def test_compiled_metric_rows_equal_batch(
    rows: list[tuple[int, ...]], utilization: bool, random: Random
) -> None:
    """``batch_rows.propose_rows`` (compiled with Numba, the engine's HPA sync): each
    metric row's pods (counted by the caller, or the workload's settled pods), its
    sample (CPU, memory or a Pods metric of its service) and its proposal equal the
    batch form's for the same numbers; a failed metric is ``FAILED``."""
    from capsim.engine.kubernetes.hpa_controller import compiled_hpa_rows
    from capsim.hpa import batch_rows

    propose_rows = compiled_hpa_rows()["propose_rows"]
    n = len(rows)
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    current, ready, unready, missing, per_pod, request, target, up, down = columns
    # row i is HPA i's only metric, of service n - 1 - i and workload i; it measures
    # CPU, memory or one of two Pods metrics; the caller counted some rows' pods
    kinds = np.array([random.randrange(4) for _ in range(n)], dtype=np.int64)
    counted = np.array([random.random() < 0.5 for _ in range(n)], dtype=np.int64)
    services = np.arange(n)[::-1]
    cpu, memory = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    pods = np.zeros((n, 2), dtype=np.int64)
    for i in range(n):
        column = [cpu, memory, pods[:, 0], pods[:, 1]][kinds[i]]
        column[services[i]] = per_pod[i]
    settled = np.where(counted == 1, 10**6, ready)  # (a counted row must not read it)
    if not counted.all():  # a settled row has only ready pods
        unready, missing = np.where(counted == 1, unready, 0), np.where(counted == 1, missing, 0)
    metric_rows = np.zeros((n, batch_rows.METRIC_ROW_FIELDS), dtype=np.int64)
    metric_rows[:, batch_rows.M_HPA] = np.arange(n)
    metric_rows[:, batch_rows.M_WORKLOAD] = np.arange(n)
    metric_rows[:, batch_rows.M_SERVICE] = services
    metric_rows[:, batch_rows.M_KIND] = kinds
    metric_rows[:, batch_rows.M_REQUEST] = request
    metric_rows[:, batch_rows.M_TARGET] = target
    metric_rows[:, batch_rows.M_UTILIZATION] = int(utilization)
    counts = np.column_stack([ready, unready, missing]).astype(np.int64)
    proposals = np.full((n, 1), batch_rows.NO_METRIC, dtype=np.int64)
    seen = np.zeros((n, batch_rows.SEEN_FIELDS), dtype=np.int64)
    was_counted = counted.copy()
    propose_rows(
        current.astype(np.int64), metric_rows, np.column_stack([up, down]).astype(float),
        settled.astype(np.int64), counts, counted, cpu, memory, pods, proposals, seen,
    )  # fmt: skip
    key = "target_utilization" if utilization else "target_average_value_milli"
    batch = hpa.resource_replicas_batch(
        current, ready, unready, missing, ready * per_pod, request,
        tolerance_up=up, tolerance_down=down, **{key: target},
    )  # fmt: skip
    want = np.where(batch.ok, batch.replicas, batch_rows.FAILED)
    assert proposals[:, 0].tolist() == want.tolist()
    assert seen[:, :4].tolist() == np.column_stack([ready, unready, missing, per_pod]).tolist()
    assert not counted.any(), "the counted flags are cleared for the next sync"
    assert was_counted.sum() == int((settled == 10**6).sum())
