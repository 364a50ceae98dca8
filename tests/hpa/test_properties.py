"""Hypothesis properties of the scalar HPA maths (``capsim.hpa``).

What upstream guarantees (``HPA.md`` §2, §3.5, §7, §8, §11), asserted on random inputs:

* min/max: a sync never leaves ``[minReplicas, maxReplicas]`` once inside it, and a current
  size outside it is corrected to the bound (0 replicas with ``minReplicas > 0``: disabled);
* the tolerance band: an in-band usage ratio of fully ready pods changes nothing;
* rate limits: a scale-up (scale-down) never passes what the policies allow relative to the
  size at the start of each policy period, where that start is the real size ``P`` seconds
  ago (every size change is a stored scale event, so it is what upstream rebuilds from the
  event lists); ``selectPolicy: Disabled`` never scales in that direction;
* the event lists: the limits equal those computed from upstream's own ``storeScaleEvent``
  list semantics (a reference model below);
* stabilization: a recent higher (lower) recommendation holds back a scale-down (scale-up);
* the legacy per-sync cap ``max(2 × current, 4)``;
* determinism.

Hand-picked rows at the end pin float64 rounding of Percent policies and upstream's
"overwrite the last outdated scale event" rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hpa_strategies import (
    BEHAVIORS,
    LOPSIDED,
    MAYBE_BEHAVIORS,
    behavior_from,
    rules_specs,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from capsim import hpa

NOW = 100_000.0
ERR = hpa.MetricsError("unable to get metric")

Proposal = int | hpa.MetricsError

# --- strategies ----------------------------------------------------------------------------

STEPS = st.one_of(
    st.sampled_from([15.0, 15.0, 30.0, 45.0, 60.0, 150.0]),
    st.integers(1, 400).map(float),
    st.floats(0.5, 200.0),
)
FLAGS = st.sampled_from([300.0, 0.0, 60.0, 120.0])


@dataclass(frozen=True)
class Scenario:
    """One HPA synced ``len(times)`` times; ``proposals[i]`` are the metrics' results."""

    behavior: hpa.Behavior | None
    min_replicas: int
    max_replicas: int
    initial: int
    times: tuple[float, ...]
    proposals: tuple[tuple[Proposal, ...], ...]
    flag: float  # --horizontal-pod-autoscaler-downscale-stabilization


@st.composite
def scenarios(
    draw: st.DrawFn,
    behaviors: st.SearchStrategy[hpa.Behavior | None] = MAYBE_BEHAVIORS,
    max_syncs: int = 30,
    errors: bool = True,
) -> Scenario:
    behavior = draw(behaviors)
    min_r = draw(st.integers(0, 6))
    max_r = draw(st.integers(max(min_r, 1), 40))
    initial = draw(st.integers(0, max_r + 5))
    n = draw(st.integers(1, max_syncs))
    steps = draw(st.lists(STEPS, min_size=n - 1, max_size=n - 1))
    times = [NOW]
    for step in steps:
        times.append(times[-1] + step)
    value: st.SearchStrategy[Proposal] = st.integers(0, max_r + 15)
    if errors:
        value = st.one_of(value, value, value, st.just(ERR))
    proposals = draw(
        st.lists(st.lists(value, min_size=1, max_size=3).map(tuple), min_size=n, max_size=n)
    )
    return Scenario(behavior, min_r, max_r, initial, tuple(times), tuple(proposals), draw(FLAGS))


@dataclass(frozen=True)
class Step:
    now: float
    current: int
    history: hpa.HpaHistory  # the history passed in
    decision: hpa.Decision
    normalized: bool  # the sync reached normalization (no correction, no metric failure)


def run(sc: Scenario) -> list[Step]:
    current = sc.initial
    history = hpa.HpaHistory()
    out: list[Step] = []
    for now, proposals in zip(sc.times, sc.proposals, strict=True):
        decision = hpa.reconcile(
            current,
            proposals,
            min_replicas=sc.min_replicas,
            max_replicas=sc.max_replicas,
            behavior=sc.behavior,
            history=history,
            now=now,
            downscale_stabilization_s=sc.flag,
        )
        normalized = (
            sc.min_replicas <= current <= sc.max_replicas and decision.reason != "FailedGetMetrics"
        )
        out.append(Step(now, current, history, decision, normalized))
        current, history = decision.replicas, decision.history
    return out


# --- rate-limit arithmetic, written independently of the implementation --------------------


def policy_limit(policy: hpa.ScalingPolicy, start: int, up: bool) -> int:
    """One policy's bound from the period-start size, in upstream float64 arithmetic."""
    if up:
        if policy.type == "Pods":
            return start + policy.value
        return math.ceil(float(start) * (1 + float(policy.value) / 100))
    if policy.type == "Pods":
        return start - policy.value
    return int(float(start) * (1 - float(policy.value) / 100))


def rules_limit(rules: hpa.ScalingRules, up: bool, start_for: Any) -> int:
    """Upstream's selection: Max = the largest change, Min = the smallest change."""
    limits = [policy_limit(p, start_for(p.period_s), up) for p in rules.policies]
    largest_change = max(limits) if up else min(limits)
    smallest_change = min(limits) if up else max(limits)
    return smallest_change if rules.select_policy == "Min" else largest_change


def true_start(initial: int, steps: Sequence[Step], now: float, period_s: int) -> int:
    """The real size at the start of the period: after every sync not newer than now − P."""
    size = initial
    for step in steps:
        if step.now > now - period_s:
            break
        size = step.decision.replicas
    return size


# --- min/max --------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn, now: float, max_value: int) -> hpa.HpaHistory:
    ages = st.one_of(
        st.integers(0, 1000).map(float),
        st.floats(0.0, 1000.0),
        st.sampled_from([0.0, 15.0, 60.0, 120.0, 300.0, 600.0]),
    )
    recs = draw(
        st.lists(st.tuples(ages.map(lambda a: now - a), st.integers(0, max_value)), max_size=8)
    )
    ups = draw(st.lists(st.tuples(ages.map(lambda a: now - a), st.integers(1, 10)), max_size=5))
    downs = draw(st.lists(st.tuples(ages.map(lambda a: now - a), st.integers(1, 10)), max_size=5))
    return hpa.HpaHistory(tuple(recs), tuple(ups), tuple(downs))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), behavior=MAYBE_BEHAVIORS, flag=FLAGS)
def test_normalize_stays_within_min_max(
    data: st.DataObject, behavior: hpa.Behavior | None, flag: float
) -> None:
    min_r = data.draw(st.integers(0, 10))
    max_r = data.draw(st.integers(max(min_r, 1), 60))
    current = data.draw(st.integers(min_r, max_r))
    desired = data.draw(st.integers(0, 3 * max_r + 10))
    history = data.draw(histories(NOW, 3 * max_r))
    out = hpa.normalize_replicas(
        current,
        desired,
        min_replicas=min_r,
        max_replicas=max_r,
        behavior=behavior,
        history=history,
        now=NOW,
        downscale_stabilization_s=flag,
    )
    assert min_r <= out.replicas <= max_r


@settings(max_examples=300, deadline=None)
@given(data=st.data(), behavior=MAYBE_BEHAVIORS)
def test_reconcile_stays_within_or_corrects_to_min_max(
    data: st.DataObject, behavior: hpa.Behavior | None
) -> None:
    min_r = data.draw(st.integers(0, 10))
    max_r = data.draw(st.integers(max(min_r, 1), 60))
    current = data.draw(st.integers(0, max_r + 10))
    proposals = data.draw(st.lists(st.one_of(st.integers(0, 3 * max_r), st.just(ERR)), max_size=3))
    history = data.draw(st.one_of(st.just(hpa.HpaHistory()), histories(NOW, 3 * max_r)))
    out = hpa.reconcile(
        current,
        proposals,
        min_replicas=min_r,
        max_replicas=max_r,
        behavior=behavior,
        history=history,
        now=NOW,
    )
    if current == 0 and min_r != 0:
        assert (out.replicas, out.reason) == (0, "ScalingDisabled")
    elif current > max_r:
        assert (out.replicas, out.reason) == (max_r, "TooManyReplicas")
    elif current < min_r:
        assert (out.replicas, out.reason) == (min_r, "TooFewReplicas")
    else:
        assert min_r <= out.replicas <= max_r


@settings(max_examples=150, deadline=None)
@given(sc=scenarios())
def test_sequences_stay_within_min_max(sc: Scenario) -> None:
    for step in run(sc):
        if sc.min_replicas <= step.current <= sc.max_replicas:
            assert sc.min_replicas <= step.decision.replicas <= sc.max_replicas


# --- tolerance band -------------------------------------------------------------------------


@st.composite
def ready_pods(
    draw: st.DrawFn, now: float
) -> tuple[list[hpa.PodInfo], dict[str, hpa.MetricSample]]:
    """Running pods that all count as ready with a sample, each by a different CPU rule."""
    n = draw(st.integers(1, 12))
    request = draw(st.integers(1, 4000))
    pods: list[hpa.PodInfo] = []
    metrics: dict[str, hpa.MetricSample] = {}
    for i in range(n):
        name = f"pod-{i}"
        kind = draw(st.sampled_from(["old", "started-and-ready", "was-ready"]))
        if kind == "old":  # long past the CPU initialization period, Ready
            pod = hpa.PodInfo(name, start_time=now - 1000, request_milli=request)
        elif kind == "started-and-ready":  # inside it, Ready with a full window since
            pod = hpa.PodInfo(
                name, start_time=now - 100, ready_transition_time=now - 90, request_milli=request
            )
        else:  # after it, not Ready now but was Ready long after start
            pod = hpa.PodInfo(
                name,
                ready=False,
                start_time=now - 1000,
                ready_transition_time=now - 500,
                request_milli=request,
            )
        pods.append(pod)
        metrics[name] = hpa.MetricSample(draw(st.integers(0, 3 * request)), now - 5, 30.0)
    return pods, metrics


def in_band_targets(value: int, lo: float, hi: float) -> list[int]:
    """Targets ``t`` with ``lo <= value / t <= hi`` in float64 (at most 50 of them)."""
    first = max(1, int(value / hi) - 1)
    last = int(value / max(lo, 1e-9)) + 2
    return [t for t in range(first, last) if lo <= value / t <= hi][:50]


TOLERANCES = st.builds(
    hpa.Tolerances,
    st.one_of(st.sampled_from([0.0, 0.05, 0.1, 0.2]), st.floats(0.0, 0.9)),
    st.one_of(st.sampled_from([0.0, 0.05, 0.1, 0.2]), st.floats(0.0, 2.0)),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tolerances=TOLERANCES, current=st.integers(1, 50))
def test_usage_ratio_inside_tolerance_changes_nothing(
    data: st.DataObject, tolerances: hpa.Tolerances, current: int
) -> None:
    pods, metrics = data.draw(ready_pods(NOW))
    usage = sum(s.value_milli for s in metrics.values())
    request = sum(p.request_milli or 0 for p in pods)
    utilization = usage * 100 // request
    average = usage // len(pods)
    # targets whose ratio lands inside the band, edges included
    lo, hi = 1.0 - tolerances.scale_down, 1.0 + tolerances.scale_up
    util_targets = in_band_targets(utilization, lo, hi)
    if util_targets:
        target = data.draw(st.sampled_from(util_targets))
        out = hpa.resource_replicas(
            current, pods, metrics, target_utilization=target, tolerances=tolerances, now=NOW
        )
        assert out.replicas == current
        assert out.path == "within-tolerance"
    value_targets = in_band_targets(average, lo, hi)
    if value_targets:
        target = data.draw(st.sampled_from(value_targets))
        for resource in ("cpu", "memory"):
            out = hpa.resource_replicas(
                current,
                pods,
                metrics,
                target_average_value_milli=target,
                tolerances=tolerances,
                now=NOW,
                resource=resource,
            )
            assert out.replicas == current


# --- rate limits over sequences -------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(sc=scenarios(behaviors=BEHAVIORS))
def test_scaling_never_exceeds_policy_limits_over_any_period(sc: Scenario) -> None:
    """Relative to the real size at the start of every policy period (all changes are
    stored as events), a scale-up never passes the selected up limit and a scale-down never
    passes the selected down limit. Disabled never scales in that direction."""
    behavior = sc.behavior
    assert behavior is not None
    steps = run(sc)
    for i, step in enumerate(steps):
        if not step.normalized:
            continue
        cur, new, now = step.current, step.decision.replicas, step.now

        def start(period_s: int, i: int = i, now: float = now) -> int:
            return true_start(sc.initial, steps[:i], now, period_s)

        up, down = behavior.scale_up, behavior.scale_down
        if up.select_policy == "Disabled":
            assert new <= cur
        elif new > cur:
            assert new <= rules_limit(up, True, start), (i, step)
        if down.select_policy == "Disabled":
            assert new >= cur
        elif new < cur:
            assert new >= rules_limit(down, False, start), (i, step)


@settings(max_examples=250, deadline=None)
@given(sc=scenarios(behaviors=BEHAVIORS))
def test_scale_limits_match_period_start_rebuilt_from_real_sizes(sc: Scenario) -> None:
    """``scale_up_limit``/``scale_down_limit`` on the history a sync receives, against the
    limits from the real period-start sizes. Upstream reuses outdated event slots, so an
    event the other direction's longer period could still count may be lost: that only
    makes the limit stricter (up: ≤, down: ≥ for policies monotone in the start size), and
    nothing is lost when the direction's longest period is not longer than the other's."""
    behavior = sc.behavior
    assert behavior is not None
    up, down = behavior.scale_up, behavior.scale_down
    steps = run(sc)
    for i, step in enumerate(steps):
        cur, now = step.current, step.now

        def start(period_s: int, i: int = i, now: float = now) -> int:
            return true_start(sc.initial, steps[:i], now, period_s)

        got_up = hpa.scale_up_limit(cur, up, step.history, now)
        got_down = hpa.scale_down_limit(cur, down, step.history, now)
        if up.select_policy == "Disabled":
            assert got_up == cur
        else:
            want_up = rules_limit(up, True, start)
            assert got_up <= want_up
            if up.longest_period_s <= down.longest_period_s:
                assert got_up == want_up
        if down.select_policy == "Disabled":
            assert got_down == cur
        else:
            want_down = rules_limit(down, False, start)
            if all(p.type == "Pods" or p.value <= 100 for p in down.policies):
                assert got_down >= want_down
            if down.longest_period_s <= up.longest_period_s:
                assert got_down == want_down


@dataclass
class UpstreamEvent:
    time: float
    change: int
    outdated: bool = False


def upstream_store(events: list[UpstreamEvent], change: int, now: float, longest: int) -> None:
    """``storeScaleEvent`` for one direction: mark entries strictly older than now − longest
    outdated (sticky flag), overwrite the *last* outdated entry, else append."""
    for event in events:
        if event.time < now - longest:
            event.outdated = True
    last = None
    for index, event in enumerate(events):
        if event.outdated:
            last = index
    if last is None:
        events.append(UpstreamEvent(now, change))
    else:
        events[last] = UpstreamEvent(now, change)


def upstream_limit(
    current: int,
    rules: hpa.ScalingRules,
    up: bool,
    ups: list[UpstreamEvent],
    downs: list[UpstreamEvent],
    now: float,
) -> int:
    if rules.select_policy == "Disabled":
        return current

    def start(period_s: int) -> int:
        added = sum(e.change for e in ups if e.time > now - period_s)
        deleted = sum(e.change for e in downs if e.time > now - period_s)
        return current - added + deleted

    return rules_limit(rules, up, start)


@settings(max_examples=300, deadline=None)
@given(sc=st.one_of(scenarios(behaviors=BEHAVIORS), scenarios(behaviors=LOPSIDED, max_syncs=40)))
def test_scale_limits_match_upstream_event_lists(sc: Scenario) -> None:
    """The limits every sync sees equal those computed from a reference model of upstream's
    ``storeScaleEvent`` lists (``horizontal.go``), fed with the same size changes."""
    behavior = sc.behavior
    assert behavior is not None
    up, down = behavior.scale_up, behavior.scale_down
    ups: list[UpstreamEvent] = []
    downs: list[UpstreamEvent] = []
    for i, step in enumerate(run(sc)):
        cur, new, now = step.current, step.decision.replicas, step.now
        assert hpa.scale_up_limit(cur, up, step.history, now) == upstream_limit(
            cur, up, True, ups, downs, now
        ), (i, step, ups, downs)
        assert hpa.scale_down_limit(cur, down, step.history, now) == upstream_limit(
            cur, down, False, ups, downs, now
        ), (i, step, ups, downs)
        if new > cur:
            upstream_store(ups, new - cur, now, up.longest_period_s)
        elif new < cur:
            upstream_store(downs, cur - new, now, down.longest_period_s)


DISABLED_DOWN = st.fixed_dictionaries(
    {"scaleUp": rules_specs(up=True), "scaleDown": st.just({"selectPolicy": "Disabled"})}
).map(behavior_from)
DISABLED_UP = st.fixed_dictionaries(
    {"scaleUp": st.just({"selectPolicy": "Disabled"}), "scaleDown": rules_specs(up=False)}
).map(behavior_from)


@settings(max_examples=150, deadline=None)
@given(sc=scenarios(behaviors=DISABLED_DOWN))
def test_scale_down_disabled_never_decreases(sc: Scenario) -> None:
    for step in run(sc):
        if step.current <= sc.max_replicas:
            assert step.decision.replicas >= step.current
        else:
            assert step.decision.replicas == sc.max_replicas


@settings(max_examples=150, deadline=None)
@given(sc=scenarios(behaviors=DISABLED_UP))
def test_scale_up_disabled_never_increases(sc: Scenario) -> None:
    for step in run(sc):
        if step.current >= sc.min_replicas:
            assert step.decision.replicas <= step.current
        else:
            assert step.decision.replicas == (0 if step.current == 0 else sc.min_replicas)


# --- stabilization --------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(data=st.data(), behavior=MAYBE_BEHAVIORS, flag=FLAGS)
def test_stabilization_holds_back_against_recent_recommendations(
    data: st.DataObject, behavior: hpa.Behavior | None, flag: float
) -> None:
    min_r = data.draw(st.integers(0, 10))
    max_r = data.draw(st.integers(max(min_r, 1), 60))
    current = data.draw(st.integers(min_r, max_r))
    desired = data.draw(st.integers(0, 2 * max_r))
    if behavior is None:
        down_window, up_window = flag, 0.0
    else:
        set_down = behavior.scale_down.stabilization_window_s
        down_window = flag if set_down is None else float(set_down)
        up_window = float(behavior.scale_up.stabilization_window_s or 0)
    # recommendation ages around both window edges
    edges = sorted({0.0, down_window, up_window})
    ages = st.one_of(
        st.sampled_from(edges),
        st.sampled_from(edges).map(lambda e: e + 1.0),
        st.sampled_from(edges).map(lambda e: max(e - 1.0, 0.0)),
        st.floats(0.0, 1000.0),
    )
    recs = data.draw(
        st.lists(st.tuples(ages.map(lambda a: NOW - a), st.integers(0, 2 * max_r)), max_size=6)
    )
    events = data.draw(histories(NOW, 2 * max_r))
    history = hpa.HpaHistory(tuple(recs), events.scale_up_events, events.scale_down_events)
    out = hpa.normalize_replicas(
        current,
        desired,
        min_replicas=min_r,
        max_replicas=max_r,
        behavior=behavior,
        history=history,
        now=NOW,
        downscale_stabilization_s=flag,
    )
    if behavior is None:
        # legacy: inclusive edge, and it holds in both directions (max over the window)
        held = [r for t, r in recs if t >= NOW - down_window]
        if any(r >= current for r in held):
            assert out.replicas >= current
        assert out.stabilized == max([desired, *held])
    else:
        if any(r >= current for t, r in recs if t > NOW - down_window):
            assert out.replicas >= current
        if any(r <= current for t, r in recs if t > NOW - up_window):
            assert out.replicas <= current
        # HPA.md §8.1: clamp current between the up window's min and the down window's max
        up_rec = min([desired, *(r for t, r in recs if t > NOW - up_window)])
        down_rec = max([desired, *(r for t, r in recs if t > NOW - down_window)])
        assert out.stabilized == min(max(current, up_rec), down_rec)
        # so it lies between current and the proposal
        assert min(current, desired) <= out.stabilized <= max(current, desired)


# --- legacy cap -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(sc=scenarios(behaviors=st.none()))
def test_legacy_scale_up_per_sync_is_capped(sc: Scenario) -> None:
    for step in run(sc):
        if step.normalized:
            assert step.decision.replicas <= max(2 * step.current, 4)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    factor=st.sampled_from([2.0, 8.0, 1.5, 3.0]),
    minimum=st.sampled_from([4.0, 1.0, 10.0]),
)
def test_legacy_cap_with_other_factors(data: st.DataObject, factor: float, minimum: float) -> None:
    min_r = data.draw(st.integers(0, 10))
    max_r = data.draw(st.integers(max(min_r, 1), 200))
    current = data.draw(st.integers(min_r, max_r))
    desired = data.draw(st.integers(0, 3 * max_r))
    history = data.draw(histories(NOW, 3 * max_r))
    out = hpa.normalize_replicas(
        current,
        desired,
        min_replicas=min_r,
        max_replicas=max_r,
        behavior=None,
        history=history,
        now=NOW,
        scale_up_limit_factor=factor,
        scale_up_limit_minimum=minimum,
    )
    assert out.replicas <= max(int(max(factor * current, minimum)), current)


# --- determinism ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(sc=scenarios())
def test_same_inputs_same_outputs(sc: Scenario) -> None:
    assert run(sc) == run(sc)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), tolerances=TOLERANCES)
def test_calculator_is_deterministic(data: st.DataObject, tolerances: hpa.Tolerances) -> None:
    pods, metrics = data.draw(ready_pods(NOW))
    target = data.draw(st.integers(1, 200))
    first = hpa.resource_replicas(
        3, pods, metrics, target_utilization=target, tolerances=tolerances, now=NOW
    )
    again = hpa.resource_replicas(
        3, list(pods), dict(metrics), target_utilization=target, tolerances=tolerances, now=NOW
    )
    assert first == again


# --- hand-picked rows -----------------------------------------------------------------------


def one_policy(direction: str, kind: str, value: int, period: int = 60) -> hpa.Behavior:
    rules = {
        "selectPolicy": "Max",
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": kind, "value": value, "periodSeconds": period}],
    }
    return behavior_from({direction: rules})


@pytest.mark.parametrize(
    ("start", "percent", "limit"),
    [
        (10, 10, 11),  # 10 * 1.1 == 11.0 exactly in float64
        (50, 10, 56),  # 50 * 1.1 == 55.00000000000001 -> ceil 56 (exact: 55)
        (25, 12, 29),  # 25 * 1.12 == 28.000000000000004 -> 29 (exact: 28)
        (4, 100, 8),
        (1, 1, 2),
        (0, 100, 0),
    ],
)
def test_percent_scale_up_rounds_up_in_float64(start: int, percent: int, limit: int) -> None:
    behavior = one_policy("scaleUp", "Percent", percent)
    assert hpa.scale_up_limit(start, behavior.scale_up, hpa.HpaHistory(), NOW) == limit
    out = hpa.normalize_replicas(
        start,
        1000,
        min_replicas=0,
        max_replicas=500,
        behavior=behavior,
        history=hpa.HpaHistory(),
        now=NOW,
    )
    assert out.replicas == max(limit, start)


@pytest.mark.parametrize(
    ("start", "percent", "limit"),
    [
        (10, 10, 9),
        (10, 90, 0),  # 10 * 0.09999999999999998 -> 0 (exact: 1)
        (5, 80, 0),  # 5 * 0.19999999999999996 -> 0 (exact: 1)
        (3, 33, 2),
        (100, 7, 93),
        (7, 150, -3),  # int() truncates toward zero: -3.5 -> -3
    ],
)
def test_percent_scale_down_truncates_in_float64(start: int, percent: int, limit: int) -> None:
    behavior = one_policy("scaleDown", "Percent", percent)
    assert hpa.scale_down_limit(start, behavior.scale_down, hpa.HpaHistory(), NOW) == limit


def test_store_scale_event_overwrites_the_last_outdated_entry() -> None:
    """``storeScaleEvent`` keeps the index of the *last* outdated entry (its loop has no
    break) and overwrites that one. A scale-down policy with a longer period than the
    scale-up policies still counts outdated scale-up events, so which one is overwritten
    changes the decision.

    Up: Pods 100 / 15 s (anything goes); down: Pods 1 / 600 s, no windows. Syncs: 1 → 6 at
    t=0 (+5), → 7 at t=15 (+1; the t=0 event is not older than 15 s yet, so appended), hold
    at t=30, → 8 at t=45 (+1; both earlier events are now outdated: upstream overwrites the
    t=15 one, keeping [+5 @0, +1 @45]). At t=60 a proposal of 1: added in 600 s = 6, period
    start 2, limit 1 → 1 replica. Overwriting the t=0 event instead keeps [+1 @45, +1 @15],
    start 6, limit 5.
    """
    behavior = behavior_from(
        {
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 100, "periodSeconds": 15}],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}],
            },
        }
    )
    current, history = 1, hpa.HpaHistory()
    for t, proposal, expected in [(0, 6, 6), (15, 7, 7), (30, 7, 7), (45, 8, 8)]:
        d = hpa.reconcile(
            current,
            [proposal],
            min_replicas=1,
            max_replicas=100,
            behavior=behavior,
            history=history,
            now=NOW + t,
        )
        assert d.replicas == expected
        current, history = d.replicas, d.history
    assert hpa.scale_down_limit(current, behavior.scale_down, history, NOW + 60) == 1
    d = hpa.reconcile(
        current,
        [1],
        min_replicas=1,
        max_replicas=100,
        behavior=behavior,
        history=history,
        now=NOW + 60,
    )
    assert d.replicas == 1
