"""KEDA ScaledObjects: KEDA's rules (kedacore/keda 8b4f083, read for this: the webhook's
bounds, the HPA it creates, ``RequestScale``'s activation and cooldown), by hand, and the
engine scaling a service to and from zero.

**By hand in the engine** (the M/M/1 pods of ``test_hpa_pods_metrics``; polls every 30 s
from 0; the adapter's window is 60 s): no load until 600 s, 20 req/s until 1800 s, then
none. A ``prometheus`` trigger on ``arrival_rate`` (threshold 10, activation 1): at the
poll of 600 s the window has not seen the step (0), at 630 s it holds 30 s of 20/s (10 >
1): KEDA scales 0 → 1. The HPA (min 1, AverageValue 10) then asks ceil(15/10) = 2 at 645 s.
The last poll above 1 is at 1830 s (10); cooldown 300 s: the first poll with
``1830 + 300 < now`` is 2160 s: 1 → 0 (the HPA had come down to 1).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_hpa_pods_metrics import run_mapping, scenario

import capsim
from capsim.cli.main import main
from capsim.kube.checks import check_manifests
from capsim.kube.emit import EmitOptions, manifests_from_scenario
from capsim.models.keda import KedaConfig, keda_step
from capsim.scenario.keda import ScaledObjectSpec, keda_hpa, trigger_rules

# --- the operator's rules ---------------------------------------------------------------

ZERO = KedaConfig(
    min_replicas=0, idle_replicas=None, cooldown_s=300, initial_cooldown_s=0, created_s=-1e5
)


def test_active_scales_from_zero_to_the_floor() -> None:
    step = keda_step(ZERO, True, 0, None, 100.0)
    assert (step.replicas, step.last_active_s) == (1, 100.0)
    three = KedaConfig(3, None, 300, 0, -1e5)
    assert keda_step(three, True, 0, None, 100.0).replicas == 3
    # above 0 the HPA scales; KEDA only notes the time
    step = keda_step(ZERO, True, 4, 50.0, 100.0)
    assert (step.replicas, step.last_active_s) == (None, 100.0)


def test_cooldown_is_strict_and_counts_from_the_last_active_poll() -> None:
    assert keda_step(ZERO, False, 2, 100.0, 400.0).replicas is None  # 100 + 300 < 400: no
    step = keda_step(ZERO, False, 2, 100.0, 400.5)
    assert (step.replicas, step.last_active_s) == (0, 100.0)
    # never active: the initial cooldown from the ScaledObject's creation
    fresh = KedaConfig(0, None, 300, 120, created_s=0.0)
    assert keda_step(fresh, False, 2, None, 120.0).replicas is None
    assert keda_step(fresh, False, 2, None, 121.0).replicas == 0


def test_idle_replicas() -> None:
    idle = KedaConfig(
        min_replicas=3, idle_replicas=0, cooldown_s=60, initial_cooldown_s=0, created_s=-1e5
    )
    # inactive above idle: to idle after the cooldown
    assert keda_step(idle, False, 3, 0.0, 61.0).replicas == 0
    # active below min with idle set: straight to min
    assert keda_step(idle, True, 0, None, 70.0).replicas == 3
    assert keda_step(idle, True, 2, None, 70.0).replicas == 3
    # without idle, an inactive size below min goes to min at once
    floor = KedaConfig(2, None, 60, 0, -1e5)
    assert keda_step(floor, False, 1, 0.0, 10.0).replicas == 2


# --- the spec: webhook rules and the HPA KEDA creates ------------------------------------

PROM_METADATA = {"serverAddress": "http://p:9090", "query": "q", "threshold": "10"}
PROM: dict[str, Any] = {"type": "prometheus", "metadata": PROM_METADATA}


def spec(**fields: Any) -> ScaledObjectSpec:
    return ScaledObjectSpec.model_validate({"triggers": [PROM], **fields})


def test_the_hpa_keda_creates() -> None:
    made = spec(maxReplicaCount=20)
    rules = trigger_rules(made, {"0": "arrival_rate"})
    hpa = keda_hpa(made, rules)
    assert (hpa.min_replicas, hpa.max_replicas) == (1, 20)  # minReplicaCount 0 → HPA min 1
    (metric,) = hpa.metrics
    assert metric.type == "External"
    assert metric.target.type == "AverageValue"
    assert metric.target.average_value == 10_000  # milli
    assert rules[0].activation_milli == 0
    value = spec(minReplicaCount=2, triggers=[PROM | {"metricType": "Value"}])
    hpa = keda_hpa(value, trigger_rules(value, {"0": "queue_length"}))
    assert hpa.min_replicas == 2
    assert hpa.metrics[0].target.type == "Value"
    assert hpa.metrics[0].target.value == 10_000
    # queue scalers: the service's waiting requests, their defaults
    sqs = spec(triggers=[{"type": "aws-sqs-queue", "metadata": {"queueURL": "u"}}])
    (rule,) = trigger_rules(sqs, {})
    assert (rule.metric, rule.target.average_value, rule.activation_milli) == (
        "queue_length",
        5000,
        0,
    )
    rabbit = spec(triggers=[{"type": "rabbitmq", "metadata": {"activationValue": "3"}}])
    (rule,) = trigger_rules(rabbit, {})
    assert (rule.target.average_value, rule.activation_milli) == (20_000, 3000)
    cpu = spec(
        minReplicaCount=1,
        triggers=[{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}],
    )
    hpa = keda_hpa(cpu, trigger_rules(cpu, {}))
    assert hpa.metrics[0].type == "Resource"
    assert hpa.metrics[0].target.average_utilization == 60


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"minReplicaCount": 5, "maxReplicaCount": 3}, "must not exceed maxReplicaCount"),
        ({"minReplicaCount": 2, "idleReplicaCount": 2}, "idleReplicaCount: must be below"),
        ({"idleReplicaCount": 0}, "idleReplicaCount: must be below"),
        (
            {
                "triggers": [
                    {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}}
                ]
            },
            "with only cpu and memory triggers",
        ),
        ({"advanced": {"scalingModifiers": {"formula": "a+b"}}}, "scalingModifiers"),
        ({"triggers": [PROM, PROM | {"name": "x"}, PROM | {"name": "x"}]}, "names must be unique"),
    ],
)
def test_the_webhook_rules(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**fields)


# --- the engine --------------------------------------------------------------------------

BURST = {
    "type": "product",
    "parts": [
        {"type": "step", "before": 0, "after": 20, "at": "600s"},
        {"type": "step", "before": 1, "after": 0, "at": "1800s"},
    ],
}
KEDA = {
    "pollingInterval": 30,
    "cooldownPeriod": 300,
    "maxReplicaCount": 20,
    "triggers": [
        PROM | {"metadata": PROM_METADATA | {"activationThreshold": "1"}},
    ],
}


def keda_scenario(keda: dict[str, Any], metrics: dict[str, str]) -> dict[str, Any]:
    data = scenario(BURST, [], duration="50m")
    workload = data["platforms"]["k8s"]["workloads"]["web"]
    del workload["hpa"]
    workload["keda"] = copy.deepcopy(keda)
    workload["keda_metrics"] = metrics
    return data


def test_to_and_from_zero_by_hand(tmp_path: Path) -> None:
    result = run_mapping(tmp_path, keda_scenario(KEDA, {"0": "arrival_rate"}))
    scales = result.events[result.events.kind == "scale"]
    moves = [
        (float(e.time_s), int(e["from"]), int(e["to"]), e.reason) for _, e in scales.iterrows()
    ]
    assert moves[0] == (630.0, 0, 1, "KEDAScaledObjectActive")
    assert moves[1][:3] == (645.0, 1, 2)  # the HPA: ceil(15/10)
    assert moves[-1] == (2160.0, 1, 0, "KEDACooldownElapsed")
    rows = result.timeseries.set_index("time_s")
    assert set(rows.loc[rows.index <= 615].replicas_desired) == {0}  # idle: scaled to zero
    assert set(rows.loc[rows.index > 2160].replicas_desired) == {0}
    # requests arriving at zero replicas are dropped (no interceptor): 600–645 s
    assert rows.loc[615.0].dropped_rate == pytest.approx(20.0)


def test_a_scaled_object_from_a_manifest_file(tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"name": "web"}, **KEDA},
    }
    (tmp_path / "so.yaml").write_text(yaml.safe_dump(manifest))
    data = keda_scenario(KEDA, {"0": "arrival_rate"})
    workload = data["platforms"]["k8s"]["workloads"]["web"]
    del workload["keda"]
    workload["keda_manifest"] = "so.yaml"
    from_file = run_mapping(tmp_path, data)
    inline = run_mapping(tmp_path, keda_scenario(KEDA, {"0": "arrival_rate"}))
    assert from_file.events.equals(inline.events)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keda_metrics": {}}, "web.keda_metrics.0: name the simulated metric"),
        ({"triggers": [{"type": "kafka", "metadata": {}}]}, "keda.triggers[0].type"),
        ({"triggers": [PROM | {"metadata": {"threshold": "ten"}}]}, "metadata.threshold"),
        ({"triggers": [PROM | {"metadata": {"threshold": "1e400"}}]}, "metadata.threshold"),
        (
            {"keda_metrics": {"0": "arrival_rate", "7": "queue_length"}},
            "keda_metrics.7: no trigger",
        ),
    ],
)
def test_what_is_not_simulated_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str
) -> None:
    keda = KEDA | {k: v for k, v in change.items() if k != "keda_metrics"}
    metrics = change.get("keda_metrics", {"0": "arrival_rate"})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(keda_scenario(keda, metrics)))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err, err


def test_deploy_emit_writes_the_scaled_object(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(keda_scenario(KEDA, {"0": "arrival_rate"})))
    emitted = manifests_from_scenario(capsim.load_scenario(path), "k8s", EmitOptions())
    kinds = [o["kind"] for o in emitted.objects]
    assert "HorizontalPodAutoscaler" not in kinds  # KEDA creates it
    (scaled,) = [o for o in emitted.objects if o["kind"] == "ScaledObject"]
    deployment = next(o for o in emitted.objects if o["kind"] == "Deployment")
    assert "replicas" not in deployment["spec"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {"name": deployment["metadata"]["name"]}
    assert scaled["spec"]["minReplicaCount"] == 0
    # read back by capsim's model of the spec: the same ScaledObject
    assert ScaledObjectSpec.model_validate(scaled["spec"]).triggers == spec(**KEDA).triggers
    assert check_manifests(emitted.objects, "1.31") == []
    broken = copy.deepcopy(scaled)
    broken["spec"]["idleReplicaCount"] = 1  # not below the HPA minimum (1)
    assert check_manifests([*emitted.objects[:-1], broken], "1.31") != []


SCALED_OBJECT = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web}
spec:
  scaleTargetRef: {name: web}
  maxReplicaCount: 10
  cooldownPeriod: 120
  triggers:
    - type: prometheus
      name: rps
      metadata: {serverAddress: "http://p:9090", query: q, threshold: "4", activationThreshold: "1"}
"""


def test_validate_takes_a_scaled_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``validate --hpa`` takes a ScaledObject as it takes an HPA: 2 req/s for 30 min,
    then nothing: scaled to zero after the 120 s cooldown (KEDA's reason in the log)."""
    (tmp_path / "so.yaml").write_text(SCALED_OBJECT)
    rows = ["timestamp,requests_per_s"] + [f"{60 * i},{2 if i < 30 else 0}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    argv = ["validate", "--hpa", str(tmp_path / "so.yaml"), "--trace", str(tmp_path / "t.csv")]
    assert main([*argv, "--keda-metric", "rps=arrival_rate", "-o", "json"]) in (0, 1)
    out = yaml.safe_load(capsys.readouterr().out)
    reasons = [d["reason"] for d in out["decisions"]]
    assert "KEDACooldownElapsed" in reasons
    assert main([*argv]) == 2  # the prometheus trigger measures what? not said
    assert "keda_metrics.rps: name the simulated metric" in capsys.readouterr().err
    assert main([*argv, "--keda-metric", "rps"]) == 2
    assert "--keda-metric: expected TRIGGER=METRIC" in capsys.readouterr().err


def test_hpa_explain_describes_a_scaled_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """KEDA's part in words (activation, the cooldown, the sizes it sets), then the HPA
    KEDA creates (``keda-hpa-<name>``, min 1 for minReplicaCount 0, its External metric
    named ``s0-prometheus`` at the threshold) explained as any HPA."""
    path = tmp_path / "so.yaml"
    path.write_text(SCALED_OBJECT)
    assert main(["hpa", "explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ScaledObject default/web")
    assert "every 30 s; the object is active when any trigger is above its activation " in out
    assert "(rps: above 1)" in out
    assert "Active at 0: KEDA scales it to 1. Inactive for more than 120 s" in out
    assert "In between, the HPA KEDA creates (keda-hpa-web):" in out
    assert "Scales Deployment/web between 1 and 10 replicas" in out
    assert "external metric s0-prometheus: keep the average at 4 per pod" in out
    assert "described but not simulated" not in out
    assert "--keda-metric TRIGGER=METRIC" in out
    idle = SCALED_OBJECT.replace(
        "maxReplicaCount: 10", "maxReplicaCount: 10\n  minReplicaCount: 2\n  idleReplicaCount: 0"
    )
    path.write_text(idle)
    assert main(["hpa", "explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Active at 0 (idleReplicaCount): KEDA scales it to 2." in out


def test_the_bundled_scaled_object_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's KEDA example: the NASA trace ×40 for two days, one replica per 10
    requests/s, a 10-minute scale-down window: PASS."""
    from validate_examples import example_inputs

    argv = ["validate", *example_inputs("scaledobject.yaml"), "--keda-metric", "rps=arrival_rate"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("capsim validate: PASS")
