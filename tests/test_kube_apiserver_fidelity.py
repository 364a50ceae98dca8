"""The API-server stand-in answers as a real API server does where capsim's apply depends
on it (issue 14): namespaces (404 ``namespaces "x" not found`` even on a dry run),
server-side apply merging lists by their Kubernetes merge keys (so conflicts name the one
field, ``.spec.template.spec.containers[name="web"].image``), and immutable fields refused
with 422 Invalid in the real message shape -- and what ``capsim deploy apply`` makes of
each answer (exit 2, one line naming the object and the field)."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import ApiServer

from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR

APPLY = "application/apply-patch+yaml"
DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/web"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as running:
        yield running


def call(
    server: ApiServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = APPLY,
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {server.token}")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with _OPENER.open(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def apply(
    server: ApiServer,
    body: dict[str, Any],
    *,
    manager: str = "capsim",
    dry_run: bool = False,
    force: bool = False,
    path: str = DEPLOYMENT,
) -> tuple[int, dict[str, Any]]:
    query = f"?fieldManager={manager}" + ("&dryRun=All" if dry_run else "")
    return call(server, "PATCH", path + query + ("&force=true" if force else ""), body)


def deployment(**spec: Any) -> dict[str, Any]:
    containers = spec.pop(
        "containers",
        [
            {
                "name": "web",
                "image": "shop/web:1",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "a"}],
            }
        ],
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": spec.pop("selector", {"matchLabels": {"app": "web"}}),
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers, **spec},
            },
        },
    }


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


# --- namespaces ---------------------------------------------------------------------------


class TestNamespaces:
    def test_a_new_server_has_the_system_namespaces(self, server: ApiServer) -> None:
        assert server.namespaces == ["default", "kube-node-lease", "kube-public", "kube-system"]
        code, listed = call(server, "GET", "/api/v1/namespaces")
        assert code == 200
        assert listed["kind"] == "NamespaceList"
        assert [n["metadata"]["name"] for n in listed["items"]] == server.namespaces
        code, ns = call(server, "GET", "/api/v1/namespaces/default")
        assert (code, ns["status"]["phase"]) == (200, "Active")
        assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}

    @pytest.mark.parametrize("dry_run", [False, True])
    def test_apply_into_a_missing_namespace_is_not_found(
        self, server: ApiServer, dry_run: bool
    ) -> None:
        code, body = apply(server, deployment(), dry_run=dry_run)
        assert (code, body) == (
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": 'namespaces "shop" not found',
                "reason": "NotFound",
                "details": {"name": "shop", "kind": "namespaces"},
                "code": 404,
            },
        )
        assert server.writes == []
        # Reads in a missing namespace: the object is not found, a list is empty.
        assert call(server, "GET", DEPLOYMENT)[1]["message"] == 'deployments.apps "web" not found'
        assert call(server, "GET", DEPLOYMENT.rsplit("/", 1)[0])[1]["items"] == []

    def test_a_namespace_can_be_created_and_deleted(self, server: ApiServer) -> None:
        new = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
        assert call(server, "POST", "/api/v1/namespaces?dryRun=All", new)[0] == 201
        assert "shop" not in server.namespaces
        code, created = call(
            server, "POST", "/api/v1/namespaces", new, content_type="application/json"
        )
        assert code == 201
        assert created["status"] == {"phase": "Active"}
        assert "shop" in server.namespaces
        code, again = call(
            server, "POST", "/api/v1/namespaces", new, content_type="application/json"
        )
        assert (code, again["reason"], again["message"]) == (
            409,
            "AlreadyExists",
            'namespaces "shop" already exists',
        )
        bad = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad_NS"}}
        code, invalid = call(
            server, "POST", "/api/v1/namespaces", bad, content_type="application/json"
        )
        assert (code, invalid["reason"]) == (422, "Invalid")
        assert invalid["details"]["causes"][0]["field"] == "metadata.name"
        assert apply(server, deployment())[0] == 201
        code, gone = call(server, "DELETE", "/api/v1/namespaces/shop")
        assert (code, gone["status"]["phase"]) == (200, "Terminating")
        assert server.get_object("deployments", "shop", "web") is None
        assert [r.method for r in server.writes] == ["POST", "PATCH", "DELETE"]

    def test_apply_creates_a_namespace(self, server: ApiServer) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
        assert apply(server, body, path="/api/v1/namespaces/shop")[0] == 201
        assert apply(server, deployment())[0] == 201


# --- merge keys ---------------------------------------------------------------------------


class TestMergeKeys:
    @pytest.fixture(autouse=True)
    def _shop(self, server: ApiServer) -> None:
        server.create_namespace("shop")

    def test_containers_merge_by_name_and_keep_another_managers_sidecar(
        self, server: ApiServer
    ) -> None:
        assert apply(server, deployment())[0] == 201
        sidecar = deployment(containers=[container("proxy", "envoy:1")])
        assert apply(server, sidecar, manager="mesh")[0] == 200
        live = server.get_object("deployments", "shop", "web")
        assert live is not None
        names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
        assert names == ["web", "proxy"]  # live order, then the new item
        mesh = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "mesh")
        assert mesh["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
            'k:{"name":"proxy"}': {".": {}, "f:image": {}, "f:name": {}}
        }
        # capsim re-applies its own container: the sidecar stays.
        assert apply(server, deployment())[0] == 200
        live = server.get_object("deployments", "shop", "web")
        assert live is not None
        assert len(live["spec"]["template"]["spec"]["containers"]) == 2

    def test_a_conflict_names_the_one_field_inside_the_item(self, server: ApiServer) -> None:
        server.seed(deployment(), manager="helm")
        changed = deployment()
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/web:2"
        changed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "b"
        code, body = apply(server, changed)
        assert code == 409
        assert [c["field"] for c in body["details"]["causes"]] == [
            '.spec.template.spec.containers[name="web"].env[name="MODE"].value',
            '.spec.template.spec.containers[name="web"].image',
        ]
        assert body["message"].startswith('Apply failed with 2 conflicts: conflicts with "helm"')

    def test_ports_merge_by_container_port_and_protocol(self, server: ApiServer) -> None:
        server.seed(deployment(), manager="helm")
        more = deployment()
        more["spec"]["template"]["spec"]["containers"][0]["ports"] = [
            {"containerPort": 8080, "protocol": "TCP", "name": "http"},
            {"containerPort": 8080, "protocol": "UDP"},
            {"containerPort": 9090},  # protocol defaults to TCP in the key
        ]
        code, merged = apply(server, more)
        assert code == 200  # adds a name and two ports: nothing helm owns changes
        ports = merged["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert ports == more["spec"]["template"]["spec"]["containers"][0]["ports"]
        capsim = next(e for e in merged["metadata"]["managedFields"] if e["manager"] == "capsim")
        keys = capsim["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][
            'k:{"name":"web"}'
        ]["f:ports"]
        assert sorted(keys) == [
            'k:{"containerPort":8080,"protocol":"TCP"}',
            'k:{"containerPort":8080,"protocol":"UDP"}',
            'k:{"containerPort":9090,"protocol":"TCP"}',
        ]

    def test_tolerations_are_atomic(self, server: ApiServer) -> None:
        theirs = deployment(tolerations=[{"key": "a", "operator": "Exists"}])
        server.seed(theirs, manager="helm")
        ours = deployment(tolerations=[{"key": "b", "operator": "Exists"}])
        code, body = apply(server, ours)
        assert code == 409
        assert [c["field"] for c in body["details"]["causes"]] == [
            ".spec.template.spec.tolerations"
        ]

    def test_volumes_by_name_and_mounts_by_mount_path(self, server: ApiServer) -> None:
        mounts = [{"name": "data", "mountPath": "/data"}]
        web = container("web", "shop/web:1", volumeMounts=mounts)
        server.seed(
            deployment(containers=[web], volumes=[{"name": "data", "emptyDir": {}}]),
            manager="helm",
        )
        moved = container("web", "shop/web:1", volumeMounts=[{"name": "data", "mountPath": "/d"}])
        code, merged = apply(
            server, deployment(containers=[moved], volumes=[{"name": "cache", "emptyDir": {}}])
        )
        assert code == 200  # a new mount path and a new volume: both added
        pod = merged["spec"]["template"]["spec"]
        assert [v["name"] for v in pod["volumes"]] == ["data", "cache"]
        assert [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]] == ["/data", "/d"]

    def test_an_item_the_applier_drops_is_removed(self, server: ApiServer) -> None:
        two = deployment(containers=[container("web", "a:1"), container("side", "b:1")])
        assert apply(server, two)[0] == 201
        code, one = apply(server, deployment(containers=[container("web", "a:1")]))
        assert code == 200
        assert [c["name"] for c in one["spec"]["template"]["spec"]["containers"]] == ["web"]

    def test_selectors_are_atomic(self, server: ApiServer) -> None:
        code, created = apply(server, deployment())
        assert code == 201
        fields = created["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
        assert fields["f:selector"] == {}

    def test_a_keyed_item_without_its_key_is_a_bad_request(self, server: ApiServer) -> None:
        code, body = apply(server, deployment(containers=[{"image": "a:1"}]))
        assert (code, body["reason"]) == (400, "BadRequest")
        assert 'omits key field "name"' in body["message"]
        code, body = apply(
            server, deployment(containers=[container("a", "x"), container("a", "y")])
        )
        assert code == 400
        assert 'duplicate entries for key [name="a"]' in body["message"]


# --- immutable fields ---------------------------------------------------------------------


class TestImmutable:
    @pytest.fixture(autouse=True)
    def _shop(self, server: ApiServer) -> None:
        server.create_namespace("shop")

    @pytest.mark.parametrize("dry_run", [True, False])
    def test_a_deployment_selector_cannot_change(self, server: ApiServer, dry_run: bool) -> None:
        assert apply(server, deployment())[0] == 201
        changed = deployment(selector={"matchLabels": {"app": "web2"}})
        changed["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
        code, body = apply(server, changed, dry_run=dry_run)
        value = (
            'v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        )
        assert code == 422
        assert body["reason"] == "Invalid"
        assert body["message"] == (
            f'Deployment.apps "web" is invalid: spec.selector: Invalid value: {value}: '
            "field is immutable"
        )
        assert body["details"] == {
            "name": "web",
            "group": "apps",
            "kind": "Deployment",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {value}: field is immutable",
                    "field": "spec.selector",
                }
            ],
        }
        assert len(server.writes) == 1  # only the create

    def test_a_service_cluster_ip_cannot_change_once_set(self, server: ApiServer) -> None:
        service: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        }
        path = "/api/v1/namespaces/shop/services/web"
        code, created = apply(server, service, path=path)
        assert code == 201
        assert created["spec"]["clusterIPs"] == [created["spec"]["clusterIP"]]
        assert apply(server, service, path=path)[0] == 200  # not given: kept
        moved = copy.deepcopy(service)
        moved["spec"]["clusterIP"] = "10.96.0.99"
        code, body = apply(server, moved, path=path)
        assert code == 422
        assert body["message"] == (
            'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
            '[]string{"10.96.0.99"}: may not change once set'
        )

    def test_a_job_template_cannot_change_but_scheduling_of_a_suspended_job_can(
        self, server: ApiServer
    ) -> None:
        job: dict[str, Any] = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "train", "namespace": "shop"},
            "spec": {
                "suspend": True,
                "template": {
                    "metadata": {"labels": {"app": "train"}},
                    "spec": {"restartPolicy": "Never", "containers": [container("t", "t:1")]},
                },
            },
        }
        path = "/apis/batch/v1/namespaces/shop/jobs/train"
        assert apply(server, job, path=path)[0] == 201
        scheduled = copy.deepcopy(job)
        scheduled["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "gpu"}
        scheduled["spec"]["template"]["metadata"]["labels"]["team"] = "ml"
        assert apply(server, scheduled, path=path)[0] == 200  # suspended, never started
        new_image = copy.deepcopy(scheduled)
        new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "t:2"
        code, body = apply(server, new_image, path=path)
        assert code == 422
        assert body["message"] == (
            'Job.batch "train" is invalid: spec.template: Invalid value: '
            "core.PodTemplateSpec{...}: field is immutable"
        )
        running = copy.deepcopy(scheduled)
        running["spec"]["suspend"] = False
        running["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "cpu"}
        code, body = apply(server, running, path=path)
        assert code == 422  # not suspended: the whole template is immutable
        assert [c["field"] for c in body["details"]["causes"]] == ["spec.template"]

    def test_a_pdb_selector_is_mutable_since_1_15(self, server: ApiServer) -> None:
        pdb: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        }
        path = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web"
        assert apply(server, pdb, path=path)[0] == 201
        pdb["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
        code, changed = apply(server, pdb, path=path)
        assert code == 200
        assert changed["spec"]["selector"] == {"matchLabels": {"app": "web2"}}


# --- what capsim deploy apply makes of these answers --------------------------------------


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("emit") / "mixed"
    scenario = str(SCENARIOS_DIR / "web-and-training.yaml")
    argv = ["deploy", "emit", scenario, "--out", str(folder), "--image", "app:1"]
    assert cli.main(argv) == 0
    return folder


def deploy_apply(
    server: ApiServer, tmp: Path, folder: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    kc = server.write_kubeconfig(tmp / "kubeconfig", namespace="shop")
    capsys.readouterr()
    code = cli.main(["deploy", "apply", str(folder), "--kubeconfig", str(kc), *extra])
    out, err = capsys.readouterr()
    return code, out, err


class TestApplyAnswers:
    def test_a_missing_namespace_says_to_create_it(
        self, server: ApiServer, emitted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = deploy_apply(server, tmp_path, emitted, capsys, "--apply")
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert lines[0] == (
            # the first Service in file order: the etl job's headless one
            f"capsim: error: {emitted / 'service-etl.yaml'}: document 1: Service shop/etl: "
            "namespace 'shop' "
            "does not exist: create it first (kubectl create namespace shop) or choose another "
            "with --namespace (and 7 more object(s), listed above)"
        )
        assert "Deployment shop/web: no-namespace" in out
        assert server.writes == []

    def test_an_immutable_field_names_the_object_and_field(
        self, server: ApiServer, emitted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server.create_namespace("shop")
        assert deploy_apply(server, tmp_path, emitted, capsys, "--apply")[0] == 0
        writes = len(server.writes)
        changed = tmp_path / "changed"
        changed.mkdir()
        for path in emitted.glob("*.yaml"):
            (changed / path.name).write_text(path.read_text())
        dep = yaml.safe_load((changed / "deployment-web.yaml").read_text())
        dep["spec"]["selector"]["matchLabels"]["tier"] = "front"
        dep["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
        (changed / "deployment-web.yaml").write_text(yaml.safe_dump(dep))
        code, out, err = deploy_apply(server, tmp_path, changed, capsys, "--apply")
        assert code == 2
        (line,) = err.strip().splitlines()
        assert line.startswith(
            f"capsim: error: {changed / 'deployment-web.yaml'}: document 1: Deployment shop/web: "
            "spec.selector: cannot be changed on the live object (Invalid value: "
            "v1.LabelSelector{"
        )
        assert "kubectl delete deployment -n shop web" in line
        assert "Deployment shop/web: immutable" in out
        assert len(server.writes) == writes  # nothing applied

    def test_a_job_image_change_is_immutable(
        self, server: ApiServer, emitted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server.create_namespace("shop")
        assert deploy_apply(server, tmp_path, emitted, capsys, "--apply")[0] == 0
        changed = tmp_path / "changed"
        changed.mkdir()
        for path in emitted.glob("*.yaml"):
            (changed / path.name).write_text(
                path.read_text().replace("image: app:1", "image: app:2")
            )
        code, _, err = deploy_apply(server, tmp_path, changed, capsys)
        assert code == 2
        (line,) = err.strip().splitlines()
        assert "Job shop/etl: spec.template: cannot be changed on the live object" in line
        assert "(and 1 more object(s), listed above)" in line  # Job shop/train too

    def test_a_conflict_inside_a_container_names_that_field(
        self, server: ApiServer, emitted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server.create_namespace("shop")
        theirs = yaml.safe_load((emitted / "deployment-web.yaml").read_text())
        theirs["metadata"]["namespace"] = "shop"
        theirs["spec"]["template"]["spec"]["containers"][0]["image"] = "app:0"
        server.seed(theirs, manager="helm")
        code, out, _ = deploy_apply(server, tmp_path, emitted, capsys)
        assert code == 1
        assert 'conflict: .spec.template.spec.containers[name="web"].image is owned by helm' in out
        assert '.spec.template.spec.containers[name="web"].ports' not in out
