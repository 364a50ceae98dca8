"""The engine's compiled folds (``capsim.engine.folding``) give the very floats of the
NumPy expressions they replaced (kept here as the reference), for random blocks of any
length and any number of services, ready replicas (including none) and NaN-free loads;
and a run's outputs do not depend on how its ticks are blocked (``tests/golden`` holds
the bundled scenarios' bytes)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from capsim.engine.folding import LAW_FIELDS, SUM_FIELDS, compiled_folds
from capsim.engine.services import O_FAILED_FINALLY, O_RETRIED, RETRY_FIELDS
from capsim.models import service as sv

FloatArray = npt.NDArray[np.float64]


def reference_sums(
    out: FloatArray,
    ready: npt.NDArray[np.int64],
    requested: FloatArray,
    capacity: FloatArray,
    slots: FloatArray,
    dt: float,
    acc: FloatArray,
) -> FloatArray:
    """The recorder's NumPy accumulation before issue 16 (recorder.ticks)."""
    count = out.shape[0]
    pods = np.maximum(ready, 1).astype(np.float64)
    has = ready > 0
    sums = out.sum(axis=0)
    acc[1] += sums[:, sv.O_SERVED] / dt
    acc[2] += (sums[:, sv.O_DROPPED] + sums[:, sv.O_ABANDONED]) / dt
    acc[3] += sums[:, sv.O_ABANDONED] / dt
    acc[4] += sums[:, sv.O_IN_FLIGHT]
    acc[5] += sums[:, sv.O_QUEUED]
    acc[6] += np.where(has, sums[:, sv.O_IN_FLIGHT] / pods, 0.0)
    acc[7] += np.where(has, sums[:, sv.O_QUEUED] / pods, 0.0)
    acc[8] += np.where(has, sums[:, sv.O_SERVED] / dt / pods, 0.0)
    acc[10] += sums[:, O_RETRIED] / dt
    acc[11] += sums[:, O_FAILED_FINALLY] / dt
    busy_slots = np.minimum(out[:, :, sv.O_IN_FLIGHT] / pods, slots).sum(axis=0)
    acc[9] += np.where(has, 100.0 * busy_slots / slots, 0.0)
    acc[12] += sums[:, sv.O_CPU] * ready
    acc[13] += sums[:, sv.O_MEMORY] * ready
    acc[14] += requested * count
    acc[15] += capacity * count
    return acc


@st.composite
def blocks(draw: st.DrawFn) -> tuple[FloatArray, npt.NDArray[np.int64], int]:
    services = draw(st.integers(1, 4))
    ticks = draw(st.sampled_from([1, 2, 3, 7, 8, 9, 13, 40]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = rng.random((ticks, services, sv.OUT_FIELDS + RETRY_FIELDS)) * rng.choice(
        [0.01, 1.0, 37.0, 1e4], size=(ticks, services, 1)
    )
    ready = rng.integers(0, 6, size=services)
    return out, ready, seed


@settings(max_examples=300, deadline=None)
@given(block=blocks(), repeats=st.integers(1, 3))
def test_fold_sums_are_the_numpy_floats(
    block: tuple[FloatArray, npt.NDArray[np.int64], int], repeats: int
) -> None:
    out, ready, seed = block
    ticks, services = out.shape[:2]
    rng = np.random.default_rng(seed + 1)
    requested = np.asarray(rng.random(services) * 4, dtype=np.float64)
    capacity = np.asarray(rng.random(services) * 8, dtype=np.float64)
    slots = np.asarray(rng.integers(1, 9, size=services), dtype=np.float64)
    fold_sums = compiled_folds()[1]
    acc = np.zeros((SUM_FIELDS, services))
    ends = np.zeros((2, services))
    laws = np.zeros((len(LAW_FIELDS), ticks * repeats, services))
    want = np.zeros((SUM_FIELDS, services))
    for r in range(repeats):  # blocks add up in the interval's sums
        numpy_order = services == 1 and ticks >= 8  # the recorder's rule
        given = np.minimum(out[:, :, sv.O_IN_FLIGHT] / np.maximum(ready, 1), slots).sum(axis=0)
        busy = given if numpy_order else np.zeros(services)
        fold_sums(
            r * ticks, out, ready, requested, capacity, busy, numpy_order, slots, 60.0, acc,
            ends, laws,
        )  # fmt: skip
        reference_sums(out, ready, requested, capacity, slots, 60.0, want)
    assert np.array_equal(acc[1:16], want[1:16])  # bit for bit (row 0 is arrivals)
    assert np.array_equal(ends, out[-1, :, [sv.O_QUEUED, sv.O_IN_SYSTEM]])
    for k, field in enumerate(LAW_FIELDS):
        assert np.array_equal(laws[k, -ticks:], out[:, :, field])


@settings(max_examples=200, deadline=None)
@given(block=blocks())
def test_fold_integrals_are_the_numpy_floats(
    block: tuple[FloatArray, npt.NDArray[np.int64], int],
) -> None:
    out, ready, seed = block
    services = out.shape[1]
    rng = np.random.default_rng(seed + 2)
    cpu_integral = np.asarray(rng.random(services) * 1e5, dtype=np.float64)
    cpu_rate = np.asarray(rng.random(services), dtype=np.float64)
    # per ready pod: in flight, served/s; then service-wide: waiting, in flight, served/s
    # and arriving/s (the Object and External metrics)
    pods_integral, pods_rate = rng.random((services, 6)) * 1e5, rng.random((services, 6))
    arrivals = rng.random((out.shape[0], services)) * 100
    dt = 60.0
    # the engine's NumPy fold before issue 16 (PlatformSim._step_block)
    cpu = out[:, :, sv.O_CPU]
    steps = np.concatenate([(cpu_integral + cpu_rate * dt)[None, :], cpu[:-1] * dt])
    want_cpu = np.add.accumulate(steps, axis=0)[-1]
    pods = np.maximum(ready, 1).astype(np.float64)
    per_pod = np.stack(
        [
            np.where(ready > 0, out[:, :, sv.O_IN_FLIGHT] / pods, 0.0),
            np.where(ready > 0, out[:, :, sv.O_SERVED] / dt / pods, 0.0),
            out[:, :, sv.O_QUEUED],
            out[:, :, sv.O_IN_FLIGHT],
            out[:, :, sv.O_SERVED] / dt,
            arrivals,
        ],
        axis=2,
    )
    start = pods_integral + pods_rate * dt
    want_pods = np.add.accumulate(np.concatenate([start[None], per_pod[:-1] * dt]), axis=0)[-1]
    memory = np.zeros(services)
    compiled_folds()[0](
        out, ready, dt, cpu_integral, cpu_rate, memory, pods_integral, pods_rate, arrivals
    )
    assert np.array_equal(cpu_integral, want_cpu)
    assert np.array_equal(cpu_rate, cpu[-1])
    assert np.array_equal(memory, out[-1, :, sv.O_MEMORY])
    assert np.array_equal(pods_integral, want_pods)
    assert np.array_equal(pods_rate, per_pod[-1])


@settings(max_examples=100, deadline=None)
@given(
    workloads=st.integers(1, 5),
    ticks=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_close_row_is_the_numpy_row(workloads: int, ticks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    services = np.sort(rng.choice(workloads, size=rng.integers(0, workloads + 1), replace=False))
    services = services.astype(np.intp)
    acc = rng.random((SUM_FIELDS, services.size)) * 1e3
    ends = rng.random((2, services.size))
    means = rng.random((SUM_FIELDS, 3, workloads))  # what the batch means left there
    backlog, in_system = np.zeros((3, workloads)), np.zeros((3, workloads))
    want_means, want_backlog, want_in_system = means.copy(), backlog.copy(), in_system.copy()
    # the recorder's NumPy row before issue 16
    row = want_means[:, 1]
    if ticks:
        row[:, services] = acc / ticks
        want_backlog[1, services] = ends[0]
    want_in_system[1, services] = ends[1]
    row[13] *= 2**20
    compiled_folds()[3](1, ticks, acc, ends, services, means, backlog, in_system)
    assert np.array_equal(means, want_means)
    assert np.array_equal(backlog, want_backlog)
    assert np.array_equal(in_system, want_in_system)
    assert not acc.any()
