"""KEDA's fallback while the metrics source is unreachable (a workload's
``metric_outages``), against kedacore/keda's ``pkg/fallback/fallback.go`` and
``pkg/scaling/executor/scale_scaledobjects.go`` (8b4f083): failures counted per
trigger by the operator's polls and the HPA's queries, the fallback metric
``target × replicas`` past ``failureThreshold``, each behavior's replicas, and the
operator never scaling to zero on an error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import capsim
from capsim.models.keda import KedaConfig, fallback_metric_milli, fallback_replicas, keda_step
from capsim.scenario import ScenarioError
from capsim.scenario.schema import parse_scenario


@pytest.mark.parametrize(
    ("behavior", "current", "expected"),
    [
        ("static", 3, 8),
        ("currentReplicas", 3, 3),
        ("currentReplicasIfHigher", 3, 8),
        ("currentReplicasIfHigher", 11, 11),
        ("currentReplicasIfLower", 3, 3),
        ("currentReplicasIfLower", 11, 8),
    ],
)
def test_fallback_replicas_by_behavior(behavior: str, current: int, expected: int) -> None:
    assert fallback_replicas(behavior, 8, current) == expected


def test_fallback_metric_as_do_fallback_computes_it() -> None:
    # AverageValue 2 × 8 replicas = 16 (16,000 milli): the HPA's ceil(16 / 2) = 8
    assert fallback_metric_milli(2000, 8, value_target=False, ready=5) == 16_000
    # Value 10 with 3 ready: 10 × 8 / 3 = 26.666… → int(26,666.67 milli)
    assert fallback_metric_milli(10_000, 8, value_target=True, ready=3) == 26_666
    assert fallback_metric_milli(10_000, 8, value_target=True, ready=0) is None


def test_the_operator_neither_activates_nor_scales_to_zero_on_an_error() -> None:
    config = KedaConfig(
        min_replicas=0, idle_replicas=None, cooldown_s=300, initial_cooldown_s=0, created_s=0
    )
    # active with an error: nothing changes, the last active time is not renewed
    step = keda_step(config, True, 4, 100.0, 1000.0, error=True)
    assert (step.replicas, step.last_active_s, step.reason) == (
        None,
        100.0,
        "KEDAPartialTriggerError",
    )
    # inactive long past the cooldown, but erroring: no scale to zero
    step = keda_step(config, False, 4, 100.0, 1000.0, error=True)
    assert (step.replicas, step.reason) == (None, "KEDATriggerError")
    # the same without the error: to zero
    assert keda_step(config, False, 4, 100.0, 1000.0).replicas == 0
    # active at zero with an error on another trigger: scaled up all the same
    assert keda_step(config, True, 0, None, 1000.0, error=True).replicas == 1


def _scenario(fallback: dict[str, Any] | None, outages: list[dict[str, str]]) -> dict[str, Any]:
    keda: dict[str, Any] = {
        "pollingInterval": 15,
        "minReplicaCount": 1,
        "maxReplicaCount": 20,
        "triggers": [
            {
                "type": "prometheus",
                "name": "rps",
                "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "2"},
            }
        ],
    }
    if fallback is not None:
        keda["fallback"] = fallback
    return {
        "name": "fb",
        "seed": 3,
        "duration": "90m",
        "workloads": [
            {
                "kind": "service",
                "name": "api",
                "load": {"type": "constant", "rate": 10},
                "cpu_ms_per_request": 100,
                "concurrency": 4,
                "timeout": "30s",
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "pool",
                        "vcpu": 16,
                        "memory": "64Gi",
                        "price_per_hour": 0.8,
                        "min_nodes": 2,
                        "max_nodes": 5,
                    }
                ],
                "workloads": {
                    "api": {
                        "pod": {"cpu_request": "1", "memory_request": "1Gi"},
                        "metric_outages": outages,
                        "keda": keda,
                        "keda_metrics": {"rps": "arrival_rate"},
                    }
                },
            }
        },
    }


def _replicas(data: dict[str, Any], tmp_path: Path) -> tuple[Any, Any]:
    result = capsim.run(parse_scenario(data, where="s.yaml", base_dir=tmp_path))
    frame = result.timeseries
    return frame.set_index("time_s")["replicas_desired"], result.events


OUTAGE = [{"start": "20m", "end": "40m"}]


def test_without_a_fallback_the_hpa_holds_through_the_outage(tmp_path: Path) -> None:
    """10 req/s at 2 per replica: 5 replicas; the metric failing, the HPA keeps them."""
    replicas, events = _replicas(_scenario(None, OUTAGE), tmp_path)
    assert (replicas == 5).all()
    assert not (events["kind"] == "fallback").any()


def test_the_fallback_replaces_the_metric_after_the_threshold(tmp_path: Path) -> None:
    """failureThreshold 3: the outage starts at 1,200 s; the poll and the HPA sync at
    1,200 s and at 1,215 s are failures 1-4 (order within an instant: the HPA, then
    KEDA), so from the fourth the metric reads 2 × 8 = 16 and the HPA asks for 8 at its
    next sync (1,230 s). After the outage the metric reads 10 again: back to 5 once the
    HPA's 5-minute scale-down window has passed (2,700 s)."""
    fallback = {"failureThreshold": 3, "replicas": 8}
    replicas, events = _replicas(_scenario(fallback, OUTAGE), tmp_path)
    flips = events[events["kind"] == "fallback"]
    assert flips["time_s"].tolist() == [1215.0, 2400.0]
    assert flips["reason"].tolist() == [
        "KEDAScaledObjectFallbackActivated",
        "KEDAScaledObjectFallbackDeactivated",
    ]
    scales = events[events["kind"] == "scale"]
    assert scales[["time_s", "from", "to"]].values.tolist() == [
        [1230.0, 5.0, 8.0],
        [2700.0, 8.0, 5.0],
    ]
    assert (replicas[(replicas.index > 1260) & (replicas.index <= 2400)] == 8).all()


def test_current_replicas_if_higher_keeps_a_larger_size(tmp_path: Path) -> None:
    fallback = {"failureThreshold": 0, "replicas": 2, "behavior": "currentReplicasIfHigher"}
    replicas, events = _replicas(_scenario(fallback, OUTAGE), tmp_path)
    assert (replicas == 5).all()  # max(5 current, 2) = 5: the size holds
    assert (events["kind"] == "fallback").sum() == 2


def test_outages_are_checked(tmp_path: Path) -> None:
    bad = copy.deepcopy(_scenario(None, [{"start": "40m", "end": "20m"}]))
    with pytest.raises(
        ScenarioError, match=r"metric_outages\[0\]: end: after start \(2400 s\), got 1200 s"
    ):
        parse_scenario(bad, where="s.yaml", base_dir=tmp_path)
