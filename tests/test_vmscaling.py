"""Target tracking for VM groups: alarm datapoint rules, proportional steps, warm-up and
cooldown, against hand-worked trajectories."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capsim.models.target_tracking import GroupMemory, TargetTracking, evaluate

POLICY = TargetTracking(target_pct=50, min_instances=2, max_instances=20)


def step(
    memory: GroupMemory,
    minute: int,
    cpu: float | None,
    desired: int,
    counted: int | None = None,
    warming: int = 0,
    policy: TargetTracking = POLICY,
) -> tuple[GroupMemory, int, str]:
    decision = evaluate(
        policy,
        memory,
        now=60.0 * minute,
        datapoint=cpu,
        desired=desired,
        counted_instances=desired if counted is None else counted,
        warming_instances=warming,
    )
    return decision.memory, decision.desired, decision.reason


def test_scale_out_needs_three_breaching_datapoints_then_is_proportional() -> None:
    memory = GroupMemory()
    memory, desired, reason = step(memory, 1, 90.0, 4)
    assert (desired, reason) == (4, "NoAlarm")
    memory, desired, _ = step(memory, 2, 90.0, 4)
    assert desired == 4
    memory, desired, reason = step(memory, 3, 90.0, 4)
    # 3 of 3 above 50 %: ceil(4 × 90 / 50) = ceil(7.2) = 8.
    assert (desired, reason) == (8, "AlarmHigh")


def test_a_dip_resets_the_three_of_three_alarm() -> None:
    memory = GroupMemory()
    for minute, cpu in enumerate([90.0, 90.0, 40.0, 90.0, 90.0], start=1):
        memory, desired, _ = step(memory, minute, cpu, 4)
        assert desired == 4
    memory, desired, reason = step(memory, 6, 90.0, 4)
    assert (desired, reason) == (8, "AlarmHigh")


def test_warming_instances_are_not_added_twice() -> None:
    # Desired is already 8 (4 counted + 4 warming); the metric of the 4 counted stays at
    # 90 %: ceil(4 × 90 / 50) = 8, so the repeated action adds nothing.
    memory = GroupMemory(datapoints=(90.0, 90.0))
    _, desired, reason = step(memory, 3, 90.0, 8, counted=4, warming=4)
    assert (desired, reason) == (8, "NoAlarm")
    # At 120 %: ceil(4 × 120 / 50) = 10: two more.
    memory = GroupMemory(datapoints=(120.0, 120.0))
    _, desired, _ = step(memory, 3, 120.0, 8, counted=4, warming=4)
    assert desired == 10


def test_scale_in_needs_fifteen_low_datapoints_and_respects_cooldown() -> None:
    memory = GroupMemory(last_activity_s=0.0)
    desired = 10
    reasons = []
    for minute in range(1, 16):
        memory, desired, reason = step(memory, minute, 20.0, desired)
        reasons.append(reason)
    # 15 of 15 below 45 %: ceil(10 × 20 / 50) = 4 at minute 15 (cooldown long over).
    assert reasons[:14] == ["NoAlarm"] * 14
    assert (desired, reasons[14]) == (4, "AlarmLow")
    # Still in ALARM next minute, but the cooldown blocks another scale-in for 300 s.
    memory, desired, reason = step(memory, 16, 10.0, desired)
    assert (desired, reason) == (4, "ScaleInCooldown")
    memory, desired, reason = step(memory, 20, 10.0, desired)  # 300 s after minute 15
    # ceil(4 × 10 / 50) = 1, but min is 2.
    assert (desired, reason) == (2, "AlarmLow")


def test_45_percent_is_not_below_the_scale_in_threshold() -> None:
    memory = GroupMemory(datapoints=(45.0,) * 14)
    _, desired, reason = step(memory, 15, 45.0, 10)
    assert (desired, reason) == (10, "NoAlarm")
    memory = GroupMemory(datapoints=(44.9,) * 14)
    _, desired, _ = step(memory, 15, 44.9, 10)
    assert desired == 9  # ceil(10 × 44.9 / 50) = ceil(8.98)


def test_no_scale_in_while_instances_warm_up() -> None:
    memory = GroupMemory(datapoints=(10.0,) * 14)
    _, desired, reason = step(memory, 15, 10.0, 10, counted=8, warming=2)
    assert (desired, reason) == (10, "ScaleInWarmup")


def test_missing_datapoints_never_breach() -> None:
    memory = GroupMemory(datapoints=(90.0, None))
    _, desired, reason = step(memory, 3, 90.0, 4)
    assert (desired, reason) == (4, "NoAlarm")


def test_bounds() -> None:
    memory = GroupMemory(datapoints=(100.0, 100.0))
    _, desired, reason = step(memory, 3, 100.0, 15)
    assert (desired, reason) == (20, "AlarmHigh")  # ceil(30) capped at 20
    _, desired, reason = step(memory, 3, 100.0, 20)
    assert (desired, reason) == (20, "AtMaxInstances")
    _, desired, reason = step(GroupMemory(), 1, None, 1)
    assert (desired, reason) == (2, "AtMinInstances")


def test_disable_scale_in() -> None:
    policy = TargetTracking(target_pct=50, min_instances=1, max_instances=10, disable_scale_in=True)
    memory = GroupMemory(datapoints=(5.0,) * 14)
    _, desired, _ = step(memory, 15, 5.0, 8, policy=policy)
    assert desired == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_pct": 0}, "target_pct"),
        ({"min_instances": 5, "max_instances": 3}, "min_instances <= max_instances"),
        ({"scale_out_datapoints": 4}, "scale_out_datapoints <= scale_out_evaluation_periods"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"metric_period_s": 0}, "metric_period_s"),
        ({"scale_in_threshold_factor": 1.5}, "scale_in_threshold_factor"),
    ],
)
def test_bad_policy(kwargs: dict[str, float], message: str) -> None:
    fields: dict[str, float] = {"target_pct": 50, "min_instances": 1, "max_instances": 10}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        TargetTracking(**fields)  # type: ignore[arg-type]


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=1, max_size=60),
    st.integers(1, 5),
    st.integers(5, 30),
    st.integers(1, 40),
)
def test_invariants(cpus: list[float | None], low: int, high: int, start: int) -> None:
    policy = TargetTracking(target_pct=60, min_instances=low, max_instances=high)
    memory = GroupMemory()
    desired = start
    for minute, cpu in enumerate(cpus, start=1):
        before = desired
        decision = evaluate(
            policy,
            memory,
            now=60.0 * minute,
            datapoint=cpu,
            desired=desired,
            counted_instances=desired,
            warming_instances=0,
        )
        memory, desired = decision.memory, decision.desired
        assert low <= desired <= high
        assert len(memory.datapoints) <= policy.history_length
        if decision.reason == "AlarmHigh":
            assert desired > before
            assert cpu is not None
            assert desired <= max(before, math.ceil(before * cpu / 60))
        if decision.reason == "AlarmLow":
            assert desired < before
        if decision.reason in ("NoAlarm", "ScaleInCooldown", "ScaleInWarmup"):
            assert desired == before


def test_float_noise_in_an_exact_ratio_adds_nothing() -> None:
    # 4 × 100.00000000000001 / 50 is 8.000000000000002 in floats: still 8 instances.
    memory = GroupMemory(datapoints=(100.0, 100.0))
    decision = evaluate(
        POLICY,
        memory,
        now=180.0,
        datapoint=100.00000000000001,
        desired=8,
        counted_instances=4,
        warming_instances=4,
    )
    assert (decision.desired, decision.reason) == (8, "NoAlarm")
