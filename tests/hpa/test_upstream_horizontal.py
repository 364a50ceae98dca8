"""Upstream HPA normalization, behavior and defaulting tests, re-expressed for ``capsim.hpa``.

Sources (kubernetes/kubernetes; case names below are the upstream names):

* ``pkg/controller/podautoscaler/horizontal_test.go`` (commit 003e86297d18): the unit
  tables of ``normalizeDesiredReplicas*``, ``convertDesiredReplicasWith*``,
  ``storeScaleEvent`` and the scale-limit helpers, plus the controller tests whose point is
  reconciliation (min/max, caps, stabilization, failing metrics) rather than the replica
  calculator. The controller tests are reduced to ``hpa.reconcile`` given each metric's
  proposal, worked out by hand from the upstream pod usage/requests and noted per case.
* ``pkg/apis/autoscaling/v2/defaults_test.go`` (commit e0a566e71f69):
  ``GenerateHPAScaleUpRules`` / ``GenerateHPAScaleDownRules`` through
  ``hpa.Behavior.from_spec``.

Conventions of the translation:

* Upstream times are ``time.Now()`` minus offsets; here they are ``NOW`` minus seconds.
* ``horizontal_test.go`` sets ``scaleUpLimitFactor = 8`` for the whole package, so every
  legacy (no ``behavior``) case passes ``scale_up_limit_factor=8``.
* Upstream distinguishes a nil recommendation log (seeded with the current size by
  ``recordInitialRecommendation``) from an empty, non-nil one (not seeded). ``reconcile``
  seeds an empty ``HpaHistory``, so "not seeded" is written as ``UNSEEDED``: one
  recommendation an hour old, older than any stabilization window the API allows (3600 s),
  hence never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from capsim import hpa

NOW = 1_000_000.0
MINUTE = 60.0
LEGACY = {"scale_up_limit_factor": 8.0}  # horizontal_test.go init(): scaleUpLimitFactor = 8
UNSEEDED = hpa.HpaHistory(recommendations=((NOW - 3600.0, 999),))

Events = tuple[tuple[float, int], ...]


def gen_rules(
    pods: int = 0,
    pods_period: int = 0,
    percent: int = 0,
    percent_period: int = 0,
    window: int = 0,
    select: str = "Max",
) -> dict[str, Any]:
    """``generateScalingRules``: a Pods and/or Percent policy (value 0 = left out)."""
    policies: list[dict[str, Any]] = []
    if pods:
        policies.append({"type": "Pods", "value": pods, "periodSeconds": pods_period})
    if percent:
        policies.append({"type": "Percent", "value": percent, "periodSeconds": percent_period})
    return {"stabilizationWindowSeconds": window, "selectPolicy": select, "policies": policies}


def behavior(up: dict[str, Any] | None = None, down: dict[str, Any] | None = None) -> hpa.Behavior:
    """A defaulted behavior; a missing direction gets the API defaults, as upstream."""
    spec: dict[str, Any] = {}
    if up is not None:
        spec["scaleUp"] = up
    if down is not None:
        spec["scaleDown"] = down
    result = hpa.Behavior.from_spec(spec)
    assert result is not None
    return result


def uniform(changes: list[int], period_s: int) -> Events:
    """``generateEventsUniformDistribution``: one event in the middle of each equal segment
    of the last ``period_s`` seconds, oldest first (Go truncates the offset to whole seconds).
    """
    segment = period_s / len(changes)
    return tuple(
        (NOW - int(period_s - segment * (i + 1) + segment / 2), change)
        for i, change in enumerate(changes)
    )


def recs(*pairs: tuple[int, float]) -> Events:
    """Recommendations written as upstream does: ``(replicas, seconds ago)``."""
    return tuple((NOW - ago, replicas) for replicas, ago in pairs)


# --- TestConvertDesiredReplicasWithRules (legacy min/max/scale-up cap) -----------------------


@pytest.mark.parametrize(
    ("current", "desired", "min_r", "max_r", "expected", "condition"),
    [
        pytest.param(5, 7, 3, 8, 7, "DesiredWithinRange",
                     id="prenormalized desired replicas within range"),
        pytest.param(3, 1, 2, 8, 2, "TooFewReplicas",
                     id="prenormalized desired replicas < minReplicas"),
        pytest.param(1, 0, 0, 10, 0, "DesiredWithinRange",
                     id="prenormalized desired zeroed replicas within range"),
        pytest.param(20, 1000, 1, 10, 10, "TooManyReplicas",
                     id="maxReplicas is the limit because maxReplicas < scaleUpLimit"),
        # calculateScaleUpLimit(3) = max(8 * 3, 4) = 24
        pytest.param(3, 1000, 1, 2000, 24, "ScaleUpLimit",
                     id="scaleUpLimit is the limit because scaleUpLimit < maxReplicas"),
    ],
)  # fmt: skip
def test_convert_desired_replicas_with_rules(
    current: int, desired: int, min_r: int, max_r: int, expected: int, condition: str
) -> None:
    # An empty log makes legacy stabilization a no-op, leaving convertDesiredReplicasWithRules.
    out = hpa.normalize_replicas(
        current, desired, min_replicas=min_r, max_replicas=max_r, behavior=None,
        history=hpa.HpaHistory(), now=NOW, **LEGACY,
    )  # fmt: skip
    assert out.stabilized == desired
    assert out.replicas == expected
    assert out.limit_reason == condition


# --- TestNormalizeDesiredReplicas (legacy stabilization, 5 min window) ----------------------


@pytest.mark.parametrize(
    ("log", "desired", "expected", "expected_log"),
    [
        pytest.param((), 5, 5, recs((5, 0)), id="empty log"),
        pytest.param(recs((4, 2 * MINUTE), (5, MINUTE)), 3, 5,
                     recs((4, 2 * MINUTE), (5, MINUTE), (3, 0)), id="stabilize"),
        pytest.param(recs((1, 2 * MINUTE), (2, MINUTE)), 3, 3,
                     recs((1, 2 * MINUTE), (2, MINUTE), (3, 0)), id="no stabilize"),
        # both entries are older than the window; the last old one is overwritten
        pytest.param(recs((10, 10 * MINUTE), (9, 9 * MINUTE)), 3, 3,
                     recs((10, 10 * MINUTE), (3, 0)), id="no stabilize - old recommendations"),
        pytest.param(recs((10, 10 * MINUTE), (4, MINUTE), (5, 2 * MINUTE), (9, 9 * MINUTE)), 3, 5,
                     recs((10, 10 * MINUTE), (4, MINUTE), (5, 2 * MINUTE), (3, 0)),
                     id="stabilize - old recommendations"),
    ],
)  # fmt: skip
def test_normalize_desired_replicas(
    log: Events, desired: int, expected: int, expected_log: Events
) -> None:
    out = hpa.normalize_replicas(
        5, desired, min_replicas=1, max_replicas=100, behavior=None,
        history=hpa.HpaHistory(recommendations=log), now=NOW,
        downscale_stabilization_s=300.0, **LEGACY,
    )  # fmt: skip
    assert out.stabilized == expected
    # upstream asserts the log length; the contents follow stabilizeRecommendation
    assert len(out.history.recommendations) == len(expected_log)
    assert out.history.recommendations == expected_log


# --- TestNormalizeDesiredReplicasWithBehavior (stabilizeRecommendationWithBehaviors) --------


@dataclass(frozen=True)
class StabilizeCase:
    log: Events
    current: int
    desired: int
    expected: int
    expected_log: Events | None = None  # None: upstream does not check the stored log
    up_window: int = 0  # the upstream struct's zero value, not the API default
    down_window: int = 0


STABILIZE_CASES = {
    "empty recommendations for scaling down": StabilizeCase(
        (), 100, 5, 5, recs((5, 0))),
    "simple scale down stabilization": StabilizeCase(
        recs((4, 2 * MINUTE), (5, MINUTE)), 100, 3, 5,
        recs((4, 2 * MINUTE), (5, MINUTE), (3, 0)), down_window=180),
    "simple scale up stabilization": StabilizeCase(
        recs((4, 2 * MINUTE), (5, MINUTE)), 1, 7, 4,
        recs((4, 2 * MINUTE), (5, MINUTE), (7, 0)), up_window=300),
    "no scale down stabilization": StabilizeCase(
        recs((1, 2 * MINUTE), (2, MINUTE)), 100, 3, 3,
        recs((1, 2 * MINUTE), (2, MINUTE), (3, 0)), up_window=300),
    "no scale up stabilization": StabilizeCase(
        recs((4, 2 * MINUTE), (5, MINUTE)), 1, 3, 3,
        recs((4, 2 * MINUTE), (5, MINUTE), (3, 0)), down_window=300),
    "no scale down stabilization, reuse recommendation element": StabilizeCase(
        recs((10, 10 * MINUTE), (9, 9 * MINUTE)), 100, 3, 3,
        recs((10, 10 * MINUTE), (3, 0))),
    "no scale up stabilization, reuse recommendation element": StabilizeCase(
        recs((10, 10 * MINUTE), (9, 9 * MINUTE)), 1, 100, 100,
        recs((10, 10 * MINUTE), (100, 0))),
    "scale down stabilization, reuse one of obsolete recommendation element": StabilizeCase(
        recs((10, 10 * MINUTE), (4, MINUTE), (5, 2 * MINUTE), (9, 9 * MINUTE)), 100, 3, 5,
        recs((10, 10 * MINUTE), (4, MINUTE), (5, 2 * MINUTE), (3, 0)), down_window=180),
    "scale up stabilization, reuse one of obsolete recommendation element": StabilizeCase(
        recs((10, 100 * MINUTE), (6, MINUTE), (5, 2 * MINUTE), (9, 3 * MINUTE)), 1, 100, 5,
        recs((100, 0), (6, MINUTE), (5, 2 * MINUTE), (9, 3 * MINUTE)), up_window=300),
    "scale up and down stabilization, do not scale up when prenormalized rec goes down":
        StabilizeCase(recs((2, 100 * MINUTE), (3, 3 * MINUTE)), 2, 1, 2,
                      up_window=300, down_window=300),
    "scale up and down stabilization, do not scale down when prenormalized rec goes up":
        StabilizeCase(recs((2, 100 * MINUTE), (1, 3 * MINUTE)), 2, 3, 2,
                      up_window=300, down_window=300),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STABILIZE_CASES.values()), ids=list(STABILIZE_CASES))
def test_normalize_desired_replicas_with_behavior(case: StabilizeCase) -> None:
    rules = behavior(
        up={"stabilizationWindowSeconds": case.up_window},
        down={"stabilizationWindowSeconds": case.down_window},
    )
    out = hpa.normalize_replicas(
        case.current, case.desired, min_replicas=1, max_replicas=1000, behavior=rules,
        history=hpa.HpaHistory(recommendations=case.log), now=NOW,
    )  # fmt: skip
    assert out.stabilized == case.expected
    if case.expected_log is not None:
        # upstream compares the stored values in order; the new one is stored at NOW
        assert [r for _, r in out.history.recommendations] == [r for _, r in case.expected_log]
        assert out.history.recommendations == case.expected_log


# --- TestScalingWithRules (convertDesiredReplicasWithBehaviorRate) ---------------------------


@dataclass(frozen=True)
class RateCase:
    current: int
    desired: int
    min_r: int
    max_r: int
    expected: int
    condition: str
    up: dict[str, Any] | None = None  # None: GenerateHPAScaleUpRules(nil), the defaults
    down: dict[str, Any] | None = None
    up_events: Events = ()
    down_events: Events = ()


RATE_CASES = {
    "prenormalized desired replicas within range":
        RateCase(5, 7, 3, 8, 7, "DesiredWithinRange"),
    "prenormalized desired replicas < minReplicas":
        RateCase(3, 1, 2, 8, 2, "TooFewReplicas"),
    "prenormalized desired replicas within range when minReplicas is 0":
        RateCase(1, 0, 0, 10, 0, "DesiredWithinRange"),
    "maxReplicas is the limit because maxReplicas < scaleUpLimit":
        RateCase(20, 1000, 1, 10, 10, "TooManyReplicas"),
    "desired replica count is more than the maximum replica count":
        RateCase(100, 1000, 100, 150, 150, "TooManyReplicas"),
    "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies":
        RateCase(3, 1000, 1, 2000, 4, "ScaleUpLimit", up=gen_rules(0, 0, 1, 60, 0)),
    # upstream marks this one testThis=true and returns early (dropped on master); the
    # arithmetic (1000 - 20 Pods per 60 s) is plain, so it is kept
    "scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies":
        RateCase(1000, 3, 3, 2000, 980, "ScaleDownLimit", down=gen_rules(20, 60, 0, 0, 0)),
    "scaleUp with default behavior":
        RateCase(10, 50, 1, 1000, 20, "ScaleUpLimit"),
    "scaleUp with pods policy larger than percent policy":
        RateCase(10, 500, 1, 1000, 110, "ScaleUpLimit", up=gen_rules(100, 60, 100, 60, 0)),
    "scaleUp with percent policy larger than pods policy":
        RateCase(10, 500, 1, 1000, 20, "ScaleUpLimit", up=gen_rules(2, 60, 100, 60, 0)),
    "scaleUp with spec MaxReplicas limitation with large pod policy":
        RateCase(10, 50, 1, 1000, 50, "DesiredWithinRange", up=gen_rules(100, 60, 0, 0, 0)),
    "scaleUp with spec MaxReplicas limitation with large percent policy":
        RateCase(10, 50, 1, 1000, 50, "DesiredWithinRange", up=gen_rules(10000, 60, 0, 0, 0)),
    "scaleUp with pod policy limitation":
        RateCase(10, 50, 1, 1000, 40, "ScaleUpLimit", up=gen_rules(30, 60, 0, 0, 0)),
    "scaleUp with percent policy limitation":
        RateCase(10, 50, 1, 1000, 30, "ScaleUpLimit", up=gen_rules(0, 0, 200, 60, 0)),
    "scaleDown with percent policy larger than pod policy":
        RateCase(100, 2, 1, 1000, 80, "ScaleDownLimit", down=gen_rules(20, 60, 1, 60, 300)),
    "scaleDown with pod policy larger than percent policy":
        RateCase(100, 2, 1, 1000, 98, "ScaleDownLimit", down=gen_rules(2, 60, 1, 60, 300)),
    "scaleDown with spec MinReplicas=nil limitation with large pod policy":
        RateCase(10, 0, 1, 1000, 1, "TooFewReplicas", down=gen_rules(100, 60, 0, 0, 300)),
    "scaleDown with spec MinReplicas limitation with large pod policy":
        RateCase(10, 0, 1, 1000, 1, "TooFewReplicas", down=gen_rules(100, 60, 0, 0, 300)),
    "scaleDown with spec MinReplicas limitation with large percent policy":
        RateCase(10, 2, 5, 1000, 5, "TooFewReplicas", down=gen_rules(0, 0, 100, 60, 300)),
    "scaleDown with pod policy limitation":
        RateCase(10, 2, 1, 1000, 5, "ScaleDownLimit", down=gen_rules(5, 60, 0, 0, 300)),
    "scaleDown with percent policy limitation":
        RateCase(10, 5, 1, 1000, 5, "DesiredWithinRange", down=gen_rules(0, 0, 50, 60, 300)),
    # events [1, 5, 9] over 120 s land at -100 s, -60 s, -20 s
    "scaleUp with spec MaxReplicas limitation with large pod policy and events":
        RateCase(100, 500, 1, 200, 200, "TooManyReplicas", up=gen_rules(300, 60, 0, 0, 0),
                 up_events=uniform([1, 5, 9], 120)),
    "scaleUp with spec MaxReplicas limitation with large percent policy and events":
        RateCase(100, 500, 1, 200, 200, "TooManyReplicas", up=gen_rules(0, 0, 10000, 60, 0),
                 up_events=uniform([1, 5, 9], 120)),
    "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent "
    "scale up events":
        RateCase(100, 500, 1, 1000, 100, "ScaleUpLimit", up=gen_rules(5, 120, 0, 0, 0),
                 up_events=uniform([1, 5, 9], 120)),
    "scaleUp with pod policy and previous scale up events":
        RateCase(100, 500, 1, 1000, 235, "ScaleUpLimit", up=gen_rules(150, 120, 0, 0, 0),
                 up_events=uniform([1, 5, 9], 120)),
    "scaleUp with percent policy and previous scale up events":
        RateCase(100, 500, 1, 1000, 255, "ScaleUpLimit", up=gen_rules(0, 0, 200, 120, 0),
                 up_events=uniform([1, 5, 9], 120)),
    "scaleUp with percent policy and previous scale up and down events":
        RateCase(6, 24, 1, 1000, 16, "ScaleUpLimit", up=gen_rules(0, 0, 300, 300, 0),
                 up_events=uniform([4], 120), down_events=uniform([2], 120)),
    "scaleDown with default policy and previous events":
        RateCase(10, 5, 1, 1000, 5, "DesiredWithinRange",
                 down_events=uniform([1, 5, 9], 120)),
    "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events":
        RateCase(100, 0, 1, 1000, 1, "TooFewReplicas", down=gen_rules(115, 120, 0, 0, 300),
                 down_events=uniform([1, 5, 9], 120)),
    "scaleDown with spec MinReplicas limitation with large pod policy and previous events":
        RateCase(100, 0, 5, 1000, 5, "TooFewReplicas", down=gen_rules(130, 120, 0, 0, 300),
                 down_events=uniform([1, 5, 9], 120)),
    "scaleDown with spec MinReplicas limitation with large percent policy and previous events":
        RateCase(100, 2, 5, 1000, 5, "TooFewReplicas", down=gen_rules(0, 0, 100, 120, 300),
                 down_events=uniform([1, 5, 9], 120)),
    "scaleDown with pod policy limitation and previous events":
        RateCase(100, 2, 1, 1000, 100, "ScaleDownLimit", down=gen_rules(5, 120, 0, 0, 300),
                 down_events=uniform([1, 5, 9], 120)),
    "scaleDown with percent policy limitation and previous events":
        RateCase(100, 0, 1, 1000, 56, "ScaleDownLimit", down=gen_rules(0, 0, 50, 120, 300),
                 down_events=uniform([2, 4, 6], 120)),
    "scaleDown with percent policy and previous scale up and down events":
        RateCase(10, 1, 1, 1000, 6, "ScaleDownLimit", down=gen_rules(0, 0, 50, 180, 0),
                 up_events=uniform([2], 120), down_events=uniform([4], 120)),
    "scaleDown with previous events preventing further scale down":
        RateCase(100, 0, 1, 1000, 100, "ScaleDownLimit", down=gen_rules(0, 0, 10, 120, 300),
                 down_events=uniform([10, 10, 10], 120)),
    "scaleDown with with previous events still allowing more scale down":
        RateCase(10, 5, 1, 1000, 5, "DesiredWithinRange", down=gen_rules(0, 0, 1000, 120, 300),
                 down_events=uniform([10, 10, 10], 120)),
    # events [8, 12, 9, 11] over 120 s land at -105 s, -75 s, -45 s, -15 s
    "check 'outdated' flag for events for one behavior for up":
        RateCase(100, 200, 1, 1000, 200, "DesiredWithinRange", up=gen_rules(1000, 60, 0, 0, 0),
                 up_events=uniform([8, 12, 9, 11], 120)),
    "check that events were not marked 'outdated' for two different policies in the behavior "
    "for up":
        RateCase(100, 200, 1, 1000, 200, "DesiredWithinRange",
                 up=gen_rules(1000, 120, 100, 60, 0), up_events=uniform([8, 12, 9, 11], 120)),
    "check that events were marked 'outdated' for two different policies in the behavior for up":
        RateCase(100, 200, 1, 1000, 200, "DesiredWithinRange",
                 up=gen_rules(1000, 30, 100, 60, 0), up_events=uniform([8, 12, 9, 11], 120)),
    "check 'outdated' flag for events for one behavior for down":
        RateCase(100, 5, 1, 1000, 5, "DesiredWithinRange", down=gen_rules(1000, 60, 0, 0, 300),
                 down_events=uniform([8, 12, 9, 11], 120)),
    "check that events were not marked 'outdated' for two different policies in the behavior "
    "for down":
        RateCase(100, 5, 1, 1000, 5, "DesiredWithinRange",
                 down=gen_rules(1000, 120, 100, 60, 300),
                 down_events=uniform([8, 12, 9, 11], 120)),
    "check that events were marked 'outdated' for two different policies in the behavior for "
    "down":
        RateCase(100, 5, 1, 1000, 5, "DesiredWithinRange",
                 down=gen_rules(1000, 30, 100, 60, 300),
                 down_events=uniform([8, 12, 9, 11], 120)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(RATE_CASES.values()), ids=list(RATE_CASES))
def test_scaling_with_rules(case: RateCase) -> None:
    # No recommendations: stabilization passes the proposal through, leaving the rate limits.
    out = hpa.normalize_replicas(
        case.current, case.desired, min_replicas=case.min_r, max_replicas=case.max_r,
        behavior=behavior(case.up, case.down),
        history=hpa.HpaHistory(scale_up_events=case.up_events,
                               scale_down_events=case.down_events),
        now=NOW,
    )  # fmt: skip
    assert out.stabilized == case.desired
    assert out.replicas == case.expected
    assert out.limit_reason == case.condition


# --- TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors ----

MIN_SELECT_RULES = gen_rules(2, 60, 50, 60, 300, select="Min")


def test_calculate_scale_up_limit_with_scaling_rules() -> None:
    # from 1: Pods 2 -> 3, Percent 50 % -> ceil(1.5) = 2; Min select -> 2
    out = hpa.normalize_replicas(
        1, 100, min_replicas=1, max_replicas=1000, behavior=behavior(up=MIN_SELECT_RULES),
        history=hpa.HpaHistory(), now=NOW,
    )  # fmt: skip
    assert out.replicas == 2
    assert out.limit_reason == "ScaleUpLimit"


def test_calculate_scale_down_limit_with_behaviors() -> None:
    # from 5: Pods 2 -> 3, Percent 50 % -> trunc(2.5) = 2; Min select -> 3
    out = hpa.normalize_replicas(
        5, 1, min_replicas=1, max_replicas=1000, behavior=behavior(down=MIN_SELECT_RULES),
        history=hpa.HpaHistory(), now=NOW,
    )  # fmt: skip
    assert out.replicas == 3
    assert out.limit_reason == "ScaleDownLimit"


# --- TestStoreScaleEvents ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoreCase:
    prev: tuple[tuple[int, float], ...]  # (replica change, seconds ago)
    rules: dict[str, Any] | None  # None: no behavior at all (legacy path, nothing stored)
    expected: tuple[tuple[int, float], ...]  # stored list afterwards, (change, seconds ago)
    change_last_60s: int  # getReplicasChangePerPeriod(60, prev)


STORE_CASES = {
    "empty entries with default behavior": StoreCase((), None, (), 0),
    "empty entries with two-policy-behavior": StoreCase(
        (), gen_rules(10, 60, 100, 60, 0), ((5, 0),), 0),
    "one outdated entry to be kept untouched without behavior": StoreCase(
        ((7, 61),), None, ((7, 61),), 0),
    "one outdated entry to be replaced with behavior": StoreCase(
        ((7, 61),), gen_rules(10, 60, 100, 60, 0), ((5, 0),), 0),
    "one actual entry to be not touched with behavior": StoreCase(
        ((7, 58),), gen_rules(10, 60, 100, 60, 0), ((7, 58), (5, 0)), 7),
    "two entries, one of them to be replaced": StoreCase(
        ((7, 61), (6, 59)), gen_rules(10, 60, 0, 0, 0), ((5, 0), (6, 59)), 6),
    # the longest period is 60 s: 7 and 9 are outdated; the last outdated entry is replaced
    "replace one entry, use policies with different periods": StoreCase(
        ((8, 29), (6, 59), (7, 61), (9, 61)), gen_rules(10, 60, 100, 30, 0),
        ((8, 29), (6, 59), (7, 61), (5, 0)), 14),
    "two entries, both actual": StoreCase(
        ((7, 58), (6, 59)), gen_rules(10, 120, 100, 30, 0), ((7, 58), (6, 59), (5, 0)), 13),
}  # fmt: skip

# storeScaleEvent only looks at the longest policy period. To reach it through
# normalize_replicas the +-5 change must not be rate limited, so one extra Pods 1000 / 1 s
# policy is added: it allows any change and leaves the longest period unchanged.
UNLIMITED_1S = {"type": "Pods", "value": 1000, "periodSeconds": 1}


def as_events(pairs: tuple[tuple[int, float], ...]) -> Events:
    return tuple((NOW - ago, change) for change, ago in pairs)


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("case", list(STORE_CASES.values()), ids=list(STORE_CASES))
def test_store_scale_events(case: StoreCase, direction: str) -> None:
    rules = None
    if case.rules is not None:
        spec = {**case.rules, "policies": [*case.rules["policies"], UNLIMITED_1S]}
        rules = behavior(up=spec) if direction == "up" else behavior(down=spec)
    events = as_events(case.prev)
    if direction == "up":
        history = hpa.HpaHistory(scale_up_events=events)
        desired = 10 + 5
    else:
        history = hpa.HpaHistory(scale_down_events=events)
        desired = 10 - 5
    out = hpa.normalize_replicas(
        10, desired, min_replicas=1, max_replicas=1000, behavior=rules, history=history,
        now=NOW, **LEGACY,
    )  # fmt: skip
    assert out.replicas == desired
    stored = out.history.scale_up_events if direction == "up" else out.history.scale_down_events
    other = out.history.scale_down_events if direction == "up" else out.history.scale_up_events
    assert [change for _, change in stored] == [change for change, _ in case.expected]
    assert stored == as_events(case.expected)
    assert other == ()


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("case", list(STORE_CASES.values()), ids=list(STORE_CASES))
def test_store_scale_events_replicas_change_per_period(case: StoreCase, direction: str) -> None:
    """The upstream table's ``getReplicasChangePerPeriod(60, prev)`` check, observed through a
    single Pods 100 / 60 s policy: the limit is (current -/+ change in the last 60 s) +/- 100.
    """
    rules = gen_rules(100, 60, 0, 0, 0)
    events = as_events(case.prev)
    if direction == "up":
        out = hpa.normalize_replicas(
            200, 1000, min_replicas=1, max_replicas=2000, behavior=behavior(up=rules),
            history=hpa.HpaHistory(scale_up_events=events), now=NOW,
        )  # fmt: skip
        assert out.replicas == 200 - case.change_last_60s + 100
        assert out.limit_reason == "ScaleUpLimit"
    else:
        out = hpa.normalize_replicas(
            200, 1, min_replicas=1, max_replicas=2000, behavior=behavior(down=rules),
            history=hpa.HpaHistory(scale_down_events=events), now=NOW,
        )  # fmt: skip
        assert out.replicas == 200 + case.change_last_60s - 100
        assert out.limit_reason == "ScaleDownLimit"


# --- Controller tests that reduce to reconcile(proposals) ------------------------------------

FAIL = hpa.MetricsError("unable to get metric")


@dataclass(frozen=True)
class SyncCase:
    current: int
    proposals: tuple[int | hpa.MetricsError, ...]
    min_r: int
    max_r: int
    expected: int
    reason: str | None = None  # None: upstream asserts no normalization condition
    history: hpa.HpaHistory = field(default_factory=hpa.HpaHistory)  # empty: seeded
    behavior: hpa.Behavior | None = None
    metrics_skipped: bool = False  # current outside [min, max] or 0: no metric is read


SYNC_CASES = {
    # cpu 1500m of 3000m = 50 % vs 30 % -> ceil(5/3 * 3) = 5
    "TestScaleUp": SyncCase(3, (5,), 2, 6, 5, "DesiredWithinRange"),
    # cpu 1400m of 5000m = 28 % vs 50 % -> ceil(0.56 * 5) = 3; recommendations: []
    "TestScaleDown": SyncCase(5, (3,), 2, 6, 3, "DesiredWithinRange", UNSEEDED),
    "TestScaleDownWithScalingRules": SyncCase(
        5, (3,), 2, 6, 3, "DesiredWithinRange", UNSEEDED,
        behavior=behavior(up=gen_rules(0, 0, 100, 15, 30))),
    # cpu 40 % vs 30 % -> 4; the CheddarCheese metric fails, which does not block a scale-up
    "TestScaleUpOneMetricInvalid": SyncCase(3, (4, FAIL), 2, 6, 4, "DesiredWithinRange"),
    # from zero with minReplicas 0: 3 ready pods -> 4; legacy cap max(8 * 0, 4) = 4
    "TestScaleUpFromZeroOneMetricInvalid": SyncCase(
        0, (4, FAIL), 0, 6, 4, "DesiredWithinRange", UNSEEDED),
    "TestScaleUpBothMetricsEmpty": SyncCase(3, (FAIL,), 2, 6, 3),
    # recommendations nil: the seeded current size holds the scale-down back
    "TestScaleDownStabilizeInitialSize": SyncCase(5, (3,), 2, 6, 5, "ScaleDownStabilized"),
    # object value 20 vs 15 from zero -> ceil(20 / 15) = 2
    "TestScaleUpFromZeroCMObject": SyncCase(0, (2,), 0, 6, 2, "DesiredWithinRange"),
    # object value 0 -> 0 with minReplicas 0
    "TestScaleDownToZeroCMObject": SyncCase(5, (0,), 0, 6, 0, "DesiredWithinRange", UNSEEDED),
    # cpu 115m of 3000m = 3 % vs 90 % -> 1
    "TestMinReplicas": SyncCase(3, (1,), 2, 5, 2, "TooFewReplicas", UNSEEDED),
    "TestZeroMinReplicasDesiredZero": SyncCase(3, (0,), 0, 5, 0, "DesiredWithinRange", UNSEEDED),
    "TestMinReplicasDesiredZero": SyncCase(3, (0,), 2, 5, 2, "TooFewReplicas", UNSEEDED),
    "TestZeroReplicas": SyncCase(0, (), 3, 5, 0, "ScalingDisabled", metrics_skipped=True),
    "TestTooFewReplicas": SyncCase(2, (), 3, 5, 3, metrics_skipped=True),
    "TestTooManyReplicas": SyncCase(10, (), 3, 5, 5, metrics_skipped=True),
    # cpu 18500m of 3000m = 616 % vs 90 % -> ceil(6.84 * 3) = 21
    "TestMaxReplicas": SyncCase(3, (21,), 2, 5, 5, "TooManyReplicas"),
    # samples of 6 pods, 4 known: 23500m of 4000m = 587 % vs 100 % -> ceil(5.87 * 4) = 24
    "TestSuperfluousMetrics": SyncCase(4, (24,), 2, 6, 6, "TooManyReplicas"),
    "TestEmptyMetrics": SyncCase(4, (FAIL,), 2, 6, 4),
    "TestEmptyCPURequest": SyncCase(1, (FAIL,), 1, 5, 1),
    # 200m of 200m = 100 % vs 50 % -> 2
    "TestEventCreated": SyncCase(1, (2,), 1, 5, 2, "DesiredWithinRange"),
    "TestEventNotCreated": SyncCase(2, (2,), 1, 5, 2, "DesiredWithinRange"),
    # one pod reports 100 % vs 50 % -> 2
    "TestMissingReports": SyncCase(4, (2,), 1, 5, 2, "DesiredWithinRange", UNSEEDED),
    # cpu 600m of 300m = 200 % vs 10 % -> 60; scaleUp Percent 700 % / 60 s -> 3 * 8 = 24
    "TestUpscaleCap": SyncCase(
        3, (60,), 1, 100, 24, "ScaleUpLimit", behavior=behavior(up=gen_rules(0, 0, 700, 60, 0))),
    "TestUpscaleCapGreaterThanMaxReplicas": SyncCase(
        3, (60,), 1, 20, 20, "TooManyReplicas",
        behavior=behavior(up=gen_rules(0, 0, 700, 60, 0))),
    # all metrics fail (resource, pods, object and external variants alike)
    "TestConditionFailedGetMetrics": SyncCase(3, (FAIL,), 1, 100, 3),
    # qps average 20 vs 15 -> 4
    "TestNoBackoffUpscaleCM": SyncCase(3, (4,), 1, 5, 4, "DesiredWithinRange"),
    # cpu 2000 % vs 10 % -> 600 and qps -> 4; max wins
    "TestNoBackoffUpscaleCMNoBackoffCpu": SyncCase(3, (600, 4), 1, 5, 5, "TooManyReplicas"),
    # cpu 50 % vs 100 % -> 2; the 4 from a minute ago holds, the 10 from 10 minutes ago not
    "TestStabilizeDownscale": SyncCase(
        4, (2,), 1, 5, 4, "ScaleDownStabilized",
        hpa.HpaHistory(recommendations=recs((10, 10 * MINUTE), (4, MINUTE)))),
    "TestScaleUpRCImmediately": SyncCase(1, (), 2, 6, 2, metrics_skipped=True),
    "TestScaleDownRCImmediately": SyncCase(6, (), 2, 5, 5, metrics_skipped=True),
    # cpu 40 % vs 30 % -> 4; the external metric fails
    "TestScaleUpOneMetricEmpty": SyncCase(3, (4, FAIL), 2, 6, 4, "DesiredWithinRange"),
    # cpu 28 % vs 50 % -> 3 would scale down, but a failing metric blocks scale-down
    "TestNoScaleDownOneMetricInvalid": SyncCase(5, (3, FAIL), 2, 6, 5, None, UNSEEDED),
    "TestNoScaleDownOneMetricEmpty": SyncCase(5, (3, FAIL), 2, 6, 5, None, UNSEEDED),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SYNC_CASES.values()), ids=list(SYNC_CASES))
def test_controller_reconcile(case: SyncCase) -> None:
    decision = hpa.reconcile(
        case.current, list(case.proposals), min_replicas=case.min_r, max_replicas=case.max_r,
        behavior=case.behavior, history=case.history, now=NOW,
        downscale_stabilization_s=300.0, **LEGACY,
    )  # fmt: skip
    assert decision.replicas == case.expected
    if case.reason is not None:
        assert decision.reason == case.reason
    if case.metrics_skipped:
        assert decision.metric_replicas is None


# --- defaults_test.go: TestGenerateScaleDownRules / TestGenerateScaleUpRules -----------------


@dataclass(frozen=True)
class DefaultsCase:
    spec: dict[str, Any]
    window: int | None
    select: str
    policies: tuple[tuple[str, int, int], ...]


def rules_spec(
    pods: tuple[int, int] | None = None,
    percent: tuple[int, int] | None = None,
    window: int | None = None,
    select: str | None = None,
) -> dict[str, Any]:
    """The upstream table's input: only the fields the case sets (nil pointers left out)."""
    spec: dict[str, Any] = {}
    if window is not None:
        spec["stabilizationWindowSeconds"] = window
    if select is not None:
        spec["selectPolicy"] = select
    policies = []
    if pods is not None:
        policies.append({"type": "Pods", "value": pods[0], "periodSeconds": pods[1]})
    if percent is not None:
        policies.append({"type": "Percent", "value": percent[0], "periodSeconds": percent[1]})
    if policies:
        spec["policies"] = policies
    return spec


SCALE_DOWN_DEFAULTS = {
    "Default values": DefaultsCase(rules_spec(), None, "Max", (("Percent", 100, 15),)),
    "All parameters are specified": DefaultsCase(
        rules_spec(pods=(1, 2), percent=(3, 4), window=25, select="Max"), 25, "Max",
        (("Pods", 1, 2), ("Percent", 3, 4))),
    "Percent policy is specified": DefaultsCase(
        rules_spec(percent=(1, 2), select="Min"), None, "Min", (("Percent", 1, 2),)),
    "Pods policy is specified": DefaultsCase(
        rules_spec(pods=(3, 4)), None, "Max", (("Pods", 3, 4),)),
}  # fmt: skip

SCALE_UP_DEFAULTS = {
    "Default values": DefaultsCase(
        rules_spec(), 0, "Max", (("Pods", 4, 15), ("Percent", 100, 15))),
    "All parameters are specified": DefaultsCase(
        rules_spec(pods=(1, 2), percent=(3, 4), window=25, select="Max"), 25, "Max",
        (("Pods", 1, 2), ("Percent", 3, 4))),
    "Pod policy is specified": DefaultsCase(
        rules_spec(pods=(1, 2), select="Min"), 0, "Min", (("Pods", 1, 2),)),
    "Percent policy is specified": DefaultsCase(
        rules_spec(percent=(7, 10)), 0, "Max", (("Percent", 7, 10),)),
    "Pod policy and stabilization window are specified": DefaultsCase(
        rules_spec(pods=(4, 2), window=25), 25, "Max", (("Pods", 4, 2),)),
    "Percent policy and stabilization window are specified": DefaultsCase(
        rules_spec(percent=(7, 60), window=25), 25, "Max", (("Percent", 7, 60),)),
}  # fmt: skip


def assert_rules(rules: hpa.ScalingRules, case: DefaultsCase) -> None:
    assert rules.stabilization_window_s == case.window
    assert rules.select_policy == case.select
    assert tuple((p.type, p.value, p.period_s) for p in rules.policies) == case.policies
    assert rules.tolerance is None


@pytest.mark.parametrize("case", list(SCALE_DOWN_DEFAULTS.values()), ids=list(SCALE_DOWN_DEFAULTS))
def test_generate_scale_down_rules(case: DefaultsCase) -> None:
    result = hpa.Behavior.from_spec({"scaleDown": case.spec})
    assert result is not None
    assert_rules(result.scale_down, case)


@pytest.mark.parametrize("case", list(SCALE_UP_DEFAULTS.values()), ids=list(SCALE_UP_DEFAULTS))
def test_generate_scale_up_rules(case: DefaultsCase) -> None:
    result = hpa.Behavior.from_spec({"scaleUp": case.spec})
    assert result is not None
    assert_rules(result.scale_up, case)


# Not test cases upstream, but the defaults.go rules those tables exercise:
# SetDefaults_HorizontalPodAutoscalerBehavior leaves a nil behavior nil (legacy path) and
# fills both directions of a non-nil one; copyHPAScalingRules also copies Tolerance.


def test_set_defaults_behavior_nil_stays_nil() -> None:
    assert hpa.Behavior.from_spec(None) is None


def test_set_defaults_behavior_empty_gets_both_directions() -> None:
    result = hpa.Behavior.from_spec({})
    assert result is not None
    assert_rules(result.scale_up, SCALE_UP_DEFAULTS["Default values"])
    assert_rules(result.scale_down, SCALE_DOWN_DEFAULTS["Default values"])


def test_copy_scaling_rules_keeps_tolerance() -> None:
    result = hpa.Behavior.from_spec({"scaleUp": {"tolerance": "50m"}})
    assert result is not None
    assert result.scale_up.tolerance == pytest.approx(0.05)
    assert result.scale_up.stabilization_window_s == 0
    assert result.scale_up.select_policy == "Max"
    assert result.scale_down.tolerance is None
