"""Tests of the Kubernetes API-server stand-in (tests/kube_apiserver.py), driven with plain
``urllib.request`` and with the official ``kubernetes`` client the deploy adapter uses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kube_apiserver import ApiServer
from kubernetes.client.exceptions import ApiException

APPLY = "application/apply-patch+yaml"
DEPLOYMENTS = "/apis/apps/v1/namespaces/shop/deployments"
FIXED = "2026-01-01T00:00:00Z"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
# The client's config loaders are untyped, and with _preload_content=False its API methods
# answer the raw urllib3 response rather than the annotated model: both are used as Any.
_config: Any = kubernetes.config


def apps(client: Any) -> Any:
    return kubernetes.client.AppsV1Api(client)


def refused(request: Callable[[], object]) -> tuple[int, Any]:
    """(status, parsed Status body) of the ApiException the kubernetes client raises."""
    with pytest.raises(ApiException) as raised:
        request()
    return raised.value.status, json.loads(raised.value.body or "null")


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as running:
        running.create_namespace("shop")
        yield running


@pytest.fixture
def client(server: ApiServer, tmp_path: Path) -> Any:
    config = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
    return _config.new_client_from_config(config_file=str(config), context="standin")


def call(
    server: ApiServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "capsim-test-token",
    content_type: str = APPLY,
) -> tuple[int, dict[str, Any]]:
    """One request with urllib; returns (status code, parsed JSON body)."""
    data = body.encode() if isinstance(body, str) else None
    if body is not None and data is None:
        data = json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with _OPENER.open(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def deployment(
    replicas: int = 2, image: str = "shop/web:1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels or {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def apply(
    client: Any,
    body: dict[str, Any],
    *,
    manager: str = "capsim",
    force: bool | None = None,
    dry_run: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Server-side apply of a Deployment exactly as the adapter sends it."""
    response = apps(client).patch_namespaced_deployment(
        body["metadata"]["name"],
        "shop",
        body=body,
        field_manager=manager,
        dry_run=dry_run,
        force=force,
        _content_type=APPLY,
        _preload_content=False,
    )
    return response.status, json.loads(response.data)


def failure(code: int, reason: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    body |= {"status": "Failure", "message": message, "reason": reason}
    return body | ({"details": details} if details is not None else {}) | {"code": code}


def fields(server: ApiServer, plural: str = "deployments", name: str = "web") -> dict[str, Any]:
    """managedFields of a stored object as {manager: (operation, fieldsV1)}."""
    obj = server.get_object(plural, "shop", name)
    assert obj is not None
    return {e["manager"]: (e["operation"], e["fieldsV1"]) for e in obj["metadata"]["managedFields"]}


# --- authentication, routing, reads -----------------------------------------------------


def test_a_request_without_the_bearer_token_is_unauthorized(
    server: ApiServer, tmp_path: Path
) -> None:
    unauthorized = failure(401, "Unauthorized", "Unauthorized")
    assert call(server, "GET", f"{DEPLOYMENTS}/web", token=None) == (401, unauthorized)
    assert call(server, "GET", f"{DEPLOYMENTS}/web", token="other") == (401, unauthorized)
    config = server.write_kubeconfig(tmp_path / "kubeconfig", token="stolen")
    client = _config.new_client_from_config(config_file=str(config), context="standin")
    assert refused(lambda: apply(client, deployment())) == (401, unauthorized)
    assert server.get_object("deployments", "shop", "web") is None
    assert len(server.requests) == 3  # refused requests are recorded too


def test_a_missing_object_is_not_found_with_the_real_status_body(
    server: ApiServer, client: Any
) -> None:
    read = apps(client).read_namespaced_deployment
    assert refused(lambda: read("web", "shop", _preload_content=False)) == (
        404,
        failure(
            404,
            "NotFound",
            'deployments.apps "web" not found',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
    )
    # The core group has no ".group" and no details.group.
    assert call(server, "GET", "/api/v1/namespaces/shop/services/web") == (
        404,
        failure(404, "NotFound", 'services "web" not found', {"name": "web", "kind": "services"}),
    )


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v1/namespaces/shop/statefulsets/web",
        "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers/web",  # v2 only
        "/apis/apps/v1/deployments",
        "/healthz",
    ],
)
def test_an_unserved_path_is_not_found(server: ApiServer, path: str) -> None:
    message = "the server could not find the requested resource"
    assert call(server, "GET", path) == (404, failure(404, "NotFound", message, {}))


def test_methods_other_than_get_and_patch_are_not_allowed(server: ApiServer) -> None:
    code, body = call(server, "POST", DEPLOYMENTS, deployment(), content_type="application/json")
    assert (code, body["reason"]) == (405, "MethodNotAllowed")
    assert call(server, "DELETE", f"{DEPLOYMENTS}/web")[0] == 405


def test_the_kubeconfig_points_the_client_at_the_server(server: ApiServer, tmp_path: Path) -> None:
    path = server.write_kubeconfig(tmp_path / "kc", namespace="shop", context="ci")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "ci"
    assert config["clusters"][0]["cluster"] == {"server": server.url}
    assert config["users"][0]["user"] == {"token": "capsim-test-token"}
    _, active = _config.list_kube_config_contexts(config_file=str(path))
    assert active["name"] == "ci"
    assert active["context"]["namespace"] == "shop"
    assert server.url.startswith("http://127.0.0.1:")


# --- server-side apply ------------------------------------------------------------------


def test_apply_creates_the_object_with_server_fields_and_managed_fields(
    server: ApiServer, client: Any
) -> None:
    code, created = apply(client, deployment())
    assert code == 201
    meta = created["metadata"]
    assert list(meta)[:6] == [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
    ]
    assert meta["uid"] == "00000000-0000-4000-8000-000000000001"
    assert (meta["resourceVersion"], meta["generation"], meta["creationTimestamp"]) == (
        "1",
        1,
        FIXED,
    )
    assert meta["managedFields"] == [
        {
            "manager": "capsim",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": FIXED,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},  # a LabelSelector is atomic (+structType=atomic)
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {  # merged by name: the item and its fields
                                'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}
                            }
                        },
                    },
                },
            },
        }
    ]
    assert created["spec"] == deployment()["spec"]
    assert server.get_object("deployments", "shop", "web") == created
    read = apps(client).read_namespaced_deployment("web", "shop", _preload_content=False)
    assert (read.status, json.loads(read.data)) == (200, created)


def test_a_dry_run_answers_the_result_and_stores_nothing(server: ApiServer, client: Any) -> None:
    code, preview = apply(client, deployment(), dry_run="All")
    assert code == 201
    assert "resourceVersion" not in preview["metadata"]  # a dry-run create has none
    assert preview["spec"]["replicas"] == 2
    assert server.get_object("deployments", "shop", "web") is None
    assert call(server, "GET", f"{DEPLOYMENTS}/web")[0] == 404

    _, stored = apply(client, deployment())
    assert stored["metadata"]["uid"] == preview["metadata"]["uid"]
    code, preview = apply(client, deployment(replicas=7), dry_run="All")
    assert code == 200
    assert preview["spec"]["replicas"] == 7
    assert preview["metadata"]["generation"] == 2
    assert preview["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"] == "1"
    assert server.get_object("deployments", "shop", "web") == stored


def test_reapplying_the_same_config_writes_nothing(server: ApiServer, client: Any) -> None:
    _, first = apply(client, deployment())
    assert apply(client, deployment()) == (200, first)  # resourceVersion "1" kept
    _, scaled = apply(client, deployment(replicas=3))
    assert scaled["metadata"]["resourceVersion"] == "2"
    assert scaled["metadata"]["generation"] == 2
    _, relabeled = apply(client, deployment(replicas=3, labels={"app": "web", "tier": "front"}))
    assert relabeled["metadata"]["resourceVersion"] == "3"
    assert relabeled["metadata"]["generation"] == 2  # metadata changes leave generation alone


def test_a_changed_field_owned_by_another_manager_conflicts(server: ApiServer, client: Any) -> None:
    seeded = server.seed(deployment(replicas=5), manager="kubectl-client-side-apply")
    code, body = refused(lambda: apply(client, deployment(replicas=2)))
    message = 'conflict with "kubectl-client-side-apply" using apps/v1'
    assert code == 409
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"Apply failed with 1 conflict: {message}: .spec.replicas",
        "reason": "Conflict",
        "details": {
            "causes": [
                {"reason": "FieldManagerConflict", "message": message, "field": ".spec.replicas"}
            ]
        },
        "code": 409,
    }
    assert server.get_object("deployments", "shop", "web") == seeded


def test_several_conflicts_are_listed_per_manager(server: ApiServer, client: Any) -> None:
    server.seed(deployment(replicas=5, image="shop/web:0"), manager="helm")
    apply(client, {**deployment(replicas=5), "spec": {"replicas": 5}}, manager="autoscaler")
    _, body = refused(lambda: apply(client, deployment(replicas=2, image="shop/web:2")))
    assert body["message"] == (
        "Apply failed with 3 conflicts: "
        'conflicts with "autoscaler":\n'  # an Apply manager is printed without apiVersion
        "- .spec.replicas\n"
        'conflicts with "helm" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="app"].image'  # merged by name: one field
    )
    assert [(c["message"], c["field"]) for c in body["details"]["causes"]] == [
        ('conflict with "autoscaler"', ".spec.replicas"),
        ('conflict with "helm" using apps/v1', ".spec.replicas"),
        ('conflict with "helm" using apps/v1', '.spec.template.spec.containers[name="app"].image'),
    ]


def test_the_same_value_is_shared_without_conflict(server: ApiServer, client: Any) -> None:
    server.seed(deployment(replicas=2), manager="helm")
    code, _ = apply(client, deployment(replicas=2))
    assert code == 200
    managers = fields(server)
    assert managers["helm"][0] == "Update"
    assert managers["capsim"][0] == "Apply"
    assert "f:replicas" in managers["helm"][1]["f:spec"]
    assert "f:replicas" in managers["capsim"][1]["f:spec"]


def test_force_takes_ownership_of_the_conflicting_fields(server: ApiServer, client: Any) -> None:
    server.seed(deployment(replicas=5), manager="helm")
    code, forced = apply(client, deployment(replicas=2), force=True)
    assert code == 200
    assert forced["spec"]["replicas"] == 2
    managers = fields(server)
    assert "f:replicas" not in managers["helm"][1]["f:spec"]
    assert "f:template" in managers["helm"][1]["f:spec"]  # the rest stays shared
    assert "f:replicas" in managers["capsim"][1]["f:spec"]
    # Now the replicas belong to capsim alone: helm dropping out changes nothing.
    assert apply(client, deployment(replicas=3))[1]["spec"]["replicas"] == 3


@pytest.mark.parametrize(
    ("force", "forced"),
    [("true", True), ("True", True), ("", True), ("false", False), ("FALSE", False), ("0", False)],
)
def test_force_is_parsed_like_the_api_server(server: ApiServer, force: str, forced: bool) -> None:
    server.seed(deployment(replicas=5), manager="helm")
    path = f"{DEPLOYMENTS}/web?fieldManager=capsim&force={force}"
    assert call(server, "PATCH", path, deployment(replicas=2))[0] == (200 if forced else 409)


def test_a_field_dropped_from_the_config_is_removed_unless_someone_else_owns_it(
    server: ApiServer, client: Any
) -> None:
    first = deployment(labels={"app": "web", "tier": "front", "team": "shop"})
    first["metadata"]["annotations"] = {"capsim/source": "plan.yaml"}
    apply(client, first)
    apply(
        client, deployment(labels={"app": "web", "team": "shop"}), manager="ops"
    )  # shares app and team
    _, applied = apply(client, deployment())
    assert applied["metadata"]["labels"] == {"app": "web", "team": "shop"}
    assert "annotations" not in applied["metadata"]  # the emptied map goes too
    assert fields(server)["capsim"][1]["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_a_service_gets_a_cluster_ip_that_nobody_owns(server: ApiServer) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
    }
    path = "/api/v1/namespaces/shop/services/web?fieldManager=capsim"
    code, created = call(server, "PATCH", path, yaml.safe_dump(service))  # YAML, not JSON
    assert code == 201
    assert created["spec"]["clusterIP"] == "10.96.0.1"
    assert "generation" not in created["metadata"]  # Services have none
    assert created["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {
            # ports merge by port and protocol (TCP when not given); the selector is atomic
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}},
            "f:selector": {},
        }
    }
    assert call(server, "PATCH", path, service) == (200, created)


def test_list_filters_by_label_selector(server: ApiServer, client: Any) -> None:
    for name, labels in [("web", {"app": "web", "tier": "front"}), ("db", {"app": "db"})]:
        body = deployment(labels=labels)
        body["metadata"]["name"] = name
        apply(client, body)
    server.seed({**deployment(), "metadata": {"name": "web", "namespace": "other"}}, manager="x")

    def names(selector: str) -> list[str]:
        response = apps(client).list_namespaced_deployment(
            "shop", label_selector=selector, _preload_content=False
        )
        return [item["metadata"]["name"] for item in json.loads(response.data)["items"]]

    assert names("") == ["db", "web"]
    assert names("app=web") == names("app==web") == names("tier") == ["web"]
    assert names("app!=web") == names("!tier") == ["db"]
    assert names("app=web,tier=back") == []
    code, listing = call(server, "GET", f"{DEPLOYMENTS}?labelSelector=app%3Ddb")
    assert code == 200
    assert listing["kind"] == "DeploymentList"
    assert listing["apiVersion"] == "apps/v1"
    assert listing["metadata"] == {"resourceVersion": "3"}
    assert "kind" not in listing["items"][0]  # typed list items carry no kind/apiVersion
    assert call(server, "GET", f"{DEPLOYMENTS}?labelSelector=app+in+(web)")[0] == 400


# --- injected failures ------------------------------------------------------------------


def test_forbid_answers_the_real_forbidden_bodies(server: ApiServer, client: Any) -> None:
    server.forbid("patch", "horizontalpodautoscalers")
    server.forbid("list", "horizontalpodautoscalers", user="jane")
    server.forbid("get", "services")
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"minReplicas": 2, "maxReplicas": 10},
    }
    patch = kubernetes.client.AutoscalingV2Api(client).patch_namespaced_horizontal_pod_autoscaler
    user = '"system:serviceaccount:ci:deployer"'
    assert refused(
        lambda: patch("web", "shop", body=hpa, field_manager="capsim", _content_type=APPLY)
    ) == (
        403,
        failure(
            403,
            "Forbidden",
            f'horizontalpodautoscalers.autoscaling "web" is forbidden: User {user} cannot '
            'patch resource "horizontalpodautoscalers" in API group "autoscaling" '
            'in the namespace "shop"',
            {"name": "web", "group": "autoscaling", "kind": "horizontalpodautoscalers"},
        ),
    )
    code, body = call(
        server, "GET", "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"
    )
    assert (code, body["message"]) == (
        403,
        'horizontalpodautoscalers.autoscaling is forbidden: User "jane" cannot list resource '
        '"horizontalpodautoscalers" in API group "autoscaling" in the namespace "shop"',
    )
    assert body["details"] == {"group": "autoscaling", "kind": "horizontalpodautoscalers"}
    code, body = call(server, "GET", "/api/v1/namespaces/shop/services/web")
    assert (code, body["message"], body["details"]) == (
        403,
        f'services "web" is forbidden: User {user} cannot get resource "services" '
        'in API group "" in the namespace "shop"',
        {"name": "web", "kind": "services"},
    )
    assert server.get_object("horizontalpodautoscalers", "shop", "web") is None
    assert apply(client, deployment())[0] == 201  # other resources are untouched


def test_reject_answers_invalid_on_dry_run_and_write(server: ApiServer, client: Any) -> None:
    field = "spec.template.spec.containers[0].image"
    server.reject(
        "deployments",
        "web",
        field=field,
        message="Required value",
        cause_reason="FieldValueRequired",
    )
    expected = failure(
        422,
        "Invalid",
        f'Deployment.apps "web" is invalid: {field}: Required value',
        {
            "name": "web",
            "group": "apps",
            "kind": "Deployment",
            "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": field}
            ],
        },
    )
    assert refused(lambda: apply(client, deployment(), dry_run="All")) == (422, expected)
    assert refused(lambda: apply(client, deployment())) == (422, expected)
    assert server.get_object("deployments", "shop", "web") is None


def test_reject_only_the_real_write(server: ApiServer, client: Any) -> None:
    server.reject(
        "services",
        "web",
        field="spec.ports[0].port",
        message="Invalid value: 0: must be between 1 and 65535",
        dry_run_too=False,
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ports": [{"port": 0}]},
    }
    path = "/api/v1/namespaces/shop/services/web?fieldManager=capsim"
    assert call(server, "PATCH", path + "&dryRun=All", service)[0] == 201
    code, body = call(server, "PATCH", path, service)
    assert code == 422
    assert body["message"] == (
        'Service "web" is invalid: spec.ports[0].port: '
        "Invalid value: 0: must be between 1 and 65535"
    )
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert "group" not in body["details"]
    assert server.get_object("services", "shop", "web") is None


# --- malformed apply requests -----------------------------------------------------------


def test_apply_without_field_manager_is_invalid(server: ApiServer) -> None:
    body = "Required value: is required for apply patch"
    assert call(server, "PATCH", f"{DEPLOYMENTS}/web", deployment()) == (
        422,
        failure(
            422,
            "Invalid",
            f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: {body}',
            {
                "group": "meta.k8s.io",
                "kind": "PatchOptions",
                "causes": [
                    {"reason": "FieldValueRequired", "message": body, "field": "fieldManager"}
                ],
            },
        ),
    )


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"apiVersion": "apps/v1beta1"},
            400,
            "Incorrect version specified in apply patch. "
            "Specified patch version: apps/v1beta1, expected: apps/v1",
        ),
        (
            {"kind": "StatefulSet"},
            400,
            "the kind of the object (StatefulSet) does not match the kind on the URL (Deployment)",
        ),
        (
            {"metadata": {"name": "api"}},
            400,
            "the name of the object (api) does not match the name on the URL (web)",
        ),
        (
            {"metadata": {"name": "web", "namespace": "prod"}},
            400,
            "the namespace of the object (prod) does not match the namespace on the URL (shop)",
        ),
        (
            {"metadata": {"name": "web", "managedFields": []}},
            400,
            "metadata.managedFields must be nil",
        ),
    ],
)
def test_a_malformed_apply_is_a_bad_request(
    server: ApiServer, change: dict[str, Any], code: int, message: str
) -> None:
    path = f"{DEPLOYMENTS}/web?fieldManager=capsim"
    assert call(server, "PATCH", path, deployment() | change) == (
        code,
        failure(code, "BadRequest", message),
    )
    assert server.get_object("deployments", "shop", "web") is None


def test_other_patch_types_and_dry_run_values_are_refused(server: ApiServer) -> None:
    path = f"{DEPLOYMENTS}/web?fieldManager=capsim"
    code, body = call(
        server, "PATCH", path, deployment(), content_type="application/merge-patch+json"
    )
    assert (code, body["reason"], body["message"]) == (
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/apply-patch+yaml",
    )
    code, body = call(server, "PATCH", path + "&dryRun=true", deployment())
    assert (code, body["message"]) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: dryRun: '
        'Unsupported value: []string{"true"}: supported values: "All"',
    )
    assert server.get_object("deployments", "shop", "web") is None


# --- what the kubernetes client sends ---------------------------------------------------


def test_requests_sent_by_the_kubernetes_client_are_recorded(
    server: ApiServer, client: Any
) -> None:
    body = deployment()
    apply(client, body, force=True, dry_run="All")
    apply(client, body, force=False)
    apply(client, body)
    apps(client).read_namespaced_deployment("web", "shop", _preload_content=False)
    # Booleans go out lower-case (ApiClient.parameters_to_url_query); None leaves them out.
    assert [(r.method, r.path, r.query, r.content_type) for r in server.requests] == [
        (
            "PATCH",
            f"{DEPLOYMENTS}/web",
            {"dryRun": ["All"], "fieldManager": ["capsim"], "force": ["true"]},
            APPLY,
        ),
        ("PATCH", f"{DEPLOYMENTS}/web", {"fieldManager": ["capsim"], "force": ["false"]}, APPLY),
        ("PATCH", f"{DEPLOYMENTS}/web", {"fieldManager": ["capsim"]}, APPLY),
        ("GET", f"{DEPLOYMENTS}/web", {}, None),
    ]
    assert [r.body for r in server.requests] == [body, body, body, None]
    server.clear_requests()
    assert server.requests == []


def test_seed_owns_every_leaf_it_sets(server: ApiServer) -> None:
    seeded = server.seed(deployment(replicas=5), manager="kubectl-client-side-apply")
    assert seeded["metadata"]["resourceVersion"] == "1"
    [entry] = seeded["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == (
        "kubectl-client-side-apply",
        "Update",
        "apps/v1",
    )
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]  # server metadata is nobody's
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert server.get_object("deployments", "shop", "web") == seeded


# --- live mode: nodes and metrics.k8s.io ------------------------------------------------


def node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    status = {"capacity": {"cpu": "4", "memory": "16Gi"}, "allocatable": {"cpu": "3920m"}}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}} | {
        "status": status
    }


def test_nodes_are_cluster_scoped_and_read_only(server: ApiServer, client: Any) -> None:
    seeded = server.seed(node("b", {"pool": "x"}), manager="kubelet")
    server.seed(node("a", {"pool": "y"}), manager="kubelet")
    assert "namespace" not in seeded["metadata"]
    assert "generation" not in seeded["metadata"]  # Nodes have none, as on a real server
    core: Any = kubernetes.client.CoreV1Api(client)  # raw responses: see _config
    listing = json.loads(core.list_node(_preload_content=False).data)
    assert (listing["kind"], listing["apiVersion"]) == ("NodeList", "v1")
    assert [n["metadata"]["name"] for n in listing["items"]] == ["a", "b"]
    picked = json.loads(core.list_node(label_selector="pool=x", _preload_content=False).data)
    assert [n["metadata"]["name"] for n in picked["items"]] == ["b"]
    assert call(server, "GET", "/api/v1/nodes/b") == (200, server.get_object("nodes", "", "b"))
    assert call(server, "GET", "/api/v1/nodes/zz") == (
        404,
        failure(404, "NotFound", 'nodes "zz" not found', {"name": "zz", "kind": "nodes"}),
    )
    assert call(server, "PATCH", "/api/v1/nodes/b", {"metadata": {}})[0] == 405
    assert call(server, "GET", "/api/v1/namespaces/shop/nodes")[0] == 404  # not namespaced
    server.forbid("list", "nodes", user="dev")
    code, body = call(server, "GET", "/api/v1/nodes")
    assert (code, body["message"], body["details"]) == (
        403,
        'nodes is forbidden: User "dev" cannot list resource "nodes" in API group "" '
        "at the cluster scope",
        {"kind": "nodes"},
    )


def test_pod_metrics_are_served_as_metrics_server_does(server: ApiServer, client: Any) -> None:
    item: dict[str, Any] = {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "labels": {"app": "web"},
            "creationTimestamp": "2026-11-25T10:00:01Z",
        },
        "timestamp": "2026-11-25T10:00:00Z",
        "window": "15s",
        "containers": [{"name": "app", "usage": {"cpu": "123456789n", "memory": "65536Ki"}}],
    }
    other = item | {"metadata": item["metadata"] | {"name": "db-1", "labels": {"app": "db"}}}
    server.set_pod_metrics("shop", [item, other])
    custom: Any = kubernetes.client.CustomObjectsApi(client)

    def pods(selector: str) -> dict[str, Any]:
        response = custom.list_namespaced_custom_object(
            "metrics.k8s.io",
            "v1beta1",
            "shop",
            "pods",
            label_selector=selector,
            _preload_content=False,
        )
        listed: dict[str, Any] = json.loads(response.data)
        return listed

    assert pods("app=web") == {
        "kind": "PodMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [item],
    }
    assert len(pods("")["items"]) == 2
    server.set_pod_metrics("shop", [])  # the pods went away
    assert pods("app=web")["items"] == []
    assert call(server, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/x/pods")[1]["items"] == []
    assert server.requests[0].query == {"labelSelector": ["app=web"]}


def test_the_metrics_group_can_be_absent_or_unavailable(server: ApiServer) -> None:
    path = "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"
    assert call(server, "GET", path, token=None)[0] == 401  # authentication comes first
    server.set_metrics_server("absent")
    message = "the server could not find the requested resource"
    assert call(server, "GET", path) == (404, failure(404, "NotFound", message, {}))
    assert call(server, "GET", "/apis/metrics.k8s.io/v1beta1")[0] == 404
    server.set_metrics_server("unavailable")
    request = urllib.request.Request(server.url + path)
    request.add_header("Authorization", "Bearer capsim-test-token")
    with pytest.raises(urllib.error.HTTPError) as raised:
        _OPENER.open(request)
    assert raised.value.code == 503
    assert raised.value.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raised.value.read() == b"service unavailable\n"  # kube-aggregator's http.Error
    server.set_metrics_server("running")
    assert call(server, "GET", path)[0] == 200
