"""The plain-Python count calculator equals the batch form, row for row."""

from __future__ import annotations

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
