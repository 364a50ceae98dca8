"""Hand-computed HPA cases. Each is chosen so that a common mis-implementation (mean of
per-pod ratios, untruncated utilization, spec.replicas as multiplier, 100 % fallback for
missing pods, inclusive behavior windows, …) gives a different answer. The arithmetic is
written out beside each case."""

from __future__ import annotations

import pytest

from capsim import hpa

NOW = 10_000.0


def running(name: str, request: int = 1000, **kwargs: object) -> hpa.PodInfo:
    """A pod started an hour ago, Ready for the last 50 minutes."""
    fields: dict[str, object] = {"start_time": NOW - 3600, "ready_transition_time": NOW - 3000}
    fields.update(kwargs)
    return hpa.PodInfo(name, request_milli=request, **fields)  # type: ignore[arg-type]


def sample(value: int, age_s: float = 5.0, window_s: float = 30.0) -> hpa.MetricSample:
    return hpa.MetricSample(value, NOW - age_s, window_s)


def calc(
    current: int, pods: list[hpa.PodInfo], metrics: dict[str, hpa.MetricSample], **kwargs: object
) -> hpa.ReplicaResult:
    return hpa.resource_replicas(current, pods, metrics, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_utilization_is_a_ratio_of_sums_not_a_mean_of_ratios() -> None:
    # requests 500/1500/500/1500, usage 500/300/500/300: Σ 1600 / Σ 4000 = 40 %.
    # Mean of per-pod ratios would be 60 % → ceil(0.75 × 4) = 3; upstream: ceil(0.5 × 4) = 2.
    pods = [running(f"p{i}", request=r) for i, r in enumerate([500, 1500, 500, 1500])]
    metrics = {f"p{i}": sample(u) for i, u in enumerate([500, 300, 500, 300])}
    result = calc(4, pods, metrics, target_utilization=80)
    assert (result.replicas, result.utilization, result.raw_average_milli) == (2, 40, 400)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (1109, 1),  # 110.9 % truncates to 110 → ratio 1.10 is inside the inclusive band
        (1100, 1),  # exactly 1.10
        (1110, 2),  # 111 % → ratio 1.11 → ceil(1.11 × 1) = 2
        (1111, 2),  # 111 % → ratio 1.11 → ceil(1.11 × 1) = 2
        (900, 1),  # 0.90: lower edge, inclusive
        (899, 1),  # 89 % → ceil(0.89 × 1) = 1 (already at 1 pod)
    ],
)
def test_truncated_utilization_meets_inclusive_tolerance(usage: int, expected: int) -> None:
    result = calc(1, [running("a")], {"a": sample(usage)}, target_utilization=100)
    assert result.replicas == expected


def test_asymmetric_tolerances() -> None:
    # 4 pods at 115 % of a 100 % target: outside ±10 %, inside +20 % up tolerance.
    pods = [running(f"p{i}") for i in range(4)]
    metrics = {f"p{i}": sample(1150) for i in range(4)}
    assert calc(4, pods, metrics, target_utilization=100).replicas == 5  # ceil(1.15 × 4)
    wide = hpa.Tolerances(scale_down=0.1, scale_up=0.2)
    assert calc(4, pods, metrics, target_utilization=100, tolerances=wide).replicas == 4


def test_multiplier_is_ready_pods_with_metrics_not_spec_replicas() -> None:
    # spec says 10 replicas, but only 4 pods exist and are ready: 200 % of a 100 % target
    # → ceil(2.0 × 4) = 8, not 20.
    pods = [running(f"p{i}") for i in range(4)]
    metrics = {f"p{i}": sample(2000) for i in range(4)}
    assert calc(10, pods, metrics, target_utilization=100).replicas == 8


def test_missing_pods_on_scale_down_assume_max_of_100_and_target() -> None:
    # Target 200 %: 2 ready pods at 120 % (ratio 0.6), 2 pods without samples.
    # Filled with 200 % of request: (2400 + 4000) / 4000 = 160 % → 0.8 → ceil(3.2) = 4 = current.
    # With the old 100 % fill: 4400 / 4000 = 110 % → 0.55 → 3 (a different answer).
    pods = [running(f"p{i}") for i in range(4)]
    metrics = {"p0": sample(1200), "p1": sample(1200)}
    result = calc(4, pods, metrics, target_utilization=200)
    assert result.replicas == 4
    assert result.utilization == 120  # status reports the first pass


def test_missing_pods_on_scale_up_count_as_zero() -> None:
    # 2 ready at 300 % of a 100 % target, 2 missing: (6000 + 0) / 4000 = 150 % → ceil(1.5 × 4) = 6.
    pods = [running(f"p{i}") for i in range(4)]
    metrics = {"p0": sample(3000), "p1": sample(3000)}
    result = calc(4, pods, metrics, target_utilization=100)
    assert (result.replicas, result.path) == (6, "conservative")


def test_unready_pods_zero_filled_on_scale_up_may_flip_direction() -> None:
    # 1 ready pod at 90 % of a 50 % target (ratio 1.8) and 3 Pending pods.
    # Zero-filled: 900 / 4000 = 22 % → 0.44: the direction flips → keep current (4).
    pods = [running("r"), *(running(f"u{i}", phase="Pending") for i in range(3))]
    result = calc(4, pods, {"r": sample(900)}, target_utilization=50)
    assert (result.replicas, result.path) == (4, "conservative-direction-flip")


def test_unready_pods_excluded_on_scale_down() -> None:
    # 2 ready at 20 %, 2 Pending; target 50 % → ratio 0.4, fast path over ready pods only:
    # ceil(0.4 × 2) = 1.
    pods = [
        running("a"),
        running("b"),
        running("c", phase="Pending"),
        running("d", phase="Pending"),
    ]
    metrics = {"a": sample(200), "b": sample(200), "c": sample(900)}
    assert calc(4, pods, metrics, target_utilization=50).replicas == 1


@pytest.mark.parametrize(
    ("ready", "transition_ago", "sample_age", "unready"),
    [
        (True, 50.0, 5.0, False),  # a full 30 s window since Ready (now-50+30 < now-5)
        (True, 10.0, 5.0, True),  # Ready only 10 s ago: the sample window is not complete
        (True, 35.0, 5.0, False),  # window ends exactly at the sample: not before → counts
        (False, 50.0, 5.0, True),  # not Ready inside the initialization period
        (None, 50.0, 5.0, True),  # no Ready condition at all
    ],
)
def test_cpu_initialization_period_rules(
    ready: bool | None, transition_ago: float, sample_age: float, unready: bool
) -> None:
    pod = hpa.PodInfo(
        "p",
        ready=ready,
        start_time=NOW - 60,
        ready_transition_time=NOW - transition_ago,
        request_milli=1000,
    )
    groups = hpa.group_pods(
        [pod],
        {"p": sample(500, age_s=sample_age)},
        resource="cpu",
        now=NOW,
        cpu_initialization_period_s=300,
        initial_readiness_delay_s=30,
    )
    assert (groups.unready == {"p"}) is unready


@pytest.mark.parametrize(
    ("start_to_transition_s", "unready"),
    [(20.0, True), (30.0, False), (600.0, False)],
)
def test_after_initialization_only_never_ready_pods_are_unready(
    start_to_transition_s: float, unready: bool
) -> None:
    # Not Ready, started 1 h ago. It last transitioned 20 s after start: it has never been
    # Ready (within the 30 s delay) → unready. At exactly 30 s it counts (upstream equality).
    start = NOW - 3600
    pod = hpa.PodInfo(
        "p",
        ready=False,
        start_time=start,
        ready_transition_time=start + start_to_transition_s,
        request_milli=1000,
    )
    groups = hpa.group_pods(
        [pod],
        {"p": sample(500)},
        resource="cpu",
        now=NOW,
        cpu_initialization_period_s=300,
        initial_readiness_delay_s=30,
    )
    assert (groups.unready == {"p"}) is unready


def test_memory_ignores_readiness() -> None:
    pod = hpa.PodInfo("p", ready=False, start_time=NOW - 5, request_milli=1000)
    groups = hpa.group_pods(
        [pod],
        {"p": sample(500)},
        resource="memory",
        now=NOW,
        cpu_initialization_period_s=300,
        initial_readiness_delay_s=30,
    )
    assert groups.ready_count == 1
    assert not groups.unready


def test_classification_order_missing_before_readiness() -> None:
    pods = [
        running("deleted", deleted=True),
        running("failed", phase="Failed"),
        running("pending", phase="Pending"),
        running("no-sample", ready=False),
        running("ok"),
        running("succeeded", phase="Succeeded"),
    ]
    metrics = {name: sample(100) for name in ("deleted", "failed", "pending", "ok", "succeeded")}
    groups = hpa.group_pods(
        pods,
        metrics,
        resource="cpu",
        now=NOW,
        cpu_initialization_period_s=300,
        initial_readiness_delay_s=30,
    )
    assert groups.ignored == {"deleted", "failed"}
    assert groups.unready == {"pending"}
    assert groups.missing == {"no-sample"}
    assert groups.ready_count == 2  # ok and succeeded


def test_samples_of_unknown_pods_count_in_the_conservative_path() -> None:
    # 2 ready at 150 % of a 100 % target and 1 missing pod; a sample of a pod that no longer
    # exists ("ghost", 0 usage). First pass over known pods: 150 % → scale-up path with the
    # missing pod at 0: (3000 + 0) / 3000 = 100 %... within tolerance → keep 3.
    pods = [running("a"), running("b"), running("c")]
    metrics = {"a": sample(1500), "b": sample(1500), "ghost": sample(0)}
    assert calc(3, pods, metrics, target_utilization=100).replicas == 3
    # Without the missing pod the fast path ignores the ghost: ceil(1.5 × 2) = 3 from 2.
    assert calc(2, pods[:2], metrics, target_utilization=100).replicas == 3


def test_errors_have_upstream_meaning() -> None:
    pods = [running("a")]
    with pytest.raises(hpa.MetricsError, match="no metrics returned"):
        calc(1, pods, {}, target_utilization=50)
    with pytest.raises(hpa.MetricsError, match="pods might be unready"):
        calc(1, [running("a", phase="Pending")], {"a": sample(1)}, target_utilization=50)
    with pytest.raises(hpa.MetricsError, match="missing request for cpu"):
        calc(
            1,
            [running("a"), running("gone", request=None, deleted=True)],  # type: ignore[arg-type]
            {"a": sample(1)},
            target_utilization=50,
        )
    with pytest.raises(hpa.MetricsError, match="no pods returned"):
        calc(1, [], {"a": sample(1)}, target_utilization=50)


def test_average_value_target_uses_all_samples() -> None:
    # AverageValue 500m: samples 900 + 700 + a ghost 200 → (1800 // 3) = 600 → ratio 1.2
    # → ceil(1.2 × 2 ready) = 3.
    pods = [running("a"), running("b")]
    metrics = {"a": sample(900), "b": sample(700), "ghost": sample(200)}
    result = calc(2, pods, metrics, target_average_value_milli=500)
    assert (result.replicas, result.raw_average_milli, result.utilization) == (3, 600, None)


# --- normalization --------------------------------------------------------------------


def normalize(
    current: int,
    desired: int,
    behavior: hpa.Behavior | None,
    history: hpa.HpaHistory,
    min_replicas: int = 1,
    max_replicas: int = 100,
) -> hpa.Normalized:
    return hpa.normalize_replicas(
        current,
        desired,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        behavior=behavior,
        history=history,
        now=NOW,
    )


def test_legacy_stabilization_is_inclusive_and_raises_scale_ups_too() -> None:
    at_edge = hpa.HpaHistory(recommendations=((NOW - 300, 10),))
    result = normalize(8, 5, None, at_edge)
    assert (result.replicas, result.reason) == (10, "ScaleDownStabilized")
    just_past = hpa.HpaHistory(recommendations=((NOW - 300.001, 10),))
    assert normalize(8, 5, None, just_past).replicas == 5
    # The stale entry is replaced in place, as upstream does.
    assert normalize(8, 5, None, just_past).history.recommendations == ((NOW, 5),)


def test_legacy_scale_up_cap_per_sync() -> None:
    assert normalize(3, 50, None, hpa.HpaHistory()).replicas == 6  # max(2 × 3, 4)
    assert normalize(1, 50, None, hpa.HpaHistory()).replicas == 4  # max(2, 4)
    assert normalize(3, 50, None, hpa.HpaHistory()).reason == "ScaleUpLimit"
    assert normalize(3, 50, None, hpa.HpaHistory(), max_replicas=5).reason == "TooManyReplicas"


def behavior(**spec: object) -> hpa.Behavior:
    parsed = hpa.Behavior.from_spec(spec)
    assert parsed is not None
    return parsed


def test_behavior_windows_are_strict() -> None:
    b = behavior(scaleDown={"stabilizationWindowSeconds": 300})
    at_edge = hpa.HpaHistory(recommendations=((NOW - 300, 10),))
    assert normalize(8, 5, b, at_edge).replicas == 5
    inside = hpa.HpaHistory(recommendations=((NOW - 299.999, 10),))
    result = normalize(8, 5, b, inside)
    assert (result.replicas, result.reason) == (8, "ScaleDownStabilized")


def test_behavior_stabilization_never_passes_current() -> None:
    b = behavior(scaleUp={"stabilizationWindowSeconds": 60})
    recent_high = hpa.HpaHistory(recommendations=((NOW - 10, 3),))
    assert normalize(2, 1, b, recent_high).replicas == 2  # proposal 1, recent 3: keep 2
    recent_low = hpa.HpaHistory(recommendations=((NOW - 10, 1),))
    assert normalize(2, 3, b, recent_low).replicas == 2  # proposal 3, recent 1: keep 2


def test_percent_scale_up_rounds_up_in_float64() -> None:
    # 100 × (1 + 10/100) is 110.00000000000001 in float64, so upstream allows 111, not 110.
    b = behavior(scaleUp={"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]})
    result = normalize(100, 500, b, hpa.HpaHistory(), max_replicas=500)
    assert (result.replicas, result.reason) == (111, "ScaleUpLimit")
    assert result.history.scale_up_events == ((NOW, 11),)
    # 10 × 1.1 is exactly 11.0: ceil gives 11.
    assert normalize(10, 50, b, hpa.HpaHistory()).replicas == 11


def test_percent_scale_down_truncates() -> None:
    b = behavior(
        scaleDown={
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 15, "periodSeconds": 60}],
        }
    )
    assert normalize(10, 1, b, hpa.HpaHistory()).replicas == 8  # int(10 × 0.85) = int(8.5)


def test_policy_period_start_is_rebuilt_from_both_directions() -> None:
    b = behavior(scaleUp={"policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]})
    # 4 pods were added 30 s ago: the period started at 8 − 4 = 4, so at most 8 now.
    history = hpa.HpaHistory(scale_up_events=((NOW - 30, 4),))
    result = normalize(8, 20, b, history)
    assert (result.replicas, result.reason) == (8, "ScaleUpLimit")
    # A scale-down of 3 in the same period raises the start to 7: at most 11.
    history = hpa.HpaHistory(scale_up_events=((NOW - 30, 4),), scale_down_events=((NOW - 20, 3),))
    assert normalize(8, 20, b, history).replicas == 11
    # An event exactly one period old no longer counts (strict edge).
    history = hpa.HpaHistory(scale_up_events=((NOW - 60, 4),))
    assert normalize(8, 20, b, history).replicas == 12


@pytest.mark.parametrize(("select", "expected"), [("Max", 20), ("Min", 14), ("Disabled", 10)])
def test_select_policy(select: str, expected: int) -> None:
    b = behavior(
        scaleUp={
            "selectPolicy": select,
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        }
    )
    assert normalize(10, 50, b, hpa.HpaHistory()).replicas == expected


def test_min_max_reasons_with_behavior() -> None:
    b = behavior()
    assert normalize(10, 50, b, hpa.HpaHistory(), max_replicas=12).reason == "TooManyReplicas"
    b0 = behavior(scaleDown={"stabilizationWindowSeconds": 0})
    result = normalize(10, 1, b0, hpa.HpaHistory(), min_replicas=3)
    assert (result.replicas, result.reason) == (3, "TooFewReplicas")


def run_constant_proposal(
    b: hpa.Behavior | None, proposal: int, current: int, syncs: int
) -> list[tuple[float, int]]:
    history = hpa.HpaHistory()
    trace = []
    for step in range(syncs):
        now = step * 15.0
        decision = hpa.reconcile(
            current,
            [proposal],
            min_replicas=1,
            max_replicas=20,
            behavior=b,
            history=history,
            now=now,
        )
        current, history = decision.replicas, decision.history
        trace.append((now, current))
    return trace


def test_first_scale_down_waits_one_window_after_start() -> None:
    # The history is seeded with the current size at the first sync (t = 0). Legacy keeps
    # it for the inclusive 300 s window, so it first scales down at t = 315; with a
    # behavior the window edge is strict, so it scales down at t = 300.
    legacy = dict(run_constant_proposal(None, 2, 10, 25))
    assert legacy[300.0] == 10
    assert legacy[315.0] == 2
    with_behavior = dict(run_constant_proposal(behavior(), 2, 10, 25))
    assert with_behavior[285.0] == 10
    assert with_behavior[300.0] == 2


def test_reconcile_corrections_and_failures() -> None:
    history = hpa.HpaHistory()
    common: dict[str, object] = {
        "min_replicas": 2,
        "max_replicas": 10,
        "behavior": None,
        "history": history,
        "now": NOW,
    }
    assert hpa.reconcile(12, [20], **common).replicas == 10  # type: ignore[arg-type]
    assert hpa.reconcile(1, [1], **common).replicas == 2  # type: ignore[arg-type]
    disabled = hpa.reconcile(0, [5], **common)  # type: ignore[arg-type]
    assert (disabled.replicas, disabled.reason) == (0, "ScalingDisabled")
    error = hpa.MetricsError("no metrics")
    # A failing metric blocks a scale-down …
    blocked = hpa.reconcile(5, [3, error], **common)  # type: ignore[arg-type]
    assert (blocked.replicas, blocked.reason) == (5, "FailedGetMetrics")
    # … but not a scale-up.
    assert hpa.reconcile(5, [8, error], **common).replicas == 8  # type: ignore[arg-type]
    assert hpa.reconcile(5, [error], **common).reason == "FailedGetMetrics"  # type: ignore[arg-type]
    # Several metrics: the largest proposal wins.
    assert hpa.reconcile(5, [3, 7, 6], **common).metric_replicas == 7  # type: ignore[arg-type]


def test_behavior_from_spec_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^scaleUp\.policies\[0\]\.value: must be greater"):
        hpa.Behavior.from_spec(
            {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}
        )
    with pytest.raises(ValueError, match=r"^scaleDown\.policies: must specify at least one"):
        hpa.Behavior.from_spec({"scaleDown": {"policies": []}})
    with pytest.raises(ValueError, match=r"^scaleDown\.selectPolicy: must be one of"):
        hpa.Behavior.from_spec({"scaleDown": {"selectPolicy": "Fastest"}})
    with pytest.raises(ValueError, match=r"^scaleUp\.tolerance: not a quantity"):
        hpa.Behavior.from_spec({"scaleUp": {"tolerance": "lots"}})
    with pytest.raises(ValueError, match=r"^scaleUp\.policies\[0\]\.type: must be Pods or"):
        hpa.Behavior.from_spec(
            {"scaleUp": {"policies": [{"type": "pods", "value": 1, "periodSeconds": 15}]}}
        )
    assert hpa.Behavior.from_spec(None) is None
    too_long = hpa.Behavior.from_spec({"scaleDown": {"stabilizationWindowSeconds": 7200}})
    assert too_long is not None
    assert too_long.api_problems() == [
        "scaleDown.stabilizationWindowSeconds: must be less than or equal to 3600, got 7200"
    ]


def test_tolerance_quantity_and_partial_merge() -> None:
    b = behavior(scaleUp={"tolerance": "50m"}, scaleDown={"selectPolicy": "Min"})
    assert b.scale_up.tolerance == pytest.approx(0.05)
    assert b.scale_up.policies == hpa.Behavior().scale_up.policies
    assert b.scale_down.select_policy == "Min"
    assert b.scale_down.stabilization_window_s is None
    assert b.scale_down.policies == (hpa.ScalingPolicy("Percent", 100, 15),)


def test_which_stale_event_is_replaced_changes_a_later_decision() -> None:
    # Up events at −200 s (+3) and −100 s (+7) are both outdated for the 60 s scale-up
    # period. Scaling 10 → 15 now replaces the *last* outdated one (upstream), leaving
    # (−200 s, +3), which the 300 s scale-down policy still counts one second later:
    # period start = 15 − (3 + 5) = 7, so Pods 1 / 300 s allows down to 6.
    # (Replacing the first one instead would leave +7 and allow down to 2.)
    b = behavior(
        scaleUp={"policies": [{"type": "Pods", "value": 100, "periodSeconds": 60}]},
        scaleDown={
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
        },
    )
    history = hpa.HpaHistory(scale_up_events=((NOW - 200, 3), (NOW - 100, 7)))
    up = normalize(10, 15, b, history)
    assert up.replicas == 15
    assert up.history.scale_up_events == ((NOW - 200, 3), (NOW, 5))
    down = hpa.normalize_replicas(
        15, 1, min_replicas=1, max_replicas=100, behavior=b, history=up.history, now=NOW + 1
    )
    assert (down.replicas, down.reason) == (6, "ScaleDownLimit")
