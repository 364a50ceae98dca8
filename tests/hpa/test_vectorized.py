"""The vectorized HPA maths equals the scalar one, decision for decision, on random inputs.

* ``resource_replicas_batch`` vs ``resource_replicas``: random homogeneous deployments (one
  request for every pod) built twice from the same draw, as ``PodInfo``/``MetricSample``
  lists for the scalar calculator and as counts for the batch: ready pods with samples
  (several CPU readiness rules that count as ready, incl. both equality edges), Pending
  pods (with or without a sample), running pods without a sample, CPU pods that are
  unready by the start-up rules, and deleted/failed pods (scalar only: the batch leaves
  them out). Utilization and AverageValue targets, random tolerances.
* ``reconcile_batch`` vs ``reconcile``: many rows at once, each with its own behavior (or
  the legacy path), bounds and initial size, over random multi-sync sequences with
  failing metrics, sizes outside ``[min, max]`` and 0, and irregular sync times.
* ``normalize_batch`` vs ``normalize_replicas``: the same without ``reconcile``'s guards,
  so the current size may be anything.

Plus hand-picked rows where float64 rounding of Percent policies matters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pytest
from hpa_strategies import LOPSIDED, MAYBE_BEHAVIORS
from hypothesis import event, given, settings
from hypothesis import strategies as st

from capsim import hpa

NOW = 100_000.0
T = TypeVar("T")

# --- a source of random choices: hypothesis draws (shrinkable) or random.Random (bulk) ------


class Pick:
    def __init__(self, integer: Callable[[int, int], int], real: Callable[[float, float], float]):
        self.integer = integer
        self.real = real

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) < percent

    @classmethod
    def from_draw(cls, draw: st.DrawFn) -> Pick:
        return cls(lambda lo, hi: draw(st.integers(lo, hi)), lambda lo, hi: draw(st.floats(lo, hi)))

    @classmethod
    def from_random(cls, rnd: random.Random) -> Pick:
        return cls(rnd.randint, rnd.uniform)


# --- calculator rows ------------------------------------------------------------------------

READY_KINDS = ("old", "fresh", "window-edge", "was-ready", "delay-edge")
UNREADY_KINDS = ("init-not-ready", "init-window", "no-condition", "no-start", "never-ready")


def ready_pod(name: str, kind: str, request: int) -> tuple[hpa.PodInfo, float]:
    """A Running pod that the CPU rules count as ready, and its sample's timestamp."""
    if kind == "old":  # long after the 300 s initialization period, Ready
        return hpa.PodInfo(name, start_time=NOW - 1000, request_milli=request), NOW - 5
    if kind == "fresh":  # inside it, Ready, a full 30 s window since the transition
        pod = hpa.PodInfo(
            name, start_time=NOW - 100, ready_transition_time=NOW - 90, request_milli=request
        )
        return pod, NOW - 5
    if kind == "window-edge":  # sample exactly transition + window: not "before", counts
        pod = hpa.PodInfo(
            name, start_time=NOW - 100, ready_transition_time=NOW - 60, request_milli=request
        )
        return pod, NOW - 30
    if kind == "was-ready":  # after it, not Ready now, but was Ready well after start
        pod = hpa.PodInfo(
            name,
            ready=False,
            start_time=NOW - 1000,
            ready_transition_time=NOW - 500,
            request_milli=request,
        )
        return pod, NOW - 5
    assert kind == "delay-edge"  # not Ready, transition exactly start + 30 s delay: counts
    pod = hpa.PodInfo(
        name,
        ready=False,
        start_time=NOW - 1000,
        ready_transition_time=NOW - 970,
        request_milli=request,
    )
    return pod, NOW - 5


def unready_pod(name: str, kind: str, request: int) -> tuple[hpa.PodInfo, float]:
    """A Running pod with a sample that the CPU rules drop as unready."""
    if kind == "init-not-ready":
        return hpa.PodInfo(name, ready=False, start_time=NOW - 100, request_milli=request), NOW - 5
    if kind == "init-window":  # Ready 20 s ago, window 30 s not yet full
        pod = hpa.PodInfo(
            name, start_time=NOW - 100, ready_transition_time=NOW - 20, request_milli=request
        )
        return pod, NOW - 5
    if kind == "no-condition":
        return hpa.PodInfo(name, ready=None, start_time=NOW - 1000, request_milli=request), NOW - 5
    if kind == "no-start":
        return hpa.PodInfo(name, start_time=None, request_milli=request), NOW - 5
    assert kind == "never-ready"  # not Ready, last transition within the delay of start
    pod = hpa.PodInfo(
        name,
        ready=False,
        start_time=NOW - 1000,
        ready_transition_time=NOW - 990,
        request_milli=request,
    )
    return pod, NOW - 5


@dataclass(frozen=True)
class Row:
    current: int
    request: int
    ready: tuple[tuple[str, int], ...]  # (kind, usage)
    unready: tuple[tuple[str, int], ...]  # (kind, dropped usage)
    pending: tuple[int | None, ...]  # dropped sample value, or no sample
    missing: tuple[bool | None, ...]  # Ready status of a running pod without sample
    ignored: tuple[tuple[str, int | None], ...]  # ("deleted" | "failed", sample or none)
    target_utilization: int
    target_average: int
    tol_up: float
    tol_down: float

    def scalar_inputs(self) -> tuple[list[hpa.PodInfo], dict[str, hpa.MetricSample]]:
        pods: list[hpa.PodInfo] = []
        metrics: dict[str, hpa.MetricSample] = {}

        def add(pod: hpa.PodInfo, value: int | None, stamp: float = NOW - 5) -> None:
            pods.append(pod)
            if value is not None:
                metrics[pod.name] = hpa.MetricSample(value, stamp, 30.0)

        for i, (kind, usage) in enumerate(self.ready):
            pod, stamp = ready_pod(f"ready-{i}", kind, self.request)
            add(pod, usage, stamp)
        for i, (kind, usage) in enumerate(self.unready):
            pod, stamp = unready_pod(f"unready-{i}", kind, self.request)
            add(pod, usage, stamp)
        for i, value in enumerate(self.pending):
            add(
                hpa.PodInfo(
                    f"pending-{i}",
                    phase="Pending",
                    ready=False,
                    start_time=NOW - 10,
                    request_milli=self.request,
                ),
                value,
            )
        for i, ready in enumerate(self.missing):
            add(
                hpa.PodInfo(
                    f"missing-{i}", ready=ready, start_time=NOW - 1000, request_milli=self.request
                ),
                None,
            )
        for i, (kind, value) in enumerate(self.ignored):
            if kind == "deleted":
                pod = hpa.PodInfo(
                    f"gone-{i}", deleted=True, start_time=NOW - 1000, request_milli=self.request
                )
            else:
                pod = hpa.PodInfo(
                    f"failed-{i}", phase="Failed", start_time=NOW - 1000, request_milli=self.request
                )
            add(pod, value)
        # the order of the pod list must not matter
        pods.reverse()
        return pods, metrics


LEVELS = (0.0, 0.5, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 2.0, 4.0)
TOLS = (0.0, 0.05, 0.1, 0.1, 0.2, 0.5)


def random_row(pick: Pick) -> Row:
    request = pick.choice((0, 1, 100, 250, 500, 1000, pick.integer(1, 4000)))
    target = pick.choice((50, 80, 100, 100, 150, pick.integer(1, 300)))
    level = pick.choice(LEVELS) if pick.chance(70) else pick.real(0.0, 5.0)
    base = int(request * target / 100 * level)
    n_ready = pick.choice((0, 1, 2, 3, 4, pick.integer(0, 10)))
    ready = tuple(
        (pick.choice(READY_KINDS), max(0, base + pick.choice((0, 0, pick.integer(-20, 20)))))
        for _ in range(n_ready)
    )
    unready = tuple(
        (pick.choice(UNREADY_KINDS), pick.integer(0, 9000))
        for _ in range(pick.choice((0, 0, 1, pick.integer(0, 4))))
    )
    pending = tuple(
        pick.choice((None, pick.integer(0, 9000)))
        for _ in range(pick.choice((0, 0, 1, pick.integer(0, 3))))
    )
    missing = tuple(
        pick.choice((True, False, None)) for _ in range(pick.choice((0, 0, 1, pick.integer(0, 4))))
    )
    ignored = tuple(
        (pick.choice(("deleted", "failed")), pick.choice((None, pick.integer(0, 9000))))
        for _ in range(pick.choice((0, 0, pick.integer(0, 2))))
    )
    average = sum(u for _, u in ready) // max(n_ready, 1)
    target_average = max(1, int(average / pick.choice(LEVELS[1:])) + pick.choice((0, 0, 1, -1)))
    if pick.chance(20):
        target_average = pick.integer(1, 5000)
    n_pods = n_ready + len(unready) + len(pending) + len(missing)
    current = pick.choice((n_pods, n_pods, max(n_pods - 1, 0), n_pods + 1, pick.integer(0, 30)))
    tol_up = pick.choice(TOLS) if pick.chance(80) else pick.real(0.0, 1.0)
    tol_down = pick.choice(TOLS) if pick.chance(80) else pick.real(0.0, 0.99)
    return Row(
        current,
        request,
        ready,
        unready,
        pending,
        missing,
        ignored,
        target,
        target_average,
        tol_up,
        tol_down,
    )


@st.composite
def row_lists(draw: st.DrawFn, max_rows: int) -> list[Row]:
    pick = Pick.from_draw(draw)
    return [random_row(pick) for _ in range(draw(st.integers(1, max_rows)))]


def check_calculator_rows(
    rows: Sequence[Row], note: Callable[[str], object] = lambda _: None
) -> None:
    ready = [len(r.ready) for r in rows]
    unready = [len(r.unready) + len(r.pending) for r in rows]
    missing = [len(r.missing) for r in rows]
    usage = [sum(u for _, u in r.ready) for r in rows]
    request = [r.request for r in rows]
    current = np.array([r.current for r in rows], dtype=np.int64)
    tol_up = [r.tol_up for r in rows]
    tol_down = [r.tol_down for r in rows]
    util = hpa.resource_replicas_batch(
        current,
        ready,
        unready,
        missing,
        usage,
        request,
        target_utilization=[r.target_utilization for r in rows],
        tolerance_up=tol_up,
        tolerance_down=tol_down,
    )
    value = hpa.resource_replicas_batch(
        current,
        ready,
        unready,
        missing,
        usage,
        request,
        target_average_value_milli=[r.target_average for r in rows],
        tolerance_up=tol_up,
        tolerance_down=tol_down,
    )
    for i, row in enumerate(rows):
        pods, metrics = row.scalar_inputs()
        tolerances = hpa.Tolerances(scale_down=row.tol_down, scale_up=row.tol_up)
        for batch, kwargs in (
            (util, {"target_utilization": row.target_utilization}),
            (value, {"target_average_value_milli": row.target_average}),
        ):
            try:
                want = hpa.resource_replicas(
                    row.current,
                    pods,
                    metrics,
                    target_utilization=kwargs.get("target_utilization"),
                    target_average_value_milli=kwargs.get("target_average_value_milli"),
                    tolerances=tolerances,
                    now=NOW,
                )
            except hpa.MetricsError:
                note("calculator: MetricsError")
                assert not batch.ok[i], (i, row, kwargs)
                assert batch.replicas[i] == row.current
                continue
            note(f"calculator: {want.path}")
            got = (
                int(batch.replicas[i]),
                int(batch.raw_average_milli[i]),
                float(batch.ratio[i]),
                bool(batch.ok[i]),
            )
            assert got == (want.replicas, want.raw_average_milli, want.ratio, True), (
                i,
                row,
                kwargs,
                want,
            )
            if "target_utilization" in kwargs:
                assert int(batch.utilization[i]) == want.utilization, (i, row, want)


@settings(max_examples=200, deadline=None)
@given(rows=row_lists(max_rows=12))
def test_resource_replicas_batch_equals_scalar(rows: list[Row]) -> None:
    check_calculator_rows(rows, event)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_resource_replicas_batch_equals_scalar_bulk(seed: int) -> None:
    pick = Pick.from_random(random.Random(seed))
    check_calculator_rows([random_row(pick) for _ in range(600)], event)


# --- behaviors ------------------------------------------------------------------------------

STEPS = st.one_of(
    st.sampled_from([15.0, 15.0, 15.0, 30.0, 45.0, 60.0, 150.0]),
    st.sampled_from([15.0, 30.0]),
    st.integers(1, 400).map(float),
    st.floats(1.0, 120.0),
)


@dataclass(frozen=True)
class Fleet:
    behaviors: tuple[hpa.Behavior | None, ...]
    min_replicas: tuple[int, ...]
    max_replicas: tuple[int, ...]
    initial: tuple[int, ...]
    times: tuple[float, ...]
    metrics: int
    seed: int
    error_percent: int
    nudge_percent: int  # chance per row and sync that someone else resizes the target
    flag: float
    factor: float
    minimum: float
    sync_period_s: float = field(init=False)

    def __post_init__(self) -> None:
        steps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        object.__setattr__(self, "sync_period_s", min(steps, default=15.0))


LOPSIDED_BEHAVIORS: st.SearchStrategy[hpa.Behavior | None] = LOPSIDED


@st.composite
def fleets(
    draw: st.DrawFn, behaviors_from: st.SearchStrategy[hpa.Behavior | None] = MAYBE_BEHAVIORS
) -> Fleet:
    n = draw(st.integers(1, 16))
    behaviors = tuple(draw(st.lists(behaviors_from, min_size=n, max_size=n)))
    mins = tuple(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
    maxs = tuple(draw(st.integers(max(lo, 1), 40)) for lo in mins)
    initial = tuple(draw(st.integers(0, hi + 5)) for hi in maxs)
    syncs = draw(st.integers(1, 30))
    times = [NOW]
    for step in draw(st.lists(STEPS, min_size=syncs - 1, max_size=syncs - 1)):
        times.append(times[-1] + step)
    factor, minimum = draw(st.sampled_from([(2.0, 4.0), (2.0, 4.0), (8.0, 4.0), (1.5, 3.0)]))
    return Fleet(
        behaviors,
        mins,
        maxs,
        initial,
        tuple(times),
        metrics=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**32 - 1)),
        error_percent=draw(st.sampled_from([0, 10, 30])),
        nudge_percent=draw(st.sampled_from([0, 0, 5])),
        flag=draw(st.sampled_from([300.0, 300.0, 0.0, 60.0, 120.0])),
        factor=factor,
        minimum=minimum,
    )


def fleet_params(fleet: Fleet) -> hpa.BatchBehavior:
    return hpa.BatchBehavior.from_behaviors(
        fleet.behaviors,
        downscale_stabilization_s=fleet.flag,
        scale_up_limit_factor=fleet.factor,
        scale_up_limit_minimum=fleet.minimum,
    )


def random_proposals(
    rng: np.random.Generator,
    current: np.ndarray[Any, Any],
    maxs: np.ndarray[Any, Any],
    metrics: int,
) -> np.ndarray[Any, Any]:
    """Per row and metric: near the current size, or anywhere in [0, max + 15]."""
    n = current.shape[0]
    near = np.maximum(current[:, None] + rng.integers(-3, 4, size=(n, metrics)), 0)
    anywhere = rng.integers(0, maxs[:, None] + 16, size=(n, metrics))
    same = np.broadcast_to(current[:, None], (n, metrics))
    kind = rng.integers(0, 10, size=(n, metrics))
    return np.where(kind < 4, near, np.where(kind < 9, anywhere, same)).astype(np.int64)


@settings(max_examples=250, deadline=None)
@given(fleet=st.one_of(fleets(), fleets(LOPSIDED_BEHAVIORS)))
def test_reconcile_batch_equals_scalar(fleet: Fleet) -> None:
    n = len(fleet.behaviors)
    rng = np.random.default_rng(fleet.seed)
    params = fleet_params(fleet)
    batch_history = hpa.BatchHistory.for_behavior(params, sync_period_s=fleet.sync_period_s)
    mins = np.array(fleet.min_replicas, dtype=np.int64)
    maxs = np.array(fleet.max_replicas, dtype=np.int64)
    current = np.array(fleet.initial, dtype=np.int64)
    histories = [hpa.HpaHistory() for _ in range(n)]
    log: list[list[tuple[float, int, tuple[int | str, ...], int, str]]] = [[] for _ in range(n)]
    for now in fleet.times:
        nudge = rng.integers(0, 100, size=n) < fleet.nudge_percent
        current = np.where(nudge, rng.integers(0, maxs + 6), current)
        proposals = random_proposals(rng, current, maxs, fleet.metrics)
        ok = rng.integers(0, 100, size=proposals.shape) >= fleet.error_percent
        got = hpa.reconcile_batch(
            current,
            proposals,
            ok,
            min_replicas=mins,
            max_replicas=maxs,
            params=params,
            history=batch_history,
            now=now,
        )
        for i in range(n):
            scalar_proposals: list[int | hpa.MetricsError] = [
                int(p) if good else hpa.MetricsError("metric failed")
                for p, good in zip(proposals[i], ok[i], strict=True)
            ]
            want = hpa.reconcile(
                int(current[i]),
                scalar_proposals,
                min_replicas=fleet.min_replicas[i],
                max_replicas=fleet.max_replicas[i],
                behavior=fleet.behaviors[i],
                history=histories[i],
                now=now,
                downscale_stabilization_s=fleet.flag,
                scale_up_limit_factor=fleet.factor,
                scale_up_limit_minimum=fleet.minimum,
            )
            event(f"reconcile: {want.reason}")
            log[i].append(
                (
                    now,
                    int(current[i]),
                    tuple(int(p) if g else "err" for p, g in zip(proposals[i], ok[i], strict=True)),
                    want.replicas,
                    want.reason,
                )
            )
            context = (
                f"row {i}: behavior={fleet.behaviors[i]} min={fleet.min_replicas[i]} "
                f"max={fleet.max_replicas[i]} flag={fleet.flag} factor={fleet.factor}/"
                f"{fleet.minimum}; syncs (now, current, proposals, replicas, reason): {log[i]}; "
                f"batch replicas={int(got.replicas[i])} reason={hpa.REASONS[got.reason[i]]}"
            )
            assert int(got.replicas[i]) == want.replicas, context
            assert hpa.REASONS[got.reason[i]] == want.reason, context
            if want.metric_replicas is not None:
                assert int(got.metric_replicas[i]) == want.metric_replicas, context
            assert bool(got.normalized[i]) == (want.metric_replicas is not None), context
            if want.stabilized is not None:
                assert int(got.stabilized[i]) == want.stabilized, context
            assert (want.stabilized is None) == (want.metric_replicas is None), context
            histories[i] = want.history
        current = got.replicas
        batch_history = got.history


@settings(max_examples=80, deadline=None)
@given(fleet=fleets())
def test_normalize_batch_equals_scalar(fleet: Fleet) -> None:
    """Without reconcile's guards: any current size (outside [min, max] and 0 included),
    any proposal, no seeding, both histories evolving."""
    n = len(fleet.behaviors)
    rng = np.random.default_rng(fleet.seed)
    params = fleet_params(fleet)
    batch_history = hpa.BatchHistory.for_behavior(params, sync_period_s=fleet.sync_period_s)
    mins = np.array(fleet.min_replicas, dtype=np.int64)
    maxs = np.array(fleet.max_replicas, dtype=np.int64)
    current = np.array(fleet.initial, dtype=np.int64)
    histories = [hpa.HpaHistory() for _ in range(n)]
    log: list[list[tuple[float, int, int, int, str]]] = [[] for _ in range(n)]
    for now in fleet.times:
        nudge = rng.integers(0, 100, size=n) < max(fleet.nudge_percent, 10)
        current = np.where(nudge, rng.integers(0, maxs + 6), current)
        desired = random_proposals(rng, current, maxs, 1)[:, 0]
        got = hpa.normalize_batch(
            current,
            desired,
            min_replicas=mins,
            max_replicas=maxs,
            params=params,
            history=batch_history,
            now=now,
        )
        for i in range(n):
            want = hpa.normalize_replicas(
                int(current[i]),
                int(desired[i]),
                min_replicas=fleet.min_replicas[i],
                max_replicas=fleet.max_replicas[i],
                behavior=fleet.behaviors[i],
                history=histories[i],
                now=now,
                downscale_stabilization_s=fleet.flag,
                scale_up_limit_factor=fleet.factor,
                scale_up_limit_minimum=fleet.minimum,
            )
            event(f"normalize: {want.reason}")
            log[i].append((now, int(current[i]), int(desired[i]), want.replicas, want.reason))
            context = (
                f"row {i}: behavior={fleet.behaviors[i]} min={fleet.min_replicas[i]} "
                f"max={fleet.max_replicas[i]} flag={fleet.flag} factor={fleet.factor}/"
                f"{fleet.minimum}; syncs (now, current, desired, replicas, reason): {log[i]}; "
                f"batch replicas={int(got.replicas[i])} reason={hpa.REASONS[got.reason[i]]} "
                f"stabilized={int(got.stabilized[i])} (scalar {want.stabilized})"
            )
            assert int(got.replicas[i]) == want.replicas, context
            assert hpa.REASONS[got.reason[i]] == want.reason, context
            assert int(got.stabilized[i]) == want.stabilized, context
            histories[i] = want.history
        current = got.replicas
        batch_history = got.history


# --- hand-picked rows -----------------------------------------------------------------------


def percent_behavior(direction: str, value: int) -> hpa.Behavior:
    behavior = hpa.Behavior.from_spec(
        {
            direction: {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Percent", "value": value, "periodSeconds": 60}],
            }
        }
    )
    assert behavior is not None
    return behavior


# (current, desired, direction, percent, expected): float64 as upstream, not exact rationals
PERCENT_ROWS = [
    (10, 100, "scaleUp", 10, 11),  # 10 * 1.1 == 11.0 exactly in float64
    (50, 100, "scaleUp", 10, 56),  # 50 * 1.1 == 55.00000000000001 -> ceil 56 (exact: 55)
    (25, 100, "scaleUp", 12, 29),  # 25 * 1.12 == 28.000000000000004 -> 29 (exact: 28)
    (0, 5, "scaleUp", 100, 0),  # 0 * 2 = 0: a Percent policy cannot leave 0 (limit = current)
    (10, 0, "scaleDown", 90, 0),  # 10 * 0.09999999999999998 -> trunc 0 (exact: 1)
    (5, 0, "scaleDown", 80, 0),  # 5 * 0.19999999999999996 -> trunc 0 (exact: 1)
    (3, 0, "scaleDown", 33, 2),  # 3 * 0.67 = 2.0100000000000002 -> 2
    (7, 0, "scaleDown", 150, 0),  # -3.5 truncates to -3; min 0 applies
]


@pytest.mark.parametrize("row", PERCENT_ROWS, ids=[str(r) for r in PERCENT_ROWS])
def test_percent_rounding_rows(row: tuple[int, int, str, int, int]) -> None:
    current, desired, direction, percent, expected = row
    behavior = percent_behavior(direction, percent)
    want = hpa.normalize_replicas(
        current,
        desired,
        min_replicas=0,
        max_replicas=1000,
        behavior=behavior,
        history=hpa.HpaHistory(),
        now=NOW,
    )
    assert want.replicas == expected
    params = hpa.BatchBehavior.from_behaviors([behavior])
    got = hpa.normalize_batch(
        [current],
        [desired],
        min_replicas=[0],
        max_replicas=[1000],
        params=params,
        history=hpa.BatchHistory.for_behavior(params, sync_period_s=15.0),
        now=NOW,
    )
    assert int(got.replicas[0]) == expected
    assert hpa.REASONS[got.reason[0]] == want.reason


def test_all_percent_rows_in_one_batch() -> None:
    """The same rows side by side in one call (row independence)."""
    behaviors = [percent_behavior(r[2], r[3]) for r in PERCENT_ROWS]
    params = hpa.BatchBehavior.from_behaviors(behaviors)
    got = hpa.normalize_batch(
        [r[0] for r in PERCENT_ROWS],
        [r[1] for r in PERCENT_ROWS],
        min_replicas=0,
        max_replicas=1000,
        params=params,
        history=hpa.BatchHistory.for_behavior(params, sync_period_s=15.0),
        now=NOW,
    )
    assert [int(v) for v in got.replicas] == [r[4] for r in PERCENT_ROWS]


def test_calculator_edge_rows() -> None:
    """Ratios exactly on the tolerance edges and exactly 1.0 with missing pods."""
    rows = [
        # 4 ready at 110 % of request, target 100: ratio 1.1 == 1 + 0.1 -> inside, keep 4
        Row(4, 1000, (("old", 1100),) * 4, (), (), (), (), 100, 1100, 0.1, 0.1),
        # 111 %: ratio 1.11 -> ceil(4.44) = 5
        Row(4, 1000, (("old", 1110),) * 4, (), (), (), (), 100, 1110, 0.1, 0.1),
        # 90 % == 1 - 0.1 -> inside
        Row(4, 1000, (("old", 900),) * 4, (), (), (), (), 100, 900, 0.1, 0.1),
        # ratio exactly 1 with missing pods: nothing filled, keep current
        Row(6, 1000, (("old", 1000),) * 4, (), (), (True, False), (), 100, 1000, 0.0, 0.0),
        # scale-up with unready pods: they count as 0 -> conservative
        Row(
            6,
            1000,
            (("old", 2000),) * 3,
            (("init-not-ready", 9000),) * 3,
            (),
            (),
            (),
            100,
            1000,
            0.1,
            0.1,
        ),
        # target above 100 %: missing pods assumed at target on a scale-down
        Row(4, 1000, (("old", 100),) * 2, (), (), (True,) * 2, (), 200, 500, 0.1, 0.1),
        # no ready pods at all: MetricsError / ok False
        Row(3, 1000, (), (("no-start", 500),), (500,), (True,), (), 100, 500, 0.1, 0.1),
        # request 0: Utilization fails, AverageValue works
        Row(3, 0, (("old", 50),) * 3, (), (), (), (), 100, 100, 0.1, 0.1),
    ]
    check_calculator_rows(rows)


def test_ratio_sanity_of_edge_rows() -> None:
    """Guard that the edge rows above really sit on the edges (float64 arithmetic)."""
    assert 110 / 100 == 1.0 + 0.1
    assert 90 / 100 == 1.0 - 0.1
    assert math.ceil(111 / 100 * 4) == 5
