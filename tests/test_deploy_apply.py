"""`capsim deploy apply` against a loopback stand-in for the API server
(`tests/kube_apiserver.py`): the exact requests sent, the dry-run diff, conflicts, RBAC,
validation errors, stopping on the first failure, and exit codes."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import ApiServer

from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR

APPLY = "application/apply-patch+yaml"
ORDER = ["services", "deployments", "poddisruptionbudgets", "horizontalpodautoscalers"]
KINDS = {
    "services": "Service",
    "deployments": "Deployment",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
}


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        api.create_namespace("shop")
        yield api


def emit(folder: Path, *extra: str) -> Path:
    args = ["deploy", "emit", str(SCENARIOS_DIR / "web-diurnal.yaml"), "--out", str(folder)]
    assert cli.main([*args, "--image", "nginx:1.27", *extra]) == 0
    return folder


def manifest(folder: Path, kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / f"{kind.lower()}-web.yaml").read_text())
    return loaded


def apply(server: ApiServer, tmp: Path, folder: Path, *extra: str, token: str | None = None) -> int:
    kubeconfig = tmp / "kubeconfig"
    server.write_kubeconfig(kubeconfig, namespace="shop", **({"token": token} if token else {}))
    return cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kubeconfig), *extra])


def patches(server: ApiServer, *, dry_run: bool) -> list[Any]:
    return [r for r in server.requests if r.method == "PATCH" and ("dryRun" in r.query) == dry_run]


def plural_of(path: str) -> str:
    return path.split("/")[-2]


def test_dry_run_sends_server_side_apply_and_changes_nothing(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    capsys.readouterr()
    assert apply(server, tmp_path, folder) == 0
    out = capsys.readouterr().out
    for kind in ("Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
        assert f"{kind} shop/web: created" in out
    assert "dry run clean: 4 object(s) would change; nothing was changed." in out
    # Each object: read it, then a dry-run server-side apply, in dependency order.
    gets = [r for r in server.requests if r.method == "GET" and r.path.endswith("/web")]
    assert [plural_of(r.path) for r in gets] == ORDER
    dry = patches(server, dry_run=True)
    assert [plural_of(r.path) for r in dry] == ORDER
    assert dry[1].path == "/apis/apps/v1/namespaces/shop/deployments/web"
    assert dry[0].path == "/api/v1/namespaces/shop/services/web"
    for request, plural in zip(dry, ORDER, strict=True):
        assert request.content_type == APPLY
        assert request.query == {"dryRun": ["All"], "fieldManager": ["capsim"]}
        assert request.body == manifest(folder, KINDS[plural])  # exactly the file, as sent
    assert patches(server, dry_run=False) == []
    assert server.get_object("deployments", "shop", "web") is None
    # The HPA fight check listed the namespace's HPAs.
    assert any(
        r.method == "GET"
        and r.path == "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"
        for r in server.requests
    )


def test_apply_writes_in_order_then_the_dry_run_is_clean(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web", "--ingress-host", "web.test")
    assert apply(server, tmp_path, folder, "--apply") == 0
    out = capsys.readouterr().out
    assert (
        "applied: Service shop/web, Deployment shop/web, PodDisruptionBudget shop/web, "
        "HorizontalPodAutoscaler shop/web, Ingress shop/web"
    ) in out
    real = patches(server, dry_run=False)
    assert [plural_of(r.path) for r in real] == [*ORDER, "ingresses"]
    assert all(r.query == {"fieldManager": ["capsim"]} for r in real)
    live = server.get_object("deployments", "shop", "web")
    assert live is not None
    assert "replicas" not in live["spec"]
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["capsim"]
    # Applying the same set again changes nothing.
    server.clear_requests()
    assert apply(server, tmp_path, folder) == 0
    out = capsys.readouterr().out
    assert out.count(": unchanged") == 5
    assert "dry run clean: 0 object(s) would change" in out


def test_diff_names_each_changed_field(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(server, tmp_path, emit(tmp_path / "v1"), "--apply") == 0
    changed = emit(tmp_path / "v2", "--image", "nginx:1.28", "--ingress-host", "web.test")
    capsys.readouterr()
    assert apply(server, tmp_path, changed) == 0
    out = capsys.readouterr().out
    assert "Deployment shop/web: changed" in out
    assert "~ spec.template.spec.containers[web].image: 'nginx:1.27' → 'nginx:1.28'" in out
    assert "Ingress shop/web: created" in out
    assert "Service shop/web: unchanged" in out
    live = server.get_object("deployments", "shop", "web")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_conflicts_name_the_managers_and_block_apply(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    theirs = copy.deepcopy(manifest(folder, "HorizontalPodAutoscaler"))
    theirs["metadata"]["namespace"] = "shop"
    theirs["spec"]["maxReplicas"] = 20
    server.seed(theirs, manager="helm", operation="Update")
    capsys.readouterr()
    assert apply(server, tmp_path, folder, "--apply") == 1
    out = capsys.readouterr().out
    assert "HorizontalPodAutoscaler shop/web: conflict" in out
    assert "conflict: .spec.maxReplicas is owned by helm (--force-conflicts takes ownership" in out
    assert "the dry run found problems: nothing applied" in out
    assert patches(server, dry_run=False) == []  # nothing mutated, not even the Service
    live = server.get_object("horizontalpodautoscalers", "shop", "web")
    assert live is not None
    assert live["spec"]["maxReplicas"] == 20
    # --force-conflicts takes ownership.
    server.clear_requests()
    assert apply(server, tmp_path, folder, "--apply", "--force-conflicts") == 0
    assert all(r.query["force"] == ["true"] for r in server.requests if r.method == "PATCH")
    live = server.get_object("horizontalpodautoscalers", "shop", "web")
    assert live is not None
    assert live["spec"]["maxReplicas"] == 40
    owners = {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}
    assert "f:maxReplicas" in owners["capsim"]["f:spec"]
    assert "f:maxReplicas" not in owners.get("helm", {}).get("f:spec", {})


def test_warns_when_replicas_or_another_hpa_would_fight(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    deployment = copy.deepcopy(manifest(folder, "Deployment"))
    deployment["metadata"]["namespace"] = "shop"
    deployment["spec"]["replicas"] = 5
    server.seed(deployment, manager="kubectl-client-side-apply")
    other = copy.deepcopy(manifest(folder, "HorizontalPodAutoscaler"))
    other["metadata"] = {"name": "web-legacy", "namespace": "shop"}
    server.seed(other, manager="kubectl-client-side-apply")
    capsys.readouterr()
    assert apply(server, tmp_path, folder) == 0  # warnings, not problems
    out = capsys.readouterr().out
    assert (
        "warning: spec.replicas (5) is owned by ['kubectl-client-side-apply']: their next "
        "apply resets the scale the HPA chose"
    ) in out
    assert "warning: HorizontalPodAutoscaler web-legacy already scales Deployment/web" in out


def test_rbac_refusal_names_verb_and_resource(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    server.forbid("patch", "horizontalpodautoscalers")
    capsys.readouterr()
    assert apply(server, tmp_path, folder) == 1
    out = capsys.readouterr().out
    assert "HorizontalPodAutoscaler shop/web: forbidden" in out
    assert (
        "forbidden: RBAC does not allow patch on horizontalpodautoscalers.autoscaling in "
        'namespace shop (horizontalpodautoscalers.autoscaling "web" is forbidden: User '
        '"system:serviceaccount:ci:deployer" cannot patch resource'
    ) in out


def test_validation_errors_show_the_servers_causes(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    server.reject(
        "deployments",
        "web",
        field="spec.template.spec.containers[0].image",
        message="Required value",
        cause_reason="FieldValueRequired",
    )
    capsys.readouterr()
    assert apply(server, tmp_path, folder) == 1
    out = capsys.readouterr().out
    assert "Deployment shop/web: invalid" in out
    assert "invalid: spec.template.spec.containers[0].image: Required value" in out


def test_apply_stops_at_the_first_failure_and_says_what_was_applied(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    # Admission refuses the real write only: the dry run is clean.
    server.reject(
        "poddisruptionbudgets",
        "web",
        field="spec.minAvailable",
        message="denied by policy",
        dry_run_too=False,
    )
    capsys.readouterr()
    assert apply(server, tmp_path, folder, "--apply") == 1
    out = capsys.readouterr().out
    assert "applied: Service shop/web, Deployment shop/web\n" in out
    assert (
        "failed: PodDisruptionBudget shop/web: invalid: spec.minAvailable: denied by policy" in out
    )
    assert "not applied: PodDisruptionBudget shop/web, HorizontalPodAutoscaler shop/web" in out
    real = patches(server, dry_run=False)
    assert [plural_of(r.path) for r in real] == ["services", "deployments", "poddisruptionbudgets"]
    assert server.get_object("deployments", "shop", "web") is not None
    assert server.get_object("horizontalpodautoscalers", "shop", "web") is None


def test_prune_check_reports_capsim_objects_left_behind(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_ingress = emit(tmp_path / "v1", "--ingress-host", "web.test")
    assert apply(server, tmp_path, with_ingress, "--apply") == 0
    without = emit(tmp_path / "v2")
    capsys.readouterr()
    assert apply(server, tmp_path, without) == 0  # not asked: not checked
    assert apply(server, tmp_path, without, "--prune-check") == 1
    out = capsys.readouterr().out
    assert (
        "left behind: Ingress shop/web (instance web-kubernetes) is not in this set: delete it "
        "(kubectl delete ingress -n shop web)"
    ) in out
    selectors = {
        r.query.get("labelSelector", [""])[0] for r in server.requests if "labelSelector" in r.query
    }
    assert selectors == {
        "app.kubernetes.io/managed-by=capsim,app.kubernetes.io/instance=web-kubernetes"
    }


def test_wrong_credentials_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    capsys.readouterr()
    assert apply(server, tmp_path, folder, token="wrong") == 2
    err = capsys.readouterr().err
    assert "refused the kubeconfig's credentials (401 Unauthorized: Unauthorized)" in err
    assert patches(server, dry_run=True) == []


def test_unreachable_cluster_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = emit(tmp_path / "web")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    with ApiServer() as gone:
        gone.write_kubeconfig(kubeconfig)
    text = kubeconfig.read_text().replace(gone.url, f"http://127.0.0.1:{port}")
    kubeconfig.write_text(text)
    capsys.readouterr()
    code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kubeconfig)])
    assert code == 2
    assert f"http://127.0.0.1:{port}: no answer" in capsys.readouterr().err


def test_bad_input_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web", "--namespace", "prod")
    capsys.readouterr()
    assert apply(server, tmp_path, folder, "--namespace", "shop") == 2
    assert "metadata.namespace: 'prod' does not match --namespace 'shop'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert apply(server, tmp_path, empty) == 2
    assert "no manifests (*.yaml) to apply" in capsys.readouterr().err
    (empty / "job.yaml").write_text(
        yaml.safe_dump({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"}})
    )
    assert apply(server, tmp_path, empty) == 2
    assert "batch/v1 CronJob: capsim applies only Service" in capsys.readouterr().err
    assert server.requests == []
    missing = tmp_path / "nope.kubeconfig"
    code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(missing)])
    assert code == 2
    assert "cannot load the kubeconfig" in capsys.readouterr().err


def test_kubeconfig_namespace_is_the_default(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")  # no --namespace: objects name none
    assert "namespace" not in manifest(folder, "Deployment")["metadata"]
    assert apply(server, tmp_path, folder, "--apply") == 0
    assert server.get_object("deployments", "shop", "web") is not None
    server.create_namespace("staging")
    assert apply(server, tmp_path, folder, "--apply", "--namespace", "staging") == 0
    assert server.get_object("deployments", "staging", "web") is not None


def test_batch_jobs_are_applied_last_and_suspended(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    scenario = SCENARIOS_DIR / "web-and-training.yaml"
    assert (
        cli.main(["deploy", "emit", str(scenario), "--out", str(folder), "--image", "app:1"]) == 0
    )
    assert apply(server, tmp_path, folder, "--apply") == 0
    real = [plural_of(r.path) for r in patches(server, dry_run=False)]
    assert real == [*ORDER, "jobs", "jobs"]
    for name in ("train", "etl"):
        job = server.get_object("jobs", "shop", name)
        assert job is not None
        assert job["spec"]["suspend"] is True
    assert "applied: " in capsys.readouterr().out
