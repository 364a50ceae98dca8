"""Upstream replica-calculator unit tests, re-expressed against ``capsim.hpa``.

Source of truth: ``pkg/controller/podautoscaler/replica_calculator_test.go`` of
kubernetes/kubernetes, read at ``aidenfine/kubernetes@15a386e1f6b3f804086777ffb4fac0721df87068``
(the test-per-function form with ``Tolerances``) and cross-checked against the later
table-driven refactor (same fixtures and expectations). Every case id is the upstream Go
test name (plus the subtest name for table tests). Inputs and expectations are re-expressed
as data; no Go code is copied.

Harness mapping (upstream ``prepareTestClientSet`` / ``prepareTestMetricsClient``):

* ``time.Now()`` is ``NOW``; every other time is relative to it. ``hotCPUCreationTime()`` is
  ``NOW`` and ``coolCPUCreationTime()`` is ``NOW - 180``.
* Every pod gets ``status.startTime`` set: to ``podStartTime[i]`` if given, otherwise to Go's
  *zero* time (the pointer is always non-nil). It always has a Ready condition with status
  ``podReadiness[i]`` (default True) and an unset ``lastTransitionTime`` (zero time). Go's
  zero time is ``GO_ZERO`` here, a float far in the past, used for both fields so that every
  comparison upstream makes between them (``start + delay > transition``) comes out the same.
* Pods ``test-pod-0 .. test-pod-(n-1)``, ``n = max(currentReplicas, len(podPhase))``; phase
  ``podPhase[i]`` (default Running); ``podDeletionTimestamp[i]`` maps to ``deleted``.
* Each pod has two containers; each container requests ``requests[i]`` (so the pod request is
  ``2 * requests[i]``); a pod with ``i >= len(requests)`` has no request (``None``).
* Resource samples: one per ``levels[i]``, named ``test-pod-i`` (or ``podNames[i]``), value =
  sum of the container usages; a sample lacking a container's usage gives the pod no value.
  The sample timestamp is ``tc.timestamp``, which no case sets, so it is Go's zero time
  (``GO_ZERO``); the window is one minute. Custom (Pods) metric samples are one value per pod
  with the same timestamp.
* The calculator is built with ``defaultTestingCPUInitializationPeriod`` (2 min) and
  ``defaultTestingDelayOfInitialReadinessStatus`` (10 s); tolerances default to 0.1 both ways.

ContainerResource cases (``container: "containerN"``) are re-expressed as one-container pods
carrying only the named container's request and usage, which is exactly what upstream sums
when a container is named; a failed pod whose sample lacks that container gets no sample.

Not re-expressed (no API for them in capsim): every Object / ObjectPerPod / External /
ExternalPerPod metric case: ``TestReplicaCalcScaleUpOverflow``,
``TestExternalPerPodMetricReplicaOverflow``, ``TestExternalPerPodMetricUsageOverflow``,
``TestReplicaCalcScaleUpCMObject``, ``TestReplicaCalcScaleUpCMPerPodObject``,
``TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods``,
``TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods``, ``TestReplicaCalcScaleUpPerPodCMExternal``,
``TestReplicaCalcScaleDownPerPodCMObject``, ``TestReplicaCalcScaleDownCMObject``,
``TestReplicaCalcScaleDownCMExternal``, ``TestReplicaCalcScaleDownPerPodCMExternal``,
``TestReplicaCalcToleranceCMObject``, ``TestReplicaCalcTolerancePerPodCMObject``,
``TestReplicaCalcToleranceCMExternal``, ``TestReplicaCalcTolerancePerPodCMExternal``,
``TestReplicaCalcConfigurableToleranceCMObject``,
``TestReplicaCalcConfigurableTolerancePerPodCMObject``,
``TestReplicaCalcConfigurableToleranceCMExternal``,
``TestReplicaCalcConfigurableTolerancePerPodCMExternal``,
``TestReplicaCalcExternalMetricUsageOverflow``. Also skipped: ``TestCalculateRequests`` and
``TestCalculatePodRequestsFromContainers_NonExistentContainer`` (per-container / pod-level /
init-container request summing happens before ``PodInfo.request_milli`` in our API).
(``TestReplicaCalcScaleUpCMExternal`` and ``...CMExternalNoLabels`` are Pods-metric cases
upstream despite their names and are included.)

Upstream has no unit test for ``GetRawResourceReplicas`` (AverageValue resource target) nor for
an empty pod list; ``test_derived_average_value`` covers those with upstream fixtures and
expectations worked out by hand from upstream ``calcPlainMetricReplicas`` (marked "derived").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from capsim import hpa

NOW = 1_000_000.0
GO_ZERO = NOW - 63_800_000_000.0  # Go's zero time.Time (year 1) as seen from time.Now()
HOT = NOW  # hotCPUCreationTime()
COOL = NOW - 180.0  # coolCPUCreationTime()
WINDOW_S = 60.0  # resource metric window in the fake metrics client
CPU_INIT_S = 120.0  # defaultTestingCPUInitializationPeriod
READINESS_DELAY_S = 10.0  # defaultTestingDelayOfInitialReadinessStatus

T, F = True, False
R, P, X = "Running", "Pending", "Failed"


def per_pod(*usage: int, containers: int = 2) -> tuple[tuple[int, ...], ...]:
    """Upstream ``makePodMetricLevels``: every container of pod i reports ``usage[i]``."""
    return tuple((u,) * containers for u in usage)


def one(*usage: int) -> tuple[tuple[int, ...], ...]:
    """Usage of the named container only (ContainerResource cases)."""
    return tuple((u,) for u in usage)


@dataclass(frozen=True)
class Fixture:
    """One upstream ``replicaCalcTestCase`` pod/metric setup (see module docstring)."""

    current: int
    requests: Sequence[int] = ()  # per-container request in milli, per pod
    levels: Sequence[Sequence[int]] = ()  # per pod, per container usage in milli
    readiness: Sequence[bool] = ()
    start: Sequence[float] = ()
    phase: Sequence[str] = ()
    deleted: Sequence[bool] = ()
    metric_pod_names: Sequence[str] = ()
    containers: int = 2  # 1 for ContainerResource cases reduced to the named container

    def pods(self) -> list[hpa.PodInfo]:
        count = max(self.current, len(self.phase))
        return [
            hpa.PodInfo(
                name=f"test-pod-{i}",
                phase=self.phase[i] if self.phase else R,
                ready=self.readiness[i] if i < len(self.readiness) else True,
                ready_transition_time=GO_ZERO,
                start_time=self.start[i] if self.start else GO_ZERO,
                deleted=bool(self.deleted and self.deleted[i]),
                request_milli=(
                    self.requests[i] * self.containers if i < len(self.requests) else None
                ),
            )
            for i in range(count)
        ]

    def metrics(self) -> dict[str, hpa.MetricSample]:
        samples: dict[str, hpa.MetricSample] = {}
        for i, usage in enumerate(self.levels):
            if len(usage) != self.containers:
                continue  # a container without usage: the pod gets no value
            name = self.metric_pod_names[i] if i < len(self.metric_pod_names) else f"test-pod-{i}"
            samples[name] = hpa.MetricSample(sum(usage), GO_ZERO, WINDOW_S)
        return samples


Expect = tuple[int, int, int]  # (replicas, utilization %, raw average milli)


def util(
    id: str,
    fixture: Fixture,
    target: int,
    want: Expect,
    tolerances: tuple[float, float] = (0.1, 0.1),
) -> object:
    """One GetResourceReplicas case; ``tolerances`` is (scale-down, scale-up) as upstream."""
    return pytest.param(fixture, target, want, tolerances, id=id)


THREE = (1000, 1000, 1000)  # three pods, "1.0" per container
MIXED = (900, 1000, 1100)  # requests "0.9", "1.0", "1.1"
JITTERED = (400, 200, 310, 290, 302, 298, 301, 299, 300, 300)  # 300m +/- jitter

UTILIZATION_CASES = [
    util("TestReplicaCalcScaleUp", Fixture(3, THREE, per_pod(300, 500, 700)), 30, (5, 50, 1000)),
    util(
        "TestReplicaCalcScaleUpUnreadyLessScale",
        Fixture(3, THREE, per_pod(300, 500, 700), readiness=(F, T, T)),
        30,
        (4, 60, 1200),
    ),
    util(
        "TestReplicaCalcScaleUpHotCpuLessScale",
        Fixture(3, THREE, per_pod(300, 500, 700), start=(HOT, COOL, COOL)),
        30,
        (4, 60, 1200),
    ),
    util(
        "TestReplicaCalcScaleUpUnreadyNoScale",
        Fixture(3, THREE, per_pod(400, 500, 700), readiness=(T, F, F)),
        30,
        (3, 40, 800),
    ),
    util(
        "TestReplicaCalcScaleHotCpuNoScale",
        Fixture(3, THREE, per_pod(400, 500, 700), readiness=(T, F, F), start=(COOL, HOT, HOT)),
        30,
        (3, 40, 800),
    ),
    util(
        "TestReplicaCalcScaleUpIgnoresFailedPods",
        Fixture(2, (1000,) * 4, per_pod(500, 700), readiness=(T, T, F, F), phase=(R, R, X, X)),
        30,
        (4, 60, 1200),
    ),
    util(
        "TestReplicaCalcScaleUpIgnoresDeletionPods",
        Fixture(
            2,
            (1000,) * 4,
            per_pod(500, 700),
            readiness=(T, T, F, F),
            phase=(R,) * 4,
            deleted=(F, F, T, T),
        ),
        30,
        (4, 60, 1200),
    ),
    util(
        "TestReplicaCalcScaleDown",
        Fixture(5, (1000,) * 5, per_pod(100, 300, 500, 250, 250)),
        50,
        (3, 28, 560),
    ),
    util(
        "TestReplicaCalcScaleDownExcludeUnreadyPods",
        Fixture(5, (1000,) * 5, per_pod(100, 300, 500, 250, 250), readiness=(T, T, T, F, F)),
        50,
        (2, 30, 600),
    ),
    util(
        "TestReplicaCalcScaleDownExcludeUnscheduledPods",
        Fixture(5, (1000,) * 5, per_pod(100), readiness=(T, F, F, F, F), phase=(R, P, P, P, P)),
        50,
        (1, 10, 200),
    ),
    util(
        "TestReplicaCalcScaleDownIgnoreHotCpuPods",
        Fixture(5, (1000,) * 5, per_pod(100, 300, 500, 250, 250), start=(COOL,) * 3 + (HOT,) * 2),
        50,
        (2, 30, 600),
    ),
    util(
        "TestReplicaCalcScaleDownIgnoresFailedPods",
        Fixture(
            5,
            (1000,) * 7,
            per_pod(100, 300, 500, 250, 250),
            readiness=(T,) * 5 + (F, F),
            phase=(R,) * 5 + (X, X),
        ),
        50,
        (3, 28, 560),
    ),
    util(
        "TestReplicaCalcScaleDownIgnoresDeletionPods",
        Fixture(
            5,
            (1000,) * 7,
            per_pod(100, 300, 500, 250, 250),
            readiness=(T,) * 5 + (F, F),
            phase=(R,) * 7,
            deleted=(F,) * 5 + (T, T),
        ),
        50,
        (3, 28, 560),
    ),
    util(
        "TestReplicaCalcTolerance",
        Fixture(3, MIXED, per_pod(1010, 1030, 1020)),
        100,
        (3, 102, 2040),
    ),
    util(
        "TestReplicaCalcConfigurableTolerance/Outside of a 0% tolerance",
        Fixture(3, MIXED, per_pod(909, 1010, 1111)),
        100,
        (4, 101, 2020),
        tolerances=(0.0, 0.0),
    ),
    util(
        "TestReplicaCalcConfigurableTolerance/Within a 200% scale-up tolerance",
        Fixture(3, MIXED, per_pod(1890, 1910, 1900)),
        100,
        (3, 190, 3800),
        tolerances=(0.1, 2.0),
    ),
    util(
        "TestReplicaCalcConfigurableTolerance/Outside 8% scale-up tolerance",
        Fixture(3, MIXED, per_pod(1100, 1080, 1090)),
        100,
        (4, 109, 2180),
        tolerances=(2.0, 0.08),
    ),
    util(
        "TestReplicaCalcConfigurableTolerance/Within a 36% scale-down tolerance",
        Fixture(3, MIXED, per_pod(660, 640, 650)),
        100,
        (3, 65, 1300),
        tolerances=(0.36, 0.1),
    ),
    util(
        "TestReplicaCalcConfigurableTolerance/Outside a 34% scale-down tolerance",
        Fixture(3, MIXED, per_pod(660, 640, 650)),
        100,
        (2, 65, 1300),
        tolerances=(0.34, 0.1),
    ),
    # Six samples for four pods: the two unknown pods only count in len(metrics).
    util(
        "TestReplicaCalcSuperfluousMetrics",
        Fixture(4, (1000,) * 4, per_pod(4000, 9500, 3000, 7000, 3200, 2000)),
        100,
        (24, 587, 11750),
    ),
    util(
        "TestReplicaCalcMissingMetrics",
        Fixture(4, (1000,) * 4, per_pod(400, 95)),
        100,
        (3, 24, 495),
    ),
    util(
        "TestReplicaCalcMissingMetricsNoChangeEq",
        Fixture(2, (1000, 1000), per_pod(1000)),
        100,
        (2, 100, 2000),
    ),
    util(
        "TestReplicaCalcMissingMetricsNoChangeGt",
        Fixture(2, (1000, 1000), per_pod(1900)),
        100,
        (2, 190, 3800),
    ),
    util(
        "TestReplicaCalcMissingMetricsNoChangeLt",
        Fixture(2, (1000, 1000), per_pod(600)),
        100,
        (2, 60, 1200),
    ),
    util(
        "TestReplicaCalcMissingMetricsUnreadyChange",
        Fixture(3, THREE, per_pod(100, 450), readiness=(F, T, T)),
        50,
        (3, 45, 900),
    ),
    util(
        "TestReplicaCalcMissingMetricsHotCpuNoChange",
        Fixture(3, THREE, per_pod(100, 450), start=(HOT, COOL, COOL)),
        50,
        (3, 45, 900),
    ),
    util(
        "TestReplicaCalcMissingMetricsUnreadyScaleUp",
        Fixture(3, THREE, per_pod(100, 2000), readiness=(F, T, T)),
        50,
        (4, 200, 4000),
    ),
    util(
        "TestReplicaCalcMissingMetricsHotCpuScaleUp",
        Fixture(3, THREE, per_pod(100, 2000), readiness=(F, T, T), start=(HOT, COOL, COOL)),
        50,
        (4, 200, 4000),
    ),
    util(
        "TestReplicaCalcMissingMetricsUnreadyScaleDown",
        Fixture(4, (1000,) * 4, per_pod(100, 100, 100), readiness=(F, T, T, T)),
        50,
        (3, 10, 200),
    ),
    util(
        "TestReplicaCalcMissingMetricsScaleDownTargetOver100",
        Fixture(4, (1000, 1000, 2000, 2000), per_pod(200, 100, 100), readiness=(F, T, T, T)),
        300,
        (2, 6, 200),
    ),
    util(
        "TestReplicaCalcDuringRollingUpdateWithMaxSurge",
        Fixture(2, THREE, per_pod(100, 100), phase=(R, R, R)),
        50,
        (2, 10, 200),
    ),
    # 10 pods at 150m per container, requests jittered around 300m: utilization 50 %. Upstream
    # derives the target as int32((1/(2*(1-0.1)) + 0.01) * 100) = 56 (ratio 0.893, just outside
    # the tolerance), then with +0.004 instead of +0.01: 55 (ratio 0.909, just inside).
    util(
        "TestReplicaCalcComputedToleranceAlgImplementation/scale",
        Fixture(10, JITTERED, per_pod(*(150,) * 10)),
        56,
        (9, 50, 300),
    ),
    util(
        "TestReplicaCalcComputedToleranceAlgImplementation/no-scale",
        Fixture(10, JITTERED, per_pod(*(150,) * 10)),
        55,
        (10, 50, 300),
    ),
    # ContainerResource cases, reduced to the named container (see module docstring).
    util(
        "TestReplicaCalcContainerScaleUp",
        Fixture(3, THREE, one(300, 500, 700), containers=1),
        30,
        (5, 50, 500),
    ),
    util(
        "TestReplicaCalcScaleUpContainerHotCpuLessScale",
        Fixture(3, THREE, one(300, 500, 700), start=(HOT, COOL, COOL), containers=1),
        30,
        (4, 60, 600),
    ),
    util(
        "TestReplicaCalcMissingContainerMetricScaleUpIgnoresFailedPods",
        Fixture(
            2,
            (1000,) * 4,
            ((500,), (700,), (), ()),
            readiness=(T, T, F, F),
            phase=(R, R, X, X),
            containers=1,
        ),
        30,
        (4, 60, 600),
    ),
    util(
        "TestReplicaCalcScaleUpContainerIgnoresFailedPods",
        Fixture(
            2, (1000,) * 4, one(500, 700), readiness=(T, T, F, F), phase=(R, R, X, X), containers=1
        ),
        30,
        (4, 60, 600),
    ),
    util(
        "TestReplicaCalcScaleUpContainerIgnoresDeletionPods",
        Fixture(
            2,
            (1000,) * 4,
            one(500, 700),
            readiness=(T, T, F, F),
            phase=(R,) * 4,
            deleted=(F, F, T, T),
            containers=1,
        ),
        30,
        (4, 60, 600),
    ),
    util(
        "TestReplicaCalcContainerScaleDown",
        Fixture(5, (1000,) * 5, one(100, 300, 500, 250, 250), containers=1),
        50,
        (3, 28, 280),
    ),
    util(
        "TestReplicaCalcScaleDownContainerExcludeUnreadyPods",
        Fixture(
            5, (1000,) * 5, one(100, 300, 500, 250, 250), readiness=(T, T, T, F, F), containers=1
        ),
        50,
        (2, 30, 300),
    ),
    util(
        "TestReplicaCalcScaleDownContainerExcludeUnscheduledPods",
        Fixture(
            5,
            (1000,) * 5,
            one(100, 300, 500, 250, 250),
            readiness=(T, F, F, F, F),
            phase=(R, P, P, P, P),
            containers=1,
        ),
        50,
        (1, 10, 100),
    ),
    util(
        "TestReplicaCalcScaleDownContainerIgnoreHotCpuPods",
        Fixture(
            5,
            (1000,) * 5,
            one(100, 300, 500, 1000, 1000),
            start=(COOL,) * 3 + (HOT,) * 2,
            containers=1,
        ),
        50,
        (2, 30, 300),
    ),
    util(
        "TestReplicaCalcScaleDownContainerIgnoresFailedPods",
        Fixture(
            5,
            (1000,) * 7,
            one(100, 300, 500, 250, 250, 9000, 9000),
            readiness=(T,) * 5 + (F, F),
            phase=(R,) * 5 + (X, X),
            containers=1,
        ),
        50,
        (3, 28, 280),
    ),
    util(
        "TestReplicaCalcScaleDownIgnoresDeletionPods_StillRunning",
        Fixture(
            5,
            (1000,) * 7,
            one(100, 300, 500, 250, 250),
            readiness=(T,) * 5 + (F, F),
            phase=(R,) * 7,
            deleted=(F,) * 5 + (T, T),
            containers=1,
        ),
        50,
        (3, 28, 280),
    ),
]


@pytest.mark.parametrize(("fixture", "target", "want", "tolerances"), UTILIZATION_CASES)
def test_resource_utilization(
    fixture: Fixture, target: int, want: Expect, tolerances: tuple[float, float]
) -> None:
    result = hpa.resource_replicas(
        fixture.current,
        fixture.pods(),
        fixture.metrics(),
        target_utilization=target,
        tolerances=hpa.Tolerances(*tolerances),
        now=NOW,
        resource="cpu",
        cpu_initialization_period_s=CPU_INIT_S,
        initial_readiness_delay_s=READINESS_DELAY_S,
    )
    assert (result.replicas, result.utilization, result.raw_average_milli) == want


ERROR_CASES = [
    # The only sample belongs to a pod that is not in the list: no request matches it.
    pytest.param(
        Fixture(1, (1000,), per_pod(100), metric_pod_names=("an-older-pod-name",)),
        id="TestReplicaCalcDisjointResourcesMetrics",
    ),
    pytest.param(Fixture(4, THREE, per_pod()), id="TestReplicaCalcEmptyMetrics"),
    pytest.param(Fixture(1, (), per_pod(200)), id="TestReplicaCalcEmptyCPURequest"),
]


@pytest.mark.parametrize("fixture", ERROR_CASES)
def test_resource_utilization_errors(fixture: Fixture) -> None:
    with pytest.raises(hpa.MetricsError):
        hpa.resource_replicas(
            fixture.current,
            fixture.pods(),
            fixture.metrics(),
            target_utilization=100,
            now=NOW,
            resource="cpu",
            cpu_initialization_period_s=CPU_INIT_S,
            initial_readiness_delay_s=READINESS_DELAY_S,
        )


def cm(
    id: str,
    fixture: Fixture,
    levels: Sequence[int],
    target: int,
    want: tuple[int, int],
    tolerances: tuple[float, float] = (0.1, 0.1),
) -> object:
    """One GetMetricReplicas (Pods metric) case: one value per pod; want (replicas, usage)."""
    return pytest.param(fixture, levels, target, want, tolerances, id=id)


PODS_METRIC_CASES = [
    cm("TestReplicaCalcScaleUpCM", Fixture(3), (20000, 10000, 30000), 15000, (4, 20000)),
    # Pods metrics group with resource "": readiness and start times are not looked at.
    cm(
        "TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale",
        Fixture(3, readiness=(T, T, F), start=(COOL, COOL, HOT)),
        (50000, 10000, 30000),
        15000,
        (6, 30000),
    ),
    cm(
        "TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        Fixture(3, readiness=(F, T, F), start=(HOT, COOL, HOT)),
        (50000, 15000, 30000),
        15000,
        (7, 31666),
    ),
    cm("TestReplicaCalcScaleUpCMExternal", Fixture(1), (8600,), 4400, (2, 8600)),
    cm("TestReplicaCalcScaleUpCMExternalNoLabels", Fixture(1), (8600,), 4400, (2, 8600)),
    cm("TestReplicaCalcScaleDownCM", Fixture(5), (12000,) * 5, 20000, (3, 12000)),
    cm("TestReplicaCalcToleranceCM", Fixture(3), (20000, 21000, 21000), 20000, (3, 20666)),
    cm(
        "TestReplicaCalcConfigurableToleranceCM",
        Fixture(3),
        (20000, 21000, 21000),
        20000,
        (4, 20666),
        tolerances=(0.1, 0.01),
    ),
    cm(
        "TestPlainMetricReplicaCalcMissingMetricsNoChangeEq",
        Fixture(5),
        (20000, 19000, 21000),
        20000,
        (5, 20000),
    ),
    cm(
        "TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM",
        Fixture(2, phase=(R, R, R)),
        (10000, 10000),
        17000,
        (2, 10000),
    ),
]


@pytest.mark.parametrize(("fixture", "levels", "target", "want", "tolerances"), PODS_METRIC_CASES)
def test_pods_metric(
    fixture: Fixture,
    levels: Sequence[int],
    target: int,
    want: tuple[int, int],
    tolerances: tuple[float, float],
) -> None:
    metrics = {
        f"test-pod-{i}": hpa.MetricSample(v, GO_ZERO, WINDOW_S) for i, v in enumerate(levels)
    }
    result = hpa.pods_metric_replicas(
        fixture.current,
        fixture.pods(),
        metrics,
        target_average_value_milli=target,
        tolerances=hpa.Tolerances(*tolerances),
        now=NOW,
    )
    assert (result.replicas, result.raw_average_milli) == want


def _pod(
    name: str,
    phase: str = "Succeeded",
    ready: bool | None = None,
    transition: float | None = None,
    start: float | None = None,
    deleted: bool = False,
) -> hpa.PodInfo:
    """A TestGroupPods pod: upstream's fixtures are Succeeded pods unless stated."""
    return hpa.PodInfo(name, phase, ready, transition, start, deleted)


def _sample(timestamp: float = GO_ZERO, window: float = 0.0) -> hpa.MetricSample:
    """``PodMetric{Value: 1, ...}``; an unset Timestamp/Window is Go's zero value."""
    return hpa.MetricSample(1, timestamp, window)


def group(
    id: str,
    pods: list[hpa.PodInfo],
    metrics: dict[str, hpa.MetricSample],
    want: tuple[int, set[str], set[str], set[str]],
    resource: str = "cpu",
) -> object:
    """One TestGroupPods row; ``want`` is (ready count, unready, missing, ignored)."""
    return pytest.param(pods, metrics, resource, want, id=f"TestGroupPods/{id}")


NONE: set[str] = set()

GROUP_PODS_CASES = [
    group("void", [], {}, (0, NONE, NONE, NONE)),
    group(
        "count in a ready pod - memory",
        [_pod("bentham")],
        {"bentham": _sample(NOW, 60.0)},
        (1, NONE, NONE, NONE),
        resource="memory",
    ),
    group(
        "unready a pod without ready condition - CPU",
        [_pod("lucretius", start=NOW)],
        {"lucretius": _sample()},
        (0, {"lucretius"}, NONE, NONE),
    ),
    # Sample taken exactly one window after the Ready transition: not "before", so it counts.
    group(
        "count in a ready pod with fresh metrics during initialization period - CPU",
        [_pod("bentham", ready=True, transition=NOW - 30, start=NOW - 60)],
        {"bentham": _sample(NOW, 30.0)},
        (1, NONE, NONE, NONE),
    ),
    group(
        "unready a ready pod without fresh metrics during initialization period - CPU",
        [_pod("bentham", ready=True, transition=NOW - 30, start=NOW - 60)],
        {"bentham": _sample(NOW, 60.0)},
        (0, {"bentham"}, NONE, NONE),
    ),
    # Started 10 min ago, so past the 2 min test period despite the name; not ready and the
    # last transition came 6 s after start (within the 10 s delay): never been ready.
    group(
        "unready an unready pod during initialization period - CPU",
        [_pod("lucretius", ready=False, transition=NOW - 594, start=NOW - 600)],
        {"lucretius": _sample()},
        (0, {"lucretius"}, NONE, NONE),
    ),
    group(
        "count in a ready pod without fresh metrics after initialization period - CPU",
        [_pod("bentham", ready=True, transition=NOW - 180, start=NOW - 180)],
        {"bentham": _sample(NOW - 120, 60.0)},
        (1, NONE, NONE, NONE),
    ),
    group(
        "count in an unready pod that was ready after initialization period - CPU",
        [_pod("lucretius", ready=False, transition=NOW - 540, start=NOW - 600)],
        {"lucretius": _sample()},
        (1, NONE, NONE, NONE),
    ),
    # Transition exactly start + delay: not "after", so the pod counts as ready.
    group(
        "unready pod that has never been ready after initialization period - CPU",
        [_pod("lucretius", ready=False, transition=NOW - 590, start=NOW - 600)],
        {"lucretius": _sample()},
        (1, NONE, NONE, NONE),
    ),
    group("a missing pod", [_pod("epicurus", start=NOW - 180)], {}, (0, NONE, {"epicurus"}, NONE)),
    group(
        "several pods",
        [
            _pod("lucretius", start=NOW),
            _pod("niccolo", ready=True, transition=NOW - 180, start=NOW - 180),
            _pod("epicurus", start=NOW - 180),
        ],
        {"lucretius": _sample(), "niccolo": _sample()},
        (1, {"lucretius"}, {"epicurus"}, NONE),
    ),
    group(
        "pending pods are unreadied",
        [_pod("unscheduled", phase=P)],
        {},
        (0, {"unscheduled"}, NONE, NONE),
    ),
    group(
        "ignore pods with deletion timestamps",
        [_pod("deleted", phase=P, deleted=True)],
        {"deleted": _sample()},
        (0, NONE, NONE, {"deleted"}),
    ),
    group(
        "ignore pods in a failed state",
        [_pod("failed", phase=X)],
        {"failed": _sample()},
        (0, NONE, NONE, {"failed"}),
    ),
]


@pytest.mark.parametrize(("pods", "metrics", "resource", "want"), GROUP_PODS_CASES)
def test_group_pods(
    pods: list[hpa.PodInfo],
    metrics: dict[str, hpa.MetricSample],
    resource: str,
    want: tuple[int, set[str], set[str], set[str]],
) -> None:
    groups = hpa.group_pods(
        pods,
        metrics,
        resource=resource,
        now=NOW,
        cpu_initialization_period_s=CPU_INIT_S,
        initial_readiness_delay_s=READINESS_DELAY_S,
    )
    got = (groups.ready_count, set(groups.unready), set(groups.missing), set(groups.ignored))
    assert got == want


# --- derived: upstream has no unit test for these paths (see module docstring) --------------


def avg(
    id: str, fixture: Fixture, target: int, want: tuple[int, int], resource: str = "cpu"
) -> object:
    """An AverageValue resource case; ``want`` is (replicas, raw average milli)."""
    return pytest.param(fixture, target, want, resource, id=f"derived/{id}")


DERIVED_AVERAGE_VALUE_CASES = [
    # ScaleUp fixture: average 1000m vs 500m -> ratio 2.0 -> ceil(2.0 * 3).
    avg("ScaleUp-AverageValue", Fixture(3, THREE, per_pod(300, 500, 700)), 500, (6, 1000)),
    # UnreadyLessScale fixture: ready average 1200m -> ratio 2.4; the unready pod is filled
    # with 0: 2400/3 = 800 -> ratio 1.6 -> ceil(1.6 * 3) = 5.
    avg(
        "ScaleUpUnreadyLessScale-AverageValue",
        Fixture(3, THREE, per_pod(300, 500, 700), readiness=(F, T, T)),
        500,
        (5, 1200),
    ),
    # Same fixture on memory: readiness is not checked, all three count: 1000/500 -> 6.
    avg(
        "ScaleUpUnreadyMemory-AverageValue",
        Fixture(3, THREE, per_pod(300, 500, 700), readiness=(F, T, T)),
        500,
        (6, 1000),
        resource="memory",
    ),
    # MissingMetrics fixture: 990/2 = 495 vs 1000; the missing pods are filled with the
    # target: 2990/4 = 747 -> ratio 0.747 -> ceil(2.988) = 3.
    avg("MissingMetrics-AverageValue", Fixture(4, (1000,) * 4, per_pod(400, 95)), 1000, (3, 495)),
    # maxSurge fixture: 200 vs 300; the missing pod is filled with 300: 700/3 = 233 -> 0.777
    # -> ceil(2.33) = 3 > current 2 while the ratio is < 1 -> keep 2.
    avg(
        "DuringRollingUpdateWithMaxSurge-AverageValue",
        Fixture(2, THREE, per_pod(100, 100), phase=(R, R, R)),
        300,
        (2, 200),
    ),
    # EmptyCPURequest fixture: an AverageValue target never reads requests: 400/100 -> 4.
    avg("EmptyCPURequest-AverageValue", Fixture(1, (), per_pod(200)), 100, (4, 400)),
]


@pytest.mark.parametrize(("fixture", "target", "want", "resource"), DERIVED_AVERAGE_VALUE_CASES)
def test_derived_average_value(
    fixture: Fixture, target: int, want: tuple[int, int], resource: str
) -> None:
    result = hpa.resource_replicas(
        fixture.current,
        fixture.pods(),
        fixture.metrics(),
        target_average_value_milli=target,
        now=NOW,
        resource=resource,
        cpu_initialization_period_s=CPU_INIT_S,
        initial_readiness_delay_s=READINESS_DELAY_S,
    )
    assert (result.replicas, result.utilization, result.raw_average_milli) == (
        want[0],
        None,
        want[1],
    )


def test_derived_empty_pod_list_is_an_error() -> None:
    """Upstream: "no pods returned by selector while calculating replica count"."""
    metrics = {"test-pod-0": hpa.MetricSample(200, GO_ZERO, WINDOW_S)}
    with pytest.raises(hpa.MetricsError):
        hpa.resource_replicas(1, [], metrics, target_utilization=50, now=NOW)
    with pytest.raises(hpa.MetricsError):
        hpa.pods_metric_replicas(1, [], metrics, target_average_value_milli=50, now=NOW)
