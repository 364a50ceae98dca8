"""Hostile HPA manifests: the API server's own limits, booleans where numbers belong,
quantities that are not finite, shapes that are not Kubernetes objects.

Each must end ``hpa explain`` and ``validate`` with exit 2 and one line
``capsim: error: FILE: [document N: ]field.path: message[, got VALUE]`` — never a traceback,
an internal error (exit 3) or a silent default. The limits are upstream's
(``pkg/apis/autoscaling/validation/validation.go``): ``minReplicas`` >= 1 (0 only with
Object/External metrics and the HPAScaleToZero gate), ``maxReplicas`` >= 1 and >=
``minReplicas``, windows 0..3600 s, policy periods 1..1800 s and values > 0, selectPolicy
Max/Min/Disabled, averageUtilization > 0, positive target quantities, one metric source per
metric. The same checks hold for an HPA written inline in a scenario.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from capsim.cli.main import main
from capsim.data import EXAMPLES_DIR
from capsim.hpa.quantity import MAX_MILLI, parse_api_quantity, quantity_milli
from capsim.scenario import KubernetesPlatform, ScenarioError
from capsim.scenario.schema import parse_scenario

DEPLOYMENT = EXAMPLES_DIR / "web-deployment.yaml"

HEAD = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\n"
SPEC = HEAD + "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
MAX5 = SPEC + "  maxReplicas: 5\n"


def cpu(target: str, kind: str = "Resource", key: str = "resource", extra: str = "") -> str:
    return f"  metrics:\n  - type: {kind}\n    {key}: {{name: cpu, {extra}target: {target}}}\n"


def avg(value: str) -> str:
    return MAX5 + cpu(f"{{type: AverageValue, averageValue: {value}}}")


def behavior(text: str) -> str:
    return MAX5 + f"  behavior: {text}\n"


def policy(text: str, direction: str = "scaleUp") -> str:
    return behavior(f"{{{direction}: {{policies: [{text}]}}}}")


OBJECT = (
    "  - type: Object\n    object: {describedObject: {kind: Ingress, name: web}, "
    "metric: {name: rps}, target: {type: Value, value: '10'}}\n"
)

# (id, manifest, the field (and words) the one-line error must name)
HOSTILE: list[tuple[str, str, str]] = [
    # shapes
    ("no spec", HEAD, "spec: required field is missing"),
    ("spec null", HEAD + "spec:\n", "spec: Input should be a valid dictionary"),
    ("spec a list", HEAD + "spec: [1]\n", "spec: Input should be a valid dictionary"),
    ("metadata a list", HEAD.replace("{name: web}", "[1]") + "spec: {}\n", "metadata:"),
    ("apiVersion a list", SPEC.replace("autoscaling/v2", "[autoscaling/v2]") + "  maxReplicas: 5\n",
     "apiVersion: expected autoscaling/v2 for a HorizontalPodAutoscaler, got ['autoscaling/v2']"),
    ("kind a list",
     MAX5.replace("kind: HorizontalPodAutoscaler", "kind: [HorizontalPodAutoscaler]"),
     "kind: expected a string, got ['HorizontalPodAutoscaler']"),
    ("no scaleTargetRef", HEAD + "spec:\n  maxReplicas: 5\n",
     "spec.scaleTargetRef: required field is missing"),
    ("scaleTargetRef a string", HEAD + "spec:\n  scaleTargetRef: web\n  maxReplicas: 5\n",
     "spec.scaleTargetRef: Input should be a valid dictionary"),
    ("no maxReplicas", SPEC, "spec.maxReplicas: required field is missing"),
    ("metrics a string", MAX5 + "  metrics: cpu\n", "spec.metrics: Input should be a valid tuple"),
    ("metrics a mapping", MAX5 + "  metrics: {type: Resource}\n", "spec.metrics: Input should be"),
    ("metric a number", MAX5 + "  metrics: [5]\n", "spec.metrics[0]: Input should be a valid"),
    ("metric without type", MAX5 + "  metrics: [{resource: {name: cpu}}]\n",
     "spec.metrics[0].type: required field is missing"),
    ("metric of unknown type", MAX5 + "  metrics: [{type: Magic}]\n",
     "spec.metrics[0].type: Input should be 'Resource', 'ContainerResource', 'Pods', 'Object' "
     "or 'External', got 'Magic'"),
    ("metric without its source", MAX5 + "  metrics: [{type: ContainerResource}]\n",
     "spec.metrics[0].containerResource: required for type ContainerResource"),
    ("two sources", MAX5 + cpu("{type: Utilization, averageUtilization: 60}")
     + "    pods: {metric: {name: x}, target: {type: AverageValue, averageValue: 1}}\n",
     "spec.metrics[0].pods: must populate the given metric source only (type is Resource)"),
    ("target missing", MAX5 + "  metrics:\n  - type: Resource\n    resource: {name: cpu}\n",
     "spec.metrics[0].resource.target: required field is missing"),
    ("target type unknown", MAX5 + cpu("{type: Percent, averageUtilization: 5}"),
     "spec.metrics[0].resource.target.type: Input should be 'Utilization', 'AverageValue' or "
     "'Value', got 'Percent'"),
    ("Value target on a Resource metric", MAX5 + cpu("{type: Value, value: 1}"),
     "spec.metrics[0].resource.target.type: a Resource metric takes Utilization or "
     "AverageValue, got 'Value'"),
    ("Utilization on a Pods metric", MAX5 + "  metrics:\n  - type: Pods\n    pods: {metric: "
     "{name: rps}, target: {type: Utilization, averageUtilization: 5}}\n",
     "spec.metrics[0].pods.target.type: Utilization is only valid for Resource and "
     "ContainerResource metrics"),
    ("both targets", MAX5 + cpu("{type: Utilization, averageUtilization: 5, averageValue: 1}"),
     "spec.metrics[0].resource.target.averageValue: may not set both a target raw value and a "
     "target utilization"),
    # replica bounds (upstream validateHorizontalPodAutoscalerSpec)
    ("minReplicas true", SPEC + "  minReplicas: true\n  maxReplicas: 5\n",
     "spec.minReplicas: Input should be a valid integer, got True"),
    ("maxReplicas true", SPEC + "  maxReplicas: true\n",
     "spec.maxReplicas: Input should be a valid integer, got True"),
    ("maxReplicas a float", SPEC + "  maxReplicas: 5.0\n",
     "spec.maxReplicas: Input should be a valid integer, got 5.0"),
    ("maxReplicas text", SPEC + "  maxReplicas: '5'\n",
     "spec.maxReplicas: Input should be a valid integer, got '5'"),
    ("maxReplicas beyond int32", SPEC + "  maxReplicas: 99999999999\n",
     "spec.maxReplicas: Input should be less than or equal to 2147483647, got 99999999999"),
    ("minReplicas 0 with a cpu metric",
     SPEC + "  minReplicas: 0\n  maxReplicas: 5\n"
     + cpu("{type: Utilization, averageUtilization: 60}"),
     "spec.minReplicas: must be greater than or equal to 1 (0 needs the HPAScaleToZero feature "
     "gate and at least one Object or External metric: 'must specify at least one Object or "
     "External metric to support scaling to zero replicas'), got 0"),
    ("minReplicas 0, defaulted metrics", SPEC + "  minReplicas: 0\n  maxReplicas: 5\n",
     "spec.minReplicas: must be greater than or equal to 1"),
    ("minReplicas negative", SPEC + "  minReplicas: -1\n  maxReplicas: 5\n",
     "spec.minReplicas: must be greater than or equal to 1, got -1"),
    ("maxReplicas 0", SPEC + "  maxReplicas: 0\n",
     "spec.maxReplicas: must be greater than 0, got 0"),
    ("maxReplicas below minReplicas", SPEC + "  minReplicas: 6\n  maxReplicas: 5\n",
     "spec.maxReplicas: must be greater than or equal to `minReplicas` (6), got 5"),
    # targets and quantities
    ("averageUtilization 0", MAX5 + cpu("{type: Utilization, averageUtilization: 0}"),
     "spec.metrics[0].resource.target.averageUtilization: must be greater than 0, got 0"),
    ("averageUtilization true", MAX5 + cpu("{type: Utilization, averageUtilization: true}"),
     "spec.metrics[0].resource.target.averageUtilization: Input should be a valid integer, "
     "got True"),
    ("averageValue 1e400", avg("'1e400'"),
     "spec.metrics[0].resource.target.averageValue: must be at most 9223372036854775807m (the "
     "largest Kubernetes quantity), got '1e400'"),
    ("averageValue 1e999999999", avg("'1e999999999'"),
     "spec.metrics[0].resource.target.averageValue: must be at most"),
    ("averageValue beyond int64 milli", avg("'9223372036854776'"),
     "spec.metrics[0].resource.target.averageValue: must be at most"),
    ("averageValue NaN", avg("NaN"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: 'NaN'"),
    ("averageValue .nan", avg(".nan"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: nan"),
    ("averageValue inf", avg("inf"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: 'inf'"),
    ("averageValue .inf", avg(".inf"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: inf"),
    ("averageValue negative", avg("-100m"),
     "spec.metrics[0].resource.target.averageValue: must be positive, got '-100m'"),
    ("averageValue 0", avg("0"),
     "spec.metrics[0].resource.target.averageValue: must be positive, got 0"),
    ("averageValue true", avg("true"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: True"),
    ("averageValue too long", avg("'" + "1" * 80 + "'"),
     "spec.metrics[0].resource.target.averageValue: not a quantity: longer than 64 characters"),
    ("container not a DNS label",
     MAX5 + cpu("{type: Utilization, averageUtilization: 5}", "ContainerResource",
                "containerResource", "container: App_1, "),
     "spec.metrics[0].containerResource.container: must be a DNS-1123 label"),
    ("container missing",
     MAX5 + cpu("{type: Utilization, averageUtilization: 5}", "ContainerResource",
                "containerResource"),
     "spec.metrics[0].containerResource.container: required field is missing"),
    # behavior (upstream validateBehavior, validateScalingRules, validateScalingPolicy)
    ("behavior a list", behavior("[1]"), "spec.behavior: Input should be a valid dictionary"),
    ("behavior a string", behavior("fast"),
     "spec.behavior: Input should be a valid dictionary, got 'fast'"),
    ("behavior unknown direction", behavior("{scaleSideways: {}}"),
     "spec.behavior.scaleSideways: unknown field"),
    ("scaleUp a list", behavior("{scaleUp: [1]}"),
     "spec.behavior.scaleUp: expected a mapping, got [1]"),
    ("policies empty", behavior("{scaleUp: {policies: []}}"),
     "spec.behavior.scaleUp.policies: must specify at least one Policy"),
    ("policies a mapping", behavior("{scaleUp: {policies: {type: Pods}}}"),
     "spec.behavior.scaleUp.policies: expected a list"),
    ("policy a number", policy("7"),
     "spec.behavior.scaleUp.policies[0]: expected a mapping, got 7"),
    ("policy type unknown", policy("{type: Nodes, value: 1, periodSeconds: 15}"),
     "spec.behavior.scaleUp.policies[0].type: must be Pods or Percent, got 'Nodes'"),
    ("policy type a list", policy("{type: [Pods], value: 1, periodSeconds: 15}"),
     "spec.behavior.scaleUp.policies[0].type: must be Pods or Percent, got ['Pods']"),
    ("policy value 0", policy("{type: Pods, value: 0, periodSeconds: 15}"),
     "spec.behavior.scaleUp.policies[0].value: must be greater than zero, got 0"),
    ("policy value true", policy("{type: Pods, value: true, periodSeconds: 15}"),
     "spec.behavior.scaleUp.policies[0].value: expected an integer, got True"),
    ("policy period 0", policy("{type: Pods, value: 1, periodSeconds: 0}"),
     "spec.behavior.scaleUp.policies[0].periodSeconds: must be greater than zero, got 0"),
    ("policy period 1801", policy("{type: Pods, value: 1, periodSeconds: 1801}", "scaleDown"),
     "spec.behavior.scaleDown.policies[0].periodSeconds: must be less than or equal to 1800, "
     "got 1801"),
    ("policy period beyond int32",
     policy("{type: Pods, value: 1, periodSeconds: 99999999999}", "scaleDown"),
     "spec.behavior.scaleDown.policies[0].periodSeconds: must fit a 32-bit integer"),
    ("window negative", behavior("{scaleDown: {stabilizationWindowSeconds: -1}}"),
     "spec.behavior.scaleDown.stabilizationWindowSeconds: must be greater than or equal to "
     "zero, got -1"),
    ("window 3601", behavior("{scaleDown: {stabilizationWindowSeconds: 3601}}"),
     "spec.behavior.scaleDown.stabilizationWindowSeconds: must be less than or equal to 3600, "
     "got 3601"),
    ("window a float", behavior("{scaleUp: {stabilizationWindowSeconds: 1.5}}"),
     "spec.behavior.scaleUp.stabilizationWindowSeconds: expected an integer, got 1.5"),
    ("selectPolicy unknown", behavior("{scaleDown: {selectPolicy: Fastest}}"),
     "spec.behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled, got 'Fastest'"),
    ("selectPolicy a mapping", behavior("{scaleDown: {selectPolicy: {a: 1}}}"),
     "spec.behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled"),
    ("tolerance 1e400", behavior("{scaleUp: {tolerance: '1e400'}}"),
     "spec.behavior.scaleUp.tolerance: must be at most"),
    ("tolerance .nan", behavior("{scaleUp: {tolerance: .nan}}"),
     "spec.behavior.scaleUp.tolerance: not a quantity: nan"),
    ("tolerance negative", behavior("{scaleUp: {tolerance: -1}}"),
     "spec.behavior.scaleUp.tolerance: must be greater than or equal to zero, got -1"),
    # autoscaling/v1 converted: its target is checked like a v2 one
    ("v1 target true", MAX5.replace("autoscaling/v2", "autoscaling/v1")
     + "  targetCPUUtilizationPercentage: true\n",
     "spec.metrics[0].resource.target.averageUtilization: Input should be a valid integer"),
]  # fmt: skip
HOSTILE_ARGS = [case[1:] for case in HOSTILE]
HOSTILE_IDS = [case[0] for case in HOSTILE]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, path: Path, expected: str) -> None:
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith(f"capsim: error: {path}")
    assert expected in err


@pytest.mark.parametrize(("text", "expected"), HOSTILE_ARGS, ids=HOSTILE_IDS)
def test_hpa_explain_refuses_hostile_manifests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "hpa", "explain", str(path), "--deployment", str(DEPLOYMENT))
    assert_one_line_error(code, out, err, path, expected)


TRACE_ROWS = "timestamp,requests_per_s\n" + "".join(f"{t},10\n" for t in range(0, 1800, 60))


def validate(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str) -> Any:
    path = tmp_path / "hpa.yaml"
    path.write_text(text)
    trace = tmp_path / "trace.csv"
    trace.write_text(TRACE_ROWS)
    argv = ["validate", "--hpa", str(path), "--deployment", str(DEPLOYMENT), "--trace", str(trace)]
    return path, *run(capsys, *argv)


@pytest.mark.parametrize(("text", "expected"), HOSTILE_ARGS, ids=HOSTILE_IDS)
def test_validate_refuses_hostile_manifests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path, code, out, err = validate(capsys, tmp_path, text)
    assert_one_line_error(code, out, err, path, expected)


# Valid upstream, but capsim cannot simulate them: `hpa explain` describes them with a note,
# `validate` (and `run`) refuse them naming the field.
UNSIMULATED: list[tuple[str, str, str]] = [
    ("Pods metric", MAX5 + "  metrics:\n  - type: Pods\n    pods: {metric: {name: rps}, "
     "target: {type: AverageValue, averageValue: '10'}}\n",
     "spec.metrics[0].pods.metric.name: the Pods metrics capsim simulates are "
     "requests_in_flight, requests_per_second, gpu_utilization, kv_cache_usage, got 'rps'"),
    ("Object metric", MAX5 + "  metrics:\n" + OBJECT,
     "spec.metrics[0].object.describedObject.kind: capsim simulates metrics of a service's "
     "Service or Deployment, got 'Ingress'"),
    ("External metric", MAX5 + "  metrics:\n  - type: External\n    external: {metric: "
     "{name: queue}, target: {type: AverageValue, averageValue: '30'}}\n",
     "spec.metrics[0].external.metric.name: the External metrics capsim simulates are "
     "queue_length, requests_in_flight, requests_per_second, arrival_rate, got 'queue'"),
    ("minReplicas 0 with an Object metric", SPEC + "  minReplicas: 0\n  maxReplicas: 5\n"
     "  metrics:\n" + OBJECT, "spec.metrics[0].object.describedObject.kind: capsim simulates"),
    ("a gpu Resource metric", MAX5 + "  metrics:\n  - type: Resource\n    resource: {name: "
     "nvidia.com/gpu, target: {type: Utilization, averageUtilization: 50}}\n",
     "spec.metrics[0].resource.name: only cpu and memory are simulated, got 'nvidia.com/gpu'"),
    ("a sidecar's ContainerResource", MAX5 + cpu("{type: Utilization, averageUtilization: 50}",
     "ContainerResource", "containerResource", "container: log-shipper, "),
     "spec.metrics[0].containerResource.container: a metric on container 'log-shipper' is not "
     "simulated yet"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in UNSIMULATED], ids=[c[0] for c in UNSIMULATED]
)
def test_validate_refuses_what_it_does_not_simulate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path, code, out, err = validate(capsys, tmp_path, text)
    assert_one_line_error(code, out, err, path, expected)
    code, out, err = run(capsys, "hpa", "explain", str(path), "--deployment", str(DEPLOYMENT))
    assert (code, err) == (0, "")  # valid upstream: described, not refused
    if "Object" in text or "External" in text:
        assert "metrics are described but not simulated" in out


def test_explain_warns_that_scale_to_zero_needs_the_gate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(SPEC + "  minReplicas: 0\n  maxReplicas: 5\n  metrics:\n" + OBJECT)
    code, out, _ = run(capsys, "hpa", "explain", str(path), "--strict")
    assert code == 1
    assert "minReplicas 0 needs the HPAScaleToZero feature gate" in out


# --- the same limits for an HPA written inline in a scenario ---------------------------

SCENARIO: dict[str, Any] = {
    "name": "strict",
    "duration": "1h",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "constant", "rate": 10},
            "cpu_ms_per_request": 20,
        }
    ],
    "platforms": {
        "k8s": {
            "kind": "kubernetes",
            "node_pools": [
                {"name": "general", "vcpu": 4, "memory": "16Gi", "price_per_hour": 0.2,
                 "max_nodes": 5}
            ],
            "workloads": {
                "web": {
                    "pod": {"cpu_request": "500m", "memory_request": "512Mi"},
                    "hpa": {"minReplicas": 1, "maxReplicas": 10},
                }
            },
        }
    },
}  # fmt: skip
FIELD = "platforms.k8s.workloads.web.hpa"
CPU_60 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
          "averageUtilization": 60}}}  # fmt: skip

INLINE: list[tuple[str, dict[str, Any], str]] = [
    ("minReplicas true", {"minReplicas": True}, f"{FIELD}.minReplicas: Input should be a valid "
     "integer, got True"),
    ("maxReplicas true", {"maxReplicas": True}, f"{FIELD}.maxReplicas: Input should be a valid "
     "integer"),
    ("minReplicas 0", {"minReplicas": 0, "metrics": [CPU_60]},
     f"{FIELD}.minReplicas: must be greater than or equal to 1 (0 needs the HPAScaleToZero"),
    ("maxReplicas 0", {"maxReplicas": 0}, f"{FIELD}.maxReplicas: must be greater than 0, got 0"),
    ("max below min", {"minReplicas": 11}, f"{FIELD}.maxReplicas: must be greater than or equal "
     "to `minReplicas` (11), got 10"),
    ("window 7200", {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 7200}}},
     f"{FIELD}.behavior.scaleDown.stabilizationWindowSeconds: must be less than or equal to "
     "3600, got 7200"),
    ("period 3600", {"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1,
     "periodSeconds": 3600}]}}}, f"{FIELD}.behavior.scaleUp.policies[0].periodSeconds: must be "
     "less than or equal to 1800, got 3600"),
    ("averageValue 1e400", {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
     "target": {"type": "AverageValue", "averageValue": "1e400"}}}]},
     f"{FIELD}.metrics[0].resource.target.averageValue: must be at most 9223372036854775807m"),
    ("ContainerResource without its source", {"metrics": [{"type": "ContainerResource"}]},
     f"{FIELD}.metrics[0].containerResource: required for type ContainerResource"),
    ("two sources", {"metrics": [{**CPU_60, "pods": {"metric": {"name": "x"}, "target": {
     "type": "AverageValue", "averageValue": 1}}}]},
     f"{FIELD}.metrics[0].pods: must populate the given metric source only"),
]  # fmt: skip
INLINE_ARGS = [case[1:] for case in INLINE]
INLINE_IDS = [case[0] for case in INLINE]


@pytest.mark.parametrize(("change", "expected"), INLINE_ARGS, ids=INLINE_IDS)
def test_inline_hpa_has_the_same_limits(change: dict[str, Any], expected: str) -> None:
    data = copy.deepcopy(SCENARIO)
    data["platforms"]["k8s"]["workloads"]["web"]["hpa"].update(change)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, where="s.yaml", base_dir=Path("."))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("s.yaml: ")
    assert expected in message


def test_inline_container_resource_is_read() -> None:
    data = copy.deepcopy(SCENARIO)
    data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["metrics"] = [
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    scenario = parse_scenario(data, where="s.yaml", base_dir=Path("."))
    platform = scenario.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    config = platform.workloads["web"]
    assert config.hpa is not None
    assert config.hpa.metrics[0].container == "app"


# --- quantities as the API takes them ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        ("2Gi", Fraction(2 * 2**30)),
        ("1e3", Fraction(1000)),
        (3, Fraction(3)),
        ("9223372036854775807m", Fraction(MAX_MILLI, 1000)),
    ],
)
def test_quantities_within_range_parse_exactly(value: Any, expected: Fraction) -> None:
    assert parse_api_quantity(value) == expected


def test_a_tiny_quantity_rounds_up_to_one_milli() -> None:
    assert quantity_milli("1e-30") == 1  # Quantity.MilliValue rounds up


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e400", "must be at most 9223372036854775807m"),
        ("1e999999999", "must be at most 9223372036854775807m"),  # refused before it is built
        ("1e-999999999", "not a quantity: exponent below -40"),
        ("9223372036854776", "must be at most"),
        (float("inf"), "not a quantity: inf"),
        (float("nan"), "not a quantity: nan"),
        ("NaN", "not a quantity: 'NaN'"),
        ("inf", "not a quantity: 'inf'"),
        (True, "not a quantity: True"),
        ([1], "not a quantity: [1]"),
        ("1" * 65, "not a quantity: longer than 64 characters"),
    ],
)
def test_quantities_beyond_the_api_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_api_quantity(value)
