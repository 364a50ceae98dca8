"""`capsim hpa explain`: effective configuration in words, warnings, JSON, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capsim.cli.main import main
from capsim.data import EXAMPLES_DIR

EXAMPLES = EXAMPLES_DIR
HPA_FILE = EXAMPLES / "web-hpa.yaml"
DEPLOYMENT_FILE = EXAMPLES / "web-deployment.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "hpa.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


MINIMAL = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 10
"""


def test_example_explained_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "hpa", "explain", str(HPA_FILE), "--deployment", str(DEPLOYMENT_FILE)
    )
    assert code == 0
    assert err == ""
    assert "Scales Deployment/web between 3 and 30 replicas" in out
    # 550m requested per pod (app 500m + restartable sidecar 50m) at 70 % → 385m.
    assert "request 550m per pod → 385m per pod" in out
    assert "by at most max(100 %, 4 pods) per 30 s" in out
    assert "only after 300 s (5m) of lower recommendations" in out
    assert "by at most 10 % per 60 s" in out
    assert "No spec.behavior: the legacy path" in out
    assert "container worker of Deployment/web-worker requests no memory" in out
    assert "sets spec.replicas (2)" in out


def test_defaults_are_spelled_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  behavior: {}\n")
    code, out, _ = run(capsys, "hpa", "explain", path, "--json")
    assert code == 0
    data = json.loads(out)["hpas"][0]
    assert data["minReplicas"] == 1
    assert data["metrics"][0]["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 80},
    }
    assert data["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }
    assert any("defaults to CPU Utilization at 80 %" in note for note in data["notes"])
    _, text, _ = run(capsys, "hpa", "explain", path)
    assert (
        "Scale up: as soon as a sync asks for more, by at most max(4 pods, 100 %) per 15 s" in text
    )
    assert "Scale down: only after 300 s (5m) (controller default) of lower" in text


def test_controller_flags_change_the_effective_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, MINIMAL + "  behavior: {}\n")
    _, out, _ = run(
        capsys,
        "hpa",
        "explain",
        path,
        "--json",
        "--downscale-stabilization",
        "10m",
        "--tolerance",
        "0.05",
    )
    data = json.loads(out)["hpas"][0]
    assert data["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert "[0.95, 1.05]" in data["summary"][2]


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ("  minReplicas: 10\n", "can never change the replica count"),
        (
            "  behavior: {scaleUp: {selectPolicy: Disabled},"
            " scaleDown: {selectPolicy: Disabled}}\n",
            "Disabled for both scaleUp and scaleDown",
        ),
        ("  behavior: {scaleUp: {tolerance: 50m}}\n", "HPAConfigurableTolerance"),
    ],
)
def test_common_mistakes_warned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: str, warning: str
) -> None:
    path = write(tmp_path, MINIMAL + extra)
    code, out, _ = run(capsys, "hpa", "explain", path)
    assert code == 0
    assert warning in out
    strict_code, _, _ = run(capsys, "hpa", "explain", path, "--strict")
    assert strict_code == 1


def test_clean_hpa_has_no_warnings_and_strict_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "hpa", "explain", write(tmp_path, MINIMAL), "--strict")
    assert code == 0
    assert "warning:" not in out


def test_utilization_without_request_is_warned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = write(
        tmp_path,
        """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - {name: app, image: x, resources: {requests: {cpu: 100m}}}
        - {name: proxy, image: y}
""",
        "deploy.yaml",
    )
    _, out, _ = run(capsys, "hpa", "explain", write(tmp_path, MINIMAL), "--deployment", deployment)
    assert "container proxy of Deployment/api requests no cpu" in out


def test_removed_api_versions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v2beta2 = write(tmp_path, MINIMAL.replace("autoscaling/v2", "autoscaling/v2beta2"))
    code, out, _ = run(capsys, "hpa", "explain", v2beta2)
    assert code == 1  # every supported API server rejects it: not 0, even without --strict
    assert "autoscaling/v2beta2 was removed in Kubernetes 1.26: change it to autoscaling/v2" in out
    v2beta1 = write(tmp_path, MINIMAL.replace("autoscaling/v2", "autoscaling/v2beta1"), "b1.yaml")
    code, _, err = run(capsys, "hpa", "explain", v2beta1)
    assert code == 2
    assert "document 1: apiVersion: autoscaling/v2beta1 was removed in Kubernetes 1.25" in err


def test_autoscaling_v1_is_converted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v1 = (
        MINIMAL.replace("autoscaling/v2", "autoscaling/v1")
        + "  targetCPUUtilizationPercentage: 65\n"
    )
    _, out, _ = run(capsys, "hpa", "explain", write(tmp_path, v1), "--json")
    metric = json.loads(out)["hpas"][0]["metrics"][0]
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 65}


def test_kind_list_and_multi_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listing = "apiVersion: v1\nkind: List\nitems:\n" + "\n".join(
        "  - " + line if i == 0 else "    " + line for i, line in enumerate(MINIMAL.splitlines())
    )
    path = write(
        tmp_path, "---\n" + listing + "\n---\n" + MINIMAL.replace("name: api}", "name: b}")
    )
    _, out, _ = run(capsys, "hpa", "explain", path, "--json")
    hpas = json.loads(out)["hpas"]
    assert [h["name"] for h in hpas] == ["api", "b"]
    assert hpas[0]["source"].endswith("document 1: items[0]")
    assert hpas[1]["source"].endswith("document 2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec: [unclosed\n", "not valid YAML (line 2, column 1): expected ',' or ']'"),
        ("- just\n- a list\n", "document 1: expected a Kubernetes object"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "no HorizontalPodAutoscaler found (found: ConfigMap)",
        ),
        (
            MINIMAL.replace("  maxReplicas: 10\n", ""),
            "document 1: spec.maxReplicas: required field is missing",
        ),
        (
            MINIMAL + "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: "
            "{type: AverageValue, averageValue: lots}}\n",
            "spec.metrics[0].resource.target.averageValue: not a quantity: 'lots'",
        ),
        (
            MINIMAL + "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: "
            "{type: Utilization, averageUtilization: -5}}\n",
            "spec.metrics[0].resource.target.averageUtilization: must be greater than 0, got -5",
        ),
        (
            MINIMAL + "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: "
            "{type: Utilization}}\n",
            "spec.metrics[0].resource.target.averageUtilization: required for target type "
            "Utilization",
        ),
        (MINIMAL + "  metrics:\n  - type: Pods\n", "spec.metrics[0].pods: required for type Pods"),
        (
            MINIMAL + "  targetCPUUtilizationPercentage: 50\n",
            "spec.targetCPUUtilizationPercentage: unknown field",
        ),
        (
            MINIMAL
            + "  behavior: {scaleUp: {policies: [{type: Pods, value: 0, periodSeconds: 15}]}}\n",
            "spec.behavior.scaleUp.policies[0].value: must be greater than zero, got 0",
        ),
        (
            MINIMAL.replace("maxReplicas: 10", "maxReplicas: ten"),
            "spec.maxReplicas: Input should be a valid integer",
        ),
        # Refused by the API server, so refused here (they used to be warnings, exit 0).
        (
            MINIMAL + "  minReplicas: 12\n",
            "spec.maxReplicas: must be greater than or equal to `minReplicas` (12), got 10",
        ),
        (
            MINIMAL + "  behavior: {scaleDown: {stabilizationWindowSeconds: 7200}}\n",
            "spec.behavior.scaleDown.stabilizationWindowSeconds: must be less than or equal to "
            "3600, got 7200",
        ),
        (
            MINIMAL
            + "  behavior: {scaleUp: {policies: [{type: Pods, value: 1, periodSeconds: 3600}]}}\n",
            "spec.behavior.scaleUp.policies[0].periodSeconds: must be less than or equal to 1800, "
            "got 3600",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    code, out, err = run(capsys, "hpa", "explain", path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"capsim: error: {path}")
    assert message in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "hpa", "explain", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml: file not found" in err


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: HorizontalPodAutoscaler\napiVersion: autoscaling/v2\n")
    result = subprocess.run(
        [sys.executable, "-m", "capsim.cli.main", "hpa", "explain", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "document 1: metadata: required field is missing" in result.stderr


def test_importing_capsim_stays_light() -> None:
    code = (
        "import sys, capsim, capsim.hpa, capsim.units, capsim.scenario.manifests; "
        "heavy = [m for m in ('kubernetes', 'dask', 'distributed', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
