"""Fuzz: hostile HPA and Deployment manifests for every command that reads them: ``hpa
explain``, ``validate`` (``--hpa``/``--deployment``) and ``run`` (a scenario whose HPA is
an ``hpa_manifest`` file). ContainerResource, Object, External and Pods metrics;
minReplicas 0 or ``true``; windows and periods beyond the API server's limits; ``1e400``
quantities; several documents; kinds capsim does not know; wrong types.

Valid Kubernetes input (a ContainerResource metric, GA since 1.30) must work: exit 0/1.
Input the API server itself rejects must be refused: exit 2 naming the file and field.
Each case asserts capsim's promise (see :mod:`harness`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import harness
import inputs
import pytest
import yaml
from harness import BAD_INPUT, VALID, VALID_OR_REFUSED, Case, Workspace, case

EXPLAIN_OK = frozenset({0})
EXPLAIN_WARNS = frozenset({0, 1, 2})  # accepted with a warning, or refused
RUN_OK = frozenset({0})


def _cpu(target: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": target or {"type": "Utilization", "averageUtilization": 60},
        },
    }


CONTAINER_RESOURCE = {
    "type": "ContainerResource",
    "containerResource": {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    },
}
OBJECT = {
    "type": "Object",
    "object": {
        "metric": {"name": "requests-per-second"},
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
        "target": {"type": "Value", "value": "10k"},
    },
}
EXTERNAL = {
    "type": "External",
    "external": {
        "metric": {"name": "queue_messages_ready", "selector": {"matchLabels": {"queue": "jobs"}}},
        "target": {"type": "AverageValue", "averageValue": "30"},
    },
}
PODS = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "packets-per-second"},
        "target": {"type": "AverageValue", "averageValue": "1k"},
    },
}


def _behavior(direction: str, **rule: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    base.update(rule)
    return {"behavior": {direction: base}}


def _policy(**fields: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {"type": "Pods", "value": 1, "periodSeconds": 60}
    policy.update(fields)
    return {"behavior": {"scaleUp": {"policies": [policy]}}}


def _docs(*documents: Any) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def _hpa_text(**spec: Any) -> str:
    return yaml.safe_dump(inputs.hpa(**spec), sort_keys=False)


def _edited(change: Any) -> str:
    body = inputs.hpa()
    change(body)
    return yaml.safe_dump(body, sort_keys=False)


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
_OTHER_HPA = inputs.hpa()
_OTHER_HPA["metadata"]["name"] = "api"
_OTHER_HPA["spec"]["scaleTargetRef"]["name"] = "api"

# name → (text of h.yaml, explain, validate, run)
HPA_KINDS: dict[str, tuple[str, frozenset[int], frozenset[int], frozenset[int]]] = {
    "valid": (_hpa_text(), EXPLAIN_OK, VALID, RUN_OK),
    "container-resource": (_hpa_text(metrics=[CONTAINER_RESOURCE]), EXPLAIN_OK, VALID, RUN_OK),
    "container-resource-and-cpu": (
        _hpa_text(metrics=[CONTAINER_RESOURCE, _cpu()]),
        EXPLAIN_OK,
        VALID,
        RUN_OK,
    ),
    "object-metric": (_hpa_text(metrics=[OBJECT]), EXPLAIN_OK, VALID_OR_REFUSED, frozenset({0, 2})),
    "external-metric": (
        _hpa_text(metrics=[EXTERNAL]),
        EXPLAIN_OK,
        VALID_OR_REFUSED,
        frozenset({0, 2}),
    ),
    "pods-metric": (_hpa_text(metrics=[PODS]), EXPLAIN_OK, VALID_OR_REFUSED, frozenset({0, 2})),
    "memory-utilization": (
        _hpa_text(
            metrics=[
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ]
        ),
        EXPLAIN_OK,
        VALID_OR_REFUSED,
        frozenset({0, 2}),
    ),
    "metrics-empty-list": (_hpa_text(metrics=[]), EXPLAIN_OK, VALID, RUN_OK),
    "minReplicas-0-cpu": (_hpa_text(minReplicas=0), EXPLAIN_WARNS, BAD_INPUT, BAD_INPUT),
    "minReplicas-true": (_hpa_text(minReplicas=True), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "minReplicas-string": (_hpa_text(minReplicas="3"), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "minReplicas-1.5": (_hpa_text(minReplicas=1.5), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "maxReplicas-0": (_hpa_text(maxReplicas=0), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "maxReplicas-below-min": (
        _hpa_text(minReplicas=5, maxReplicas=3),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "maxReplicas-2^31": (_hpa_text(maxReplicas=2**31), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "maxReplicas-1e400": (_hpa_text(maxReplicas=float("inf")), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "window-3601s": (
        _hpa_text(**_behavior("scaleDown", stabilizationWindowSeconds=3601)),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "window-negative": (
        _hpa_text(**_behavior("scaleUp", stabilizationWindowSeconds=-1)),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "period-1801s": (_hpa_text(**_policy(periodSeconds=1801)), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "period-0": (_hpa_text(**_policy(periodSeconds=0)), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "policy-value-0": (_hpa_text(**_policy(value=0)), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "policy-type-bogus": (_hpa_text(**_policy(type="Bogus")), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "select-policy-bogus": (
        _hpa_text(**_behavior("scaleUp", selectPolicy="Sometimes")),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageValue-1e400": (
        _hpa_text(metrics=[_cpu({"type": "AverageValue", "averageValue": "1e400"})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageValue-negative": (
        _hpa_text(metrics=[_cpu({"type": "AverageValue", "averageValue": "-1"})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageValue-garbage": (
        _hpa_text(metrics=[_cpu({"type": "AverageValue", "averageValue": "lots"})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageUtilization-0": (
        _hpa_text(metrics=[_cpu({"type": "Utilization", "averageUtilization": 0})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageUtilization-inf": (
        _hpa_text(metrics=[_cpu({"type": "Utilization", "averageUtilization": float("inf")})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "averageUtilization-true": (
        _hpa_text(metrics=[_cpu({"type": "Utilization", "averageUtilization": True})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "target-type-bogus": (
        _hpa_text(metrics=[_cpu({"type": "Bogus", "averageUtilization": 50})]),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "metric-type-bogus": (_hpa_text(metrics=[{"type": "Bogus"}]), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "metrics-a-mapping": (_hpa_text(metrics={"a": 1}), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "spec-a-list": (_edited(lambda b: b.update(spec=[1])), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "no-spec": (_edited(lambda b: b.pop("spec")), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "no-name": (_edited(lambda b: b["metadata"].pop("name")), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "no-apiVersion": (_edited(lambda b: b.pop("apiVersion")), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "v2beta1": (
        _edited(lambda b: b.update(apiVersion="autoscaling/v2beta1")),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "wrong-group": (
        _edited(lambda b: b.update(apiVersion="apps/v1")),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "two-hpas": (_docs(_OTHER_HPA, inputs.hpa()), EXPLAIN_OK, VALID_OR_REFUSED, RUN_OK),
    "hpa-and-configmap": (
        _docs(CONFIGMAP, inputs.hpa()),
        frozenset({0, 2}),
        VALID_OR_REFUSED,
        frozenset({0, 2}),
    ),
    "only-a-configmap": (_docs(CONFIGMAP), BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "empty-documents": ("---\n---\n", BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "kind-list": (
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [inputs.hpa()]}),
        EXPLAIN_OK,
        VALID,
        RUN_OK,
    ),
    "kind-list-items-null": (
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": None}),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "document-a-list": ("- 1\n- 2\n", BAD_INPUT, BAD_INPUT, BAD_INPUT),
    "duplicate-maxReplicas": (
        _hpa_text().replace("maxReplicas: 30\n", "maxReplicas: 5\n  maxReplicas: 500\n"),
        BAD_INPUT,
        BAD_INPUT,
        BAD_INPUT,
    ),
    "non-utf8": (_hpa_text().replace("shop", "sh\udcffp"), BAD_INPUT, BAD_INPUT, BAD_INPUT),
}


def _container(**resources: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1", "resources": resources}


def _deployment_with(change: Any) -> str:
    body = inputs.deployment()
    change(body)
    return yaml.safe_dump(body, sort_keys=False)


def _requests(cpu: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = cpu

    return change


def _two_containers(body: dict[str, Any]) -> None:
    containers = body["spec"]["template"]["spec"]["containers"]
    containers.append(
        {"name": "sidecar", "image": "envoy:1", "resources": {"requests": {"cpu": "100m"}}}
    )


# name → (text of d.yaml, explain, validate)
DEPLOYMENT_KINDS: dict[str, tuple[str, frozenset[int], frozenset[int]]] = {
    "valid": (_deployment_with(lambda b: None), EXPLAIN_OK, VALID),
    "two-containers": (_deployment_with(_two_containers), EXPLAIN_OK, VALID),
    "no-containers": (
        _deployment_with(lambda b: b["spec"]["template"]["spec"].pop("containers")),
        BAD_INPUT,
        BAD_INPUT,
    ),
    "containers-a-mapping": (
        _deployment_with(lambda b: b["spec"]["template"]["spec"].update(containers={"a": 1})),
        BAD_INPUT,
        BAD_INPUT,
    ),
    "cpu-request-garbage": (_deployment_with(_requests("lots")), BAD_INPUT, BAD_INPUT),
    "cpu-request-1e400": (_deployment_with(_requests("1e400")), BAD_INPUT, BAD_INPUT),
    "cpu-request-negative": (_deployment_with(_requests("-500m")), BAD_INPUT, BAD_INPUT),
    "cpu-request-zero": (_deployment_with(_requests(0)), EXPLAIN_WARNS, BAD_INPUT),
    "cpu-request-true": (_deployment_with(_requests(True)), BAD_INPUT, BAD_INPUT),
    "memory-1e400Gi": (
        _deployment_with(
            lambda b: b["spec"]["template"]["spec"]["containers"][0]["resources"][
                "requests"
            ].update(memory="1e400Gi")
        ),
        BAD_INPUT,
        BAD_INPUT,
    ),
    "limit-below-request": (
        _deployment_with(
            lambda b: b["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                cpu="100m"
            )
        ),
        EXPLAIN_WARNS,
        BAD_INPUT,
    ),
    "replicas-negative": (
        _deployment_with(lambda b: b["spec"].update(replicas=-1)),
        BAD_INPUT,
        BAD_INPUT,
    ),
    "a-service": (
        yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}),
        BAD_INPUT,
        BAD_INPUT,
    ),
    "document-a-scalar": ("42\n", BAD_INPUT, BAD_INPUT),
}


def _files(hpa_text: str | None = None, deployment_text: str | None = None) -> harness.Setup:
    def setup(space: Workspace) -> None:
        raw = hpa_text if hpa_text is not None else _hpa_text()
        space.write("h.yaml", raw.encode("utf-8", "surrogateescape"))
        space.write("d.yaml", deployment_text or yaml.safe_dump(inputs.deployment()))
        space.write("t.csv", inputs.trace_csv())
        scenario = inputs.small_scenario()
        web = scenario["platforms"]["kube"]["workloads"]["web"]
        web.pop("hpa")
        web["hpa_manifest"] = "h.yaml"
        space.write_yaml("s.yaml", scenario)

    return setup


EXPLAIN = ["hpa", "explain", "h.yaml", "--deployment", "d.yaml"]
VALIDATE = ["validate", "--hpa", "h.yaml", "--deployment", "d.yaml", "--trace", "t.csv"]
VALIDATE += ["--cpu-ms-per-request", "20"]
RUN = ["run", "s.yaml", "--out", "out", *inputs.JSON_ONLY]
OUT = ("work/out", "work/out/**")


def _all_cases() -> Iterator[Case]:
    for kind, (text, explain, validate, run) in HPA_KINDS.items():
        setup = _files(hpa_text=text)
        named = ["h.yaml"]
        yield case(f"hpa:explain:{kind}", EXPLAIN, explain, setup, names=named)
        yield case(f"hpa:validate:{kind}", VALIDATE, validate, setup, names=named)
        yield case(f"hpa:run:{kind}", RUN, run, setup, writes=OUT, names=named)
    for kind, (text, explain, validate) in DEPLOYMENT_KINDS.items():
        setup = _files(deployment_text=text)
        named = ["d.yaml"]
        yield case(f"deployment:explain:{kind}", EXPLAIN, explain, setup, names=named)
        yield case(f"deployment:validate:{kind}", VALIDATE, validate, setup, names=named)


CASES = list(_all_cases())


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_manifest_input(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
