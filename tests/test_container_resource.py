"""``ContainerResource`` HPA metrics: read, explained and simulated as Resource metrics on one
container's usage and request.

Upstream (``replica_calculator.go: GetResourceReplicas`` with a container name,
``rest_metrics_client.go: getContainerMetrics``) sums only the named container's usage and
request. capsim's model computes one usage per pod: a pod template without ``containers`` is
one container; a pod that lists them gives all of its usage to the first (the app), whose
own request the HPA divides by. The replica counts below are upstream's own cases
(``replica_calculator_test.go``, ``TestReplicaCalcScaleUpContainer`` and
``TestReplicaCalcContainerScaleDown``: two containers of request 1.0 per pod, the metric on
``container2``), worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from capsim import hpa
from capsim.cli.main import main
from capsim.data import EXAMPLES_DIR
from capsim.engine.kubernetes.hpa_controller import _metric_row
from capsim.scenario import PodTemplate
from capsim.scenario.manifests import HpaTemplate

DEPLOYMENT = EXAMPLES_DIR / "web-deployment.yaml"  # web: app 500m + sidecar log-shipper 50m
NOW = 10_000.0


def container_hpa(container: str, target: int = 50, resource: str = "cpu") -> dict[str, Any]:
    return {
        "minReplicas": 1,
        "maxReplicas": 20,
        "metrics": [
            {
                "type": "ContainerResource",
                "containerResource": {
                    "name": resource,
                    "container": container,
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ],
    }


def upstream_pod() -> PodTemplate:
    """Upstream's test pod: two containers requesting 1 CPU each; the metric's container
    listed first (the app, which the model gives the pod's usage)."""
    return PodTemplate.model_validate(
        {
            "cpu_request": 2,
            "memory_request": "1Gi",
            "containers": [
                {"name": "container2", "cpu_request": 1},
                {"name": "container1", "cpu_request": 1},
            ],
        }
    )


def replicas(current: int, usage_milli: list[int], request_milli: int, target: int) -> int:
    """The calculator over ready, settled pods with one sample each."""
    pods = [
        hpa.PodInfo(f"p{i}", start_time=0.0, ready_transition_time=0.0, request_milli=request_milli)
        for i in range(len(usage_milli))
    ]
    samples = {f"p{i}": hpa.MetricSample(u, NOW - 30, 60.0) for i, u in enumerate(usage_milli)}
    result = hpa.resource_replicas(
        current, pods, samples, target_utilization=target, now=NOW, resource="cpu"
    )
    return result.replicas


@pytest.mark.parametrize(
    ("current", "container2_usage", "target", "expected"),
    [
        # TestReplicaCalcScaleUpContainer: floor(100 · 1500 / 3000) = 50 %; 50 / 30 · 3 → 5.
        (3, [300, 500, 700], 30, 5),
        # TestReplicaCalcContainerScaleDown: floor(100 · 1400 / 5000) = 28 %;
        # 28 / 50 · 5 = 2.8 → 3.
        (5, [100, 300, 500, 250, 250], 50, 3),
    ],
)
def test_upstream_container_cases(
    current: int, container2_usage: list[int], target: int, expected: int
) -> None:
    template = HpaTemplate.model_validate(container_hpa("container2", target))
    row = _metric_row(template, 0, upstream_pod(), 0, 0, 0)
    assert (row.resource, row.utilization, row.target) == ("cpu", True, target)
    assert row.container == "container2"
    assert row.request_milli == 1000  # the container's request, not the pod's 2000
    assert replicas(current, container2_usage, row.request_milli, target) == expected


def test_the_same_load_as_a_resource_metric_divides_by_the_pod() -> None:
    """The contrast that makes the container's request matter: a Resource metric on the same
    pods (container1 at 1000m as upstream) is 64 %: floor(100 · 6400 / 10000); 64 / 50 · 5
    = 6.4 → 7, where the ContainerResource metric above says 3."""
    spec = container_hpa("container2")
    spec["metrics"] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
    row = _metric_row(HpaTemplate.model_validate(spec), 0, upstream_pod(), 0, 0, 0)
    assert (row.request_milli, row.container) == (2000, None)
    whole_pods = [1000 + u for u in (100, 300, 500, 250, 250)]
    assert replicas(5, whole_pods, row.request_milli, 50) == 7


def test_a_pod_without_containers_is_one_container() -> None:
    pod = PodTemplate.model_validate({"cpu_request": "400m", "memory_request": "256Mi"})
    cpu = _metric_row(HpaTemplate.model_validate(container_hpa("anything")), 0, pod, 0, 0, 0)
    assert cpu.request_milli == 400
    memory = _metric_row(
        HpaTemplate.model_validate(container_hpa("anything", 80, "memory")), 0, pod, 0, 0, 0
    )
    assert memory.request_milli == 256 * 2**20 * 1000  # milli-bytes


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (
            "nope",
            "metrics[0].containerResource.container: container 'nope' not present in pod "
            "(containers: container2, container1), got 'nope'",
        ),
        ("container1", "metrics[0].containerResource.container: a metric on container"),
    ],
)
def test_a_container_the_model_cannot_measure_is_refused(container: str, message: str) -> None:
    template = HpaTemplate.model_validate(container_hpa(container))
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        _metric_row(template, 0, upstream_pod(), 0, 0, 0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_hpa(tmp_path: Path, container: str, target: int = 50) -> str:
    manifest: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            **container_hpa(container, target),
            "minReplicas": 2,
        },
    }
    path = tmp_path / "hpa.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return str(path)


def test_hpa_explain_reads_and_describes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_hpa(tmp_path, "app", 60)
    code, out, err = run(capsys, "hpa", "explain", path, "--deployment", str(DEPLOYMENT))
    assert (code, err) == (0, "")
    # The app container's own request (500m), not the pod's 550m with the sidecar.
    assert "cpu of container app: keep average usage at 60 % of the request" in out
    assert "(request 500m of container app → 300m per pod)" in out
    code, out, _ = run(capsys, "hpa", "explain", path, "--json")
    assert code == 0
    metric = json.loads(out)["hpas"][0]["metrics"][0]
    assert metric["containerResource"] == {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    }


def test_hpa_explain_refuses_a_container_the_deployment_lacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_hpa(tmp_path, "worker")
    code, out, err = run(capsys, "hpa", "explain", path, "--deployment", str(DEPLOYMENT))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert (
        "spec.metrics[0].containerResource.container: container 'worker' not present in pod "
        "of Deployment/web (containers: app, log-shipper), got 'worker'" in err
    )


def write_trace(tmp_path: Path) -> str:
    """10 req/s for 30 min, then 40 req/s for an hour, then 10 again (one row a minute)."""
    rows = ["timestamp,requests_per_s"]
    rows += [f"{t},{40 if 1800 < t < 5400 else 10}" for t in range(0, 7200, 60)]
    path = tmp_path / "trace.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def validate(capsys: pytest.CaptureFixture[str], tmp_path: Path, hpa_path: str) -> Any:
    return run(
        capsys,
        "validate",
        "--hpa",
        hpa_path,
        "--deployment",
        str(DEPLOYMENT),
        "--trace",
        write_trace(tmp_path),
        "--cpu-ms-per-request",
        "40",
        "--json",
    )


def test_validate_simulates_it_on_the_app_containers_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = validate(capsys, tmp_path, write_hpa(tmp_path, "app", 50))
    assert code in (0, 1)  # a verdict, not an input error or a crash
    assert "Traceback" not in err
    first_up = next(
        d for d in json.loads(out)["decisions"] if d["kind"] == "scale" and d["to"] > d["from"]
    )
    # At 40 req/s × 40 ms = 1.6 cores the 2 pods are saturated at their CPU cap, the
    # pod's request 550m (no CPU limit), all of it the app container's: floor(100 · 550 /
    # 500) = 110 % of the app's 500m; 110 / 50 · 2 = 4.4 → 5. (Against the pod's 550m it
    # would be 100 % → 4.) No behavior: the legacy cap max(2 × 2, 4) = 4 holds it to 4.
    assert first_up["from"] == 2
    proposal = math.ceil(110 / 50 * 2)
    assert proposal == 5
    assert (
        "cpu of app: 110 % of request vs target 50 % (ratio 2.20; 2 ready) → 5"
        in (first_up["detail"])
    )
    assert f"metrics propose {proposal}" in first_up["detail"]
    assert (first_up["to"], first_up["reason"]) == (4, "ScaleUpLimit")


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ("worker", "container 'worker' not present in pod of Deployment/web"),
        ("log-shipper", "a metric on container 'log-shipper' is not simulated yet"),
    ],
)
def test_validate_refuses_what_it_cannot_simulate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, container: str, message: str
) -> None:
    path = write_hpa(tmp_path, container)
    code, out, err = validate(capsys, tmp_path, path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"capsim: error: {path}: ")
    assert "spec.metrics[0].containerResource.container: " in err
    assert message in err
