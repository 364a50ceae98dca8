"""`capsim deploy apply` against a loopback stand-in for the API server
(`tests/kube_apiserver.py`): the exact requests sent, the dry-run diff, conflicts, RBAC,
validation errors, stopping on the first failure, and exit codes."""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import ApiServer
from kube_scripted import Answer, ScriptedApiServer, Seen, write_kubeconfig
from kube_scripted import status as kstatus

from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR
from capsim.kube.apply import is_manifest_problem
from capsim.kube.client import ApiError

Script = Callable[[Seen], Answer]
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


def test_rbac_refusal_is_the_environment_one_line_naming_server_verb_and_resource(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RBAC says the user may not: nothing about the manifests (exit 2, not 1), one line
    naming the server, the request and the 403 (before: exit 1, "forbidden" as a dry-run
    problem on stdout, stderr empty)."""
    folder = emit(tmp_path / "web")
    server.forbid("patch", "horizontalpodautoscalers")
    capsys.readouterr()
    assert apply(server, tmp_path, folder, "--apply") == 2
    out, err = capsys.readouterr()
    line = one_line(err)
    assert line.startswith(
        f"capsim: error: {server.url}: patch (dry run) horizontalpodautoscalers.autoscaling "
        'shop/web: forbidden (403 Forbidden: horizontalpodautoscalers.autoscaling "web" is '
        'forbidden: User "system:serviceaccount:ci:deployer" cannot patch resource'
    )
    assert line.endswith(
        "the kubeconfig's user may not patch (dry run) horizontalpodautoscalers.autoscaling in "
        "namespace shop; ask for that permission (RBAC) or use another --context"
    )
    assert "the dry run found problems" not in out
    assert patches(server, dry_run=False) == []


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
    # the two gang jobs' headless Services (their workers' rendezvous) come with the others
    assert real == ["services", "services", *ORDER, "jobs", "jobs"]
    for name in ("train", "etl"):
        job = server.get_object("jobs", "shop", name)
        assert job is not None
        assert job["spec"]["suspend"] is True
    assert "applied: " in capsys.readouterr().out


# --- the manifests or the environment: exit 1 or exit 2 ---------------------------------------


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("capsim: error: ")
    return lines[0]


def _empty_cluster(patch: Answer | None = None, real: Answer | None = None) -> Script:
    """An empty cluster: objects are not found, lists are empty, a dry-run apply answers the
    object sent; ``patch`` instead answers every dry-run apply, ``real`` every real one."""

    def script(seen: Seen) -> Answer:
        path = seen.path.split("?")[0]
        if seen.method == "PATCH":
            answer = patch if "dryRun=All" in seen.path else real
            if answer is not None:
                return answer
            return Answer.json(200, yaml.safe_load(seen.body))
        if path.rstrip("/").split("/")[-1] in ("horizontalpodautoscalers", "deployments"):
            return Answer.json(200, {"kind": "List", "apiVersion": "v1", "items": []})
        name = path.rstrip("/").split("/")[-1]
        return Answer.json(404, kstatus(404, "NotFound", f'"{name}" not found'))

    return script


def _everything(answer: Answer) -> Script:
    return lambda seen: answer


HTML = Answer(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
#: (id, how the server answers, what the one line says after "<server>: <request>: ")
ENVIRONMENT: list[tuple[str, Script, str]] = [
    (
        "every-request-500",
        _everything(Answer.json(500, kstatus(500, "InternalError", "etcdserver: timed out"))),
        "the server failed (500 InternalError: etcdserver: timed out); a cluster or network "
        "problem, not the manifests",
    ),
    (
        "every-request-html-502",
        _everything(HTML),
        "the server failed (502 Bad Gateway: a text/html answer: <html><body><h1>502 Bad "
        "Gateway</h1></body></html>); a cluster or network problem, not the manifests",
    ),
    (
        "every-request-403",
        _everything(Answer.json(403, kstatus(403, "Forbidden", "forbidden: no access"))),
        "forbidden (403 Forbidden: forbidden: no access): the kubeconfig's user may not list",
    ),
    (
        "every-request-401",
        _everything(Answer.json(401, kstatus(401, "Unauthorized", "Unauthorized"))),
        "the server refused the kubeconfig's credentials (401 Unauthorized: Unauthorized)",
    ),
    (
        "every-request-429",
        _everything(Answer.json(429, kstatus(429, "TooManyRequests", "slow down"))),
        "the server is busy (429 TooManyRequests: slow down); try again later",
    ),
    (
        "every-request-redirect",
        _everything(Answer(307, b"", headers=(("Location", "http://elsewhere.test/x"),))),
        "HTTP 307 Temporary Redirect: a redirect to http://elsewhere.test/x, not followed",
    ),
    (
        "dry-run-503",
        _empty_cluster(patch=Answer.json(503, kstatus(503, "ServiceUnavailable", "try later"))),
        "patch (dry run) services shop/web: the server failed (503 ServiceUnavailable: try later)",
    ),
    (
        "dry-run-404-text",
        _empty_cluster(patch=Answer(404, b"404 page not found\n", "text/plain")),
        "patch (dry run) services shop/web: HTTP 404 Not Found (404 page not found), not a "
        "Kubernetes Status: not the API server's answer",
    ),
    (
        "dry-run-404-kind-not-served",
        _empty_cluster(
            patch=Answer.json(
                404, kstatus(404, "NotFound", "the server could not find the requested resource")
            )
        ),
        "not found (404 NotFound: the server could not find the requested resource): the server "
        "does not serve services",
    ),
    (
        "dry-run-answers-a-list",
        _empty_cluster(patch=Answer.json(200, {"kind": "List", "items": []})),
        "Service shop/web: the answer is not that object (kind List, metadata.name None)",
    ),
]


@pytest.mark.parametrize(
    ("script", "expected"), [e[1:] for e in ENVIRONMENT], ids=[e[0] for e in ENVIRONMENT]
)
def test_errors_of_the_server_or_network_exit_2_naming_server_and_status(
    script: Script, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """5xx, 401, RBAC 403, 429, redirects, non-Status answers and objects that are not the
    object asked for say nothing about the manifests: exit 2, one line on stderr naming the
    server URL and the status; no dry-run verdict (before: exit 1 with stderr empty and
    "the dry run found problems" on stdout)."""
    folder = emit(tmp_path / "web")
    capsys.readouterr()
    with ScriptedApiServer(script) as scripted:
        kc = write_kubeconfig(tmp_path / "kc.yaml", scripted.url, {"token": "t0ken-for-tests"})
        code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kc), "--apply"])
        sent = list(scripted.requests)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    line = one_line(err)
    assert line.startswith(f"capsim: error: {scripted.url}: ")
    assert expected in line
    assert "the dry run found problems" not in out
    assert not [r for r in sent if r.method == "PATCH" and "dryRun=All" not in r.path]


#: (the dry run's answer to PATCH, status shown, problem shown) -- about the manifests.
MANIFEST_PROBLEMS: list[tuple[Answer, str, str]] = [
    (
        Answer.json(
            422,
            kstatus(
                422,
                "Invalid",
                'Service "web" is invalid: spec.ports[0].port: Invalid value: 0',
                causes=[{"field": "spec.ports[0].port", "message": "Invalid value: 0"}],
            ),
        ),
        "invalid",
        "invalid: spec.ports[0].port: Invalid value: 0",
    ),
    (
        Answer.json(
            409,
            kstatus(
                409,
                "Conflict",
                "Apply failed with 1 conflict",
                causes=[{"field": ".spec.type", "message": 'conflict with "helm"'}],
            ),
        ),
        "conflict",
        "conflict: .spec.type is owned by helm",
    ),
    (
        Answer.json(
            403,
            kstatus(
                403,
                "Forbidden",
                'admission webhook "policy.example.com" denied the request: images must be '
                "pinned by digest",
            ),
        ),
        "denied",
        'denied by admission: admission webhook "policy.example.com" denied the request',
    ),
    (
        Answer.json(
            403,
            kstatus(
                403,
                "Forbidden",
                'services "web" is forbidden: exceeded quota: q, requested: services=1, used: '
                "services=5, limited: services=5",
            ),
        ),
        "denied",
        'denied by admission: services "web" is forbidden: exceeded quota: q',
    ),
]


def test_what_the_dry_run_finds_about_the_manifests_stays_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other side of the line: the API server's own Status about the object -- 422,
    409, and a 403 from admission (a webhook, a quota) -- is a finding of the dry run, exit
    1 with the object's problem on stdout and nothing on stderr (before: an admission 403
    was shown as an RBAC refusal, "forbidden: RBAC does not allow patch")."""
    folder = emit(tmp_path / "web")
    for patch, status, problem in MANIFEST_PROBLEMS:
        capsys.readouterr()
        with ScriptedApiServer(_empty_cluster(patch=patch)) as scripted:
            kc = write_kubeconfig(tmp_path / "kc.yaml", scripted.url, {"token": "t0ken-for-tests"})
            code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kc)])
        out, err = capsys.readouterr()
        assert code == 1, (out, err)
        assert err == ""
        assert f"Service shop/web: {status}" in out
        assert problem in out
        assert "the dry run found problems: fix them before --apply" in out


def test_a_server_failing_during_the_real_apply_lists_what_was_applied_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = emit(tmp_path / "web")
    capsys.readouterr()
    failing = Answer.json(503, kstatus(503, "ServiceUnavailable", "etcd leader changed"))

    def script(seen: Seen) -> Answer:
        if seen.method == "PATCH" and "dryRun" not in seen.path and "/deployments/" in seen.path:
            return failing
        return _empty_cluster()(seen)

    with ScriptedApiServer(script) as scripted:
        kc = write_kubeconfig(tmp_path / "kc.yaml", scripted.url, {"token": "t0ken-for-tests"})
        code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kc), "--apply"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "applied: Service shop/web\n" in out
    assert "failed: Deployment shop/web: refused (503 ServiceUnavailable)" in out
    assert (
        "not applied: Deployment shop/web, PodDisruptionBudget shop/web, "
        "HorizontalPodAutoscaler shop/web"
    ) in out
    assert one_line(err) == (
        f"capsim: error: {scripted.url}: patch deployments.apps shop/web: the server failed "
        "(503 ServiceUnavailable: etcd leader changed); a cluster or network problem, not the "
        "manifests: try again later"
    )


def _api_error(code: int, message: str = "m", *, status: bool = True, kind: str = "") -> ApiError:
    return ApiError(code, "Reason", message, kind=kind, is_status=status)


@pytest.mark.parametrize(
    ("error", "about_the_manifests"),
    [
        (_api_error(400), True),
        (_api_error(409), True),
        (_api_error(422), True),
        (_api_error(404, kind="namespaces"), True),
        (_api_error(404, kind="deployments"), False),
        (_api_error(403, 'admission webhook "x" denied the request: no'), True),
        (_api_error(403, "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: x"), True),
        (_api_error(403, 'pods "x" is forbidden: exceeded quota: q'), True),
        (_api_error(403, "maximum cpu usage per Container is 2, but limit is 4"), True),
        (_api_error(403, 'User "u" cannot patch resource "deployments"'), False),
        (_api_error(401), False),
        (_api_error(405), False),
        (_api_error(415), False),
        (_api_error(429), False),
        (_api_error(500), False),
        (_api_error(503), False),
        (_api_error(422, status=False), False),  # a proxy's 422 page, not the API's Status
        (_api_error(409, status=False), False),
    ],
)
def test_the_line_between_manifest_problems_and_environment_errors(
    error: ApiError, about_the_manifests: bool
) -> None:
    assert is_manifest_problem(error) is about_the_manifests


def test_the_help_states_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["deploy", "apply", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 the dry run found problems in the manifests" in text
    assert "2 bad input" in text
    assert "credentials refused (401), RBAC forbids (other 403s)" in text
    assert "a failing server (5xx)" in text
