"""`capsim live snapshot` against the API-server stand-in (`tests/kube_apiserver.py`)
through a generated kubeconfig and the real `kubernetes` client: the scenario it writes
loads and runs, holds the node pools, requests and HPAs the stand-in served, marks its
placeholders, is byte-identical for the same cluster; the exact requests; and errors."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import ApiServer

import capsim
from capsim.cli import main as cli
from capsim.kube.snapshot import Comment, Snapshot, dns_label
from capsim.scenario import KubernetesPlatform

NODES = "/api/v1/nodes"
HPAS = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"
DEPLOYMENTS = "/apis/apps/v1/namespaces/shop/deployments"
Ki, Mi, Gi = 2**10, 2**20, 2**30


def node(
    name: str,
    instance: str | None,
    capacity: tuple[str, str],
    allocatable: tuple[str, str],
    *,
    gpu: str | None = None,
    control_plane: bool = False,
    label: str = "node.kubernetes.io/instance-type",
) -> dict[str, Any]:
    cap = {"cpu": capacity[0], "memory": capacity[1], "pods": "110"}
    alloc = {"cpu": allocatable[0], "memory": allocatable[1], "pods": "110"}
    if gpu:
        cap["nvidia.com/gpu"] = alloc["nvidia.com/gpu"] = gpu
    labels = {"kubernetes.io/hostname": name} | ({label: instance} if instance else {})
    taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints} if control_plane else {},
        "status": {"capacity": cap, "allocatable": alloc},
    }


def container(
    name: str, requests: dict[str, str], limits: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    resources = {"requests": requests} | ({"limits": limits} if limits else {})
    return {"name": name, "image": f"shop/{name}:1", "resources": resources} | extra


def deployment(
    name: str, containers: list[dict[str, Any]], replicas: int = 2, **pod_spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers} | pod_spec,
            },
        },
    }


WEB_HPA_SPEC: dict[str, Any] = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 2,
    "maxReplicas": 12,
    "metrics": [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        },
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "400Mi"},
            },
        },
    ],
    "behavior": {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
        },
    },
}


def hpa(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": copy.deepcopy(spec),
        "status": {"currentReplicas": 3, "desiredReplicas": 3},
    }


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default outputs (``<namespace>.yaml``) land in the test's folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


@pytest.fixture
def cluster(server: ApiServer) -> ApiServer:
    """Nodes in two instance types (one a GPU type, one pool with a slightly larger node),
    a tainted control-plane node, and three Deployments in ``shop``: ``web`` with an HPA,
    ``worker`` with fixed replicas, ``infer`` with a GPU and an init container; plus an HPA
    of a StatefulSet and a Deployment in another namespace."""
    n2 = (("4", "16393244Ki"), ("3920m", "13464604Ki"))
    for index in range(2):
        server.seed(node(f"pool-a-{index}", "n2-standard-4", *n2), manager="kubelet")
    bigger = (("4", "16393248Ki"), ("3920m", "13464608Ki"))
    server.seed(node("pool-a-2", "n2-standard-4", *bigger), manager="kubelet")
    g2 = (("8", "32Gi"), ("7910m", "29Gi"))
    server.seed(node("gpu-0", "g2-standard-8", *g2, gpu="1"), manager="kubelet")
    cp = (("2", "8Gi"), ("1930m", "6Gi"))
    server.seed(node("control-0", "n2-standard-2", *cp, control_plane=True), manager="kubelet")
    web = [
        container("app", {"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
        container("proxy", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m", "memory": "128Mi"}),
    ]
    server.seed(deployment("web", web, replicas=5), manager="kubectl")
    worker = [
        container("worker", {"cpu": "250m", "memory": "256Mi"}, {"memory": "512Mi"}),
        container("log", {"cpu": "10m", "memory": "16Mi"}, {"cpu": "50m", "memory": "32Mi"}),
    ]
    server.seed(deployment("worker", worker, replicas=3), manager="kubectl")
    infer = [container("model", {"cpu": "2", "memory": "1Gi"}, {"nvidia.com/gpu": "1"})]
    init = [container("fetch", {"cpu": "500m", "memory": "3Gi"})]
    server.seed(deployment("infer", infer, replicas=1, initContainers=init), manager="kubectl")
    other = deployment("web", web)
    other["metadata"]["namespace"] = "staging"
    server.seed(other, manager="kubectl")
    server.seed(hpa("web", WEB_HPA_SPEC), manager="kubectl")
    db_ref = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}
    server.seed(hpa("db", {"scaleTargetRef": db_ref, "maxReplicas": 3}), manager="kubectl")
    return server


def snapshot(server: ApiServer, tmp: Path, *extra: str, token: str | None = None) -> int:
    config = server.write_kubeconfig(
        tmp / "kubeconfig", namespace="shop", **({"token": token} if token else {})
    )
    argv = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", str(config)]
    return cli.main([*argv, *extra])


def test_the_scenario_holds_the_cluster_and_runs(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(cluster, tmp_path) == 0
    out = tmp_path / "shop.yaml"
    scenario = capsim.load_scenario(out)
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)

    pools = {p.name: p for p in platform.node_pools}
    assert list(pools) == ["g2-standard-8", "n2-standard-4"]  # control-0 left out
    n2, g2 = pools["n2-standard-4"], pools["g2-standard-8"]
    assert (n2.instance, n2.vcpu_millicores, n2.memory_bytes, n2.gpu) == (
        "n2-standard-4",
        4000,
        16393244 * Ki,  # the smaller of the pool's nodes
        0,
    )
    assert n2.allocatable_cpu_millicores == 3920
    assert n2.allocatable_memory_bytes == 13464604 * Ki
    assert (n2.min_nodes, n2.max_nodes, n2.price_per_hour) == (3, 3, 0)
    assert (g2.vcpu_millicores, g2.memory_bytes, g2.gpu) == (8000, 32 * Gi, 1)
    assert (g2.reservation.cpu_millicores, g2.reservation.memory_bytes) == (90, 3 * Gi)
    assert (g2.min_nodes, g2.max_nodes) == (1, 1)

    assert [w.name for w in scenario.workloads] == ["infer", "web", "worker"]
    web = platform.workloads["web"]
    assert web.pod is not None
    assert web.hpa is not None
    assert (web.pod.cpu_request_millicores, web.pod.cpu_limit_millicores) == (600, 1200)
    assert (web.pod.memory_request_bytes, web.pod.memory_limit_bytes) == (576 * Mi, 1152 * Mi)
    assert (web.hpa.min_replicas, web.hpa.max_replicas, web.replicas) == (2, 12, None)
    raw = yaml.safe_load(out.read_text())
    served = {k: v for k, v in WEB_HPA_SPEC.items() if k != "scaleTargetRef"}
    assert raw["platforms"]["kubernetes"]["workloads"]["web"]["hpa"] == served
    assert list(raw["platforms"]["kubernetes"]["workloads"]["web"]["hpa"]) == list(served)

    worker = platform.workloads["worker"]
    assert worker.pod is not None
    assert (worker.replicas, worker.hpa) == (3, None)
    assert worker.pod.cpu_request_millicores == 260
    assert worker.pod.cpu_limit_millicores is None  # the worker container sets no CPU limit
    assert (worker.pod.memory_request_bytes, worker.pod.memory_limit_bytes) == (272 * Mi, 544 * Mi)

    infer = platform.workloads["infer"]
    assert infer.pod is not None
    assert infer.replicas == 1
    assert infer.pod.gpu == 1  # the limit is the request (API defaulting)
    assert infer.pod.cpu_request_millicores == 2000
    assert infer.pod.memory_request_bytes == 3 * Gi  # the init container needs more

    # It runs, as written, on the placeholders.
    assert scenario.duration_s == 3600
    result = capsim.run(scenario, seed=1)
    assert len(result.timeseries) > 0

    printed = capsys.readouterr().out
    assert f"wrote {Path('shop.yaml')}:" in printed
    assert (
        "note: price_per_hour is a placeholder (0) in node pool(s) g2-standard-8, n2-standard-4"
        in printed
    )
    assert (
        "record the real load with `capsim live prometheus --url URL --namespace shop "
        "--deployment infer --rate-query QUERY --out infer.csv` and point load at it"
    ) in printed
    assert "note: left out 1 control-plane node(s) (tainted NoSchedule): control-0" in printed
    assert "note: node pool n2-standard-4: its 3 nodes differ" in printed
    assert "note: HPA shop/db scales StatefulSet/db, not a Deployment of the namespace" in printed


def test_placeholders_are_marked_and_the_yaml_is_deterministic(
    cluster: ApiServer, tmp_path: Path
) -> None:
    assert snapshot(cluster, tmp_path, "--out", "a.yaml") == 0
    assert snapshot(cluster, tmp_path, "--out", "b.yaml") == 0
    text = (tmp_path / "a.yaml").read_text()
    assert (tmp_path / "b.yaml").read_bytes() == text.encode()
    lines = text.splitlines()
    marked = [line.split(":")[0].strip() for line in lines if line.endswith("# PLACEHOLDER")]
    assert marked == ["load", "cpu_ms_per_request"] * 3
    prices = [line for line in lines if line.strip().startswith("price_per_hour:")]
    assert prices == [
        "        price_per_hour: 0  # PLACEHOLDER: what one g2-standard-8 node costs per hour",
        "        price_per_hour: 0  # PLACEHOLDER: what one n2-standard-4 node costs per hour",
    ]
    assert "duration: 1h  # PLACEHOLDER" in text
    assert "min_nodes: 3  # the node count now" in text
    assert "min_nodes = max_nodes = the node count now" in text
    # Only the nodes, the namespace's Deployments and its HPAs were read.
    assert [(r.method, r.path, r.query) for r in cluster.requests] == [
        ("GET", DEPLOYMENTS, {}),
        ("GET", HPAS, {}),
        ("GET", NODES, {}),
    ] * 2


def test_one_deployment(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(cluster, tmp_path, "--deployment", "web") == 0
    assert [(r.method, r.path) for r in cluster.requests] == [
        ("GET", f"{DEPLOYMENTS}/web"),
        ("GET", HPAS),
        ("GET", NODES),
    ]
    scenario = capsim.load_scenario(tmp_path / "shop-web.yaml")  # the default --out
    assert scenario.name == "shop-web"
    assert [w.name for w in scenario.workloads] == ["web"]
    printed = capsys.readouterr().out
    assert "HPA shop/db" not in printed  # out of scope, not a problem


def test_names_become_dns_labels(server: ApiServer, tmp_path: Path) -> None:
    sizes = (("4", "16Gi"), ("3900m", "14Gi"))
    server.seed(node("a", "Standard_D4s_v3", *sizes), manager="kubelet")
    server.seed(
        node("b", "m5.xlarge", *sizes, label="beta.kubernetes.io/instance-type"), manager="k"
    )
    server.seed(node("c", None, *sizes), manager="kubelet")
    app = [container("app", {"cpu": "100m", "memory": "64Mi"})]
    server.seed(deployment("web.v2", app), manager="kubectl")
    assert snapshot(server, tmp_path) == 0
    text = (tmp_path / "shop.yaml").read_text()
    scenario = capsim.load_scenario(tmp_path / "shop.yaml")
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    assert [(p.name, p.instance) for p in platform.node_pools] == [
        ("standard-d4s-v3", "Standard_D4s_v3"),  # in instance-type order
        ("m5-xlarge", "m5.xlarge"),  # from the beta label
        ("nodes", "node"),  # no instance-type label: last
    ]
    assert "    name: web-v2  # Deployment web.v2" in text
    assert dns_label("--", "x") == "x"
    assert dns_label("A" * 70, "x") == "a" * 63


def test_unsimulated_hpa_metrics_are_kept_and_flagged(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.seed(node("a", "n2-standard-4", ("4", "16Gi"), ("3920m", "14Gi")), manager="kubelet")
    app = [container("app", {"cpu": "100m", "memory": "64Mi"})]
    server.seed(deployment("web", app), manager="kubectl")
    pods_metric = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    spec = WEB_HPA_SPEC | {"metrics": [pods_metric]}
    server.seed(hpa("web", spec), manager="kubectl")
    assert snapshot(server, tmp_path) == 0
    raw = yaml.safe_load((tmp_path / "shop.yaml").read_text())
    assert raw["platforms"]["kubernetes"]["workloads"]["web"]["hpa"]["metrics"] == [pods_metric]
    assert (
        "note: HPA shop/web scales on Pods requests_per_second: capsim run simulates only "
        "cpu and memory (Resource, or ContainerResource of the first container)"
    ) in capsys.readouterr().out


def container_metric(container_name: str) -> dict[str, object]:
    return {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": container_name,
            "target": {"type": "Utilization", "averageUtilization": 60},
        },
    }


def test_a_container_resource_metric_of_the_app_container_is_simulated(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scenario keeps the containers' own requests: the HPA divides the app
    container's usage by its request (250m), not by the pod's sum (350m)."""
    server.seed(node("a", "n2-standard-4", ("4", "16Gi"), ("3920m", "14Gi")), manager="kubelet")
    pod = [
        container("app", {"cpu": "250m", "memory": "64Mi"}),
        container("proxy", {"cpu": "100m", "memory": "32Mi"}),
    ]
    server.seed(deployment("web", pod), manager="kubectl")
    server.seed(hpa("web", WEB_HPA_SPEC | {"metrics": [container_metric("app")]}), manager="k")
    assert snapshot(server, tmp_path) == 0
    assert "scales on" not in capsys.readouterr().out
    scenario = capsim.load_scenario(tmp_path / "shop.yaml")
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    template = platform.workloads["web"].pod
    assert template is not None
    assert template.cpu_request_millicores == 350
    assert [(c.name, c.cpu_request_millicores) for c in template.containers] == [
        ("app", 250),
        ("proxy", 100),
    ]


def test_a_container_resource_metric_of_a_sidecar_is_flagged(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.seed(node("a", "n2-standard-4", ("4", "16Gi"), ("3920m", "14Gi")), manager="kubelet")
    pod = [
        container("app", {"cpu": "250m", "memory": "64Mi"}),
        container("proxy", {"cpu": "100m", "memory": "32Mi"}),
    ]
    server.seed(deployment("web", pod), manager="kubectl")
    server.seed(hpa("web", WEB_HPA_SPEC | {"metrics": [container_metric("proxy")]}), manager="k")
    assert snapshot(server, tmp_path) == 0
    assert (
        "note: HPA shop/web scales on ContainerResource cpu of container proxy"
    ) in capsys.readouterr().out


def test_yaml_scalars_that_would_change_type_are_quoted() -> None:
    data = {
        "plain": "n2-standard-4",
        "words": ["true", "yes", "on", "null", "1e3", "10", "0x1f", "1.5", "", "a: b", "x,y"],
        "flow": {"k": "no", "n": 1.0e-5, "b": False, "z": None},
        "nested": [{"a": {"b": [1, 2]}, "c": "#hash"}],
        "unicode": "café ünïcode",
    }
    comments = {("nested", 0): Comment(("one", "")), ("plain",): Comment(after="tail")}
    text = Snapshot(data, comments, ("head",)).to_yaml()
    assert yaml.safe_load(text) == data
    assert text.startswith("# head\nplain: n2-standard-4  # tail\n")
    assert "  # one\n  #\n  - a:\n" in text


def test_a_missing_deployment_names_those_there(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(cluster, tmp_path, "--deployment", "nope") == 2
    assert (
        f"capsim: error: {cluster.url}: no Deployment 'nope' in namespace 'shop'; Deployments "
        "there: infer, web, worker"
    ) in capsys.readouterr().err
    assert not (tmp_path / "shop-nope.yaml").exists()


def test_an_empty_namespace_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(server, tmp_path) == 2
    err = capsys.readouterr().err
    assert f"capsim: error: {server.url}: namespace 'shop' has no Deployments to snapshot" in err
    assert list(tmp_path.glob("*.yaml")) == []


def test_a_pod_that_fits_no_node_is_a_clear_error(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.seed(node("a", "e2-small", ("2", "2Gi"), ("1930m", "1Gi")), manager="kubelet")
    big = [container("app", {"cpu": "4", "memory": "8Gi"})]
    server.seed(deployment("big", big), manager="kubectl")
    assert snapshot(server, tmp_path) == 2
    err = capsys.readouterr().err
    assert f"capsim: error: {server.url}: the cluster does not make a valid scenario:" in err
    assert "platforms.kubernetes.workloads.big.pod: requests fit on no node pool" in err
    assert not (tmp_path / "shop.yaml").exists()


def test_an_existing_out_is_kept_unless_forced(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("# my edits\n")
    assert snapshot(cluster, tmp_path, "--out", str(out)) == 2
    assert "give --force to replace it" in capsys.readouterr().err
    assert out.read_text() == "# my edits\n"
    assert cluster.requests == []
    assert snapshot(cluster, tmp_path, "--out", str(out), "--force") == 0
    assert capsim.load_scenario(out).name == "shop"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_wrong_credentials_exit_2(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(cluster, tmp_path, token="wrong") == 2
    assert (
        f"capsim: error: {cluster.url} refused the kubeconfig's credentials "
        "(401 Unauthorized: Unauthorized)"
    ) in capsys.readouterr().err
    assert not (tmp_path / "shop.yaml").exists()


def test_nodes_forbidden_exit_2(
    cluster: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.forbid("list", "nodes", user="dev")
    assert snapshot(cluster, tmp_path) == 2
    assert (
        f'capsim: error: {cluster.url}: 403 Forbidden: nodes is forbidden: User "dev" cannot '
        'list resource "nodes" in API group "" at the cluster scope'
    ) in capsys.readouterr().err


def test_unreachable_cluster_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ApiServer() as gone:
        config = gone.write_kubeconfig(tmp_path / "kubeconfig")
        text = config.read_text().replace(gone.url, f"http://127.0.0.1:{port}")
    config.write_text(text)
    argv = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", str(config)]
    assert cli.main(argv) == 2
    assert f"capsim: error: http://127.0.0.1:{port}: no answer" in capsys.readouterr().err


def test_an_unreadable_kubeconfig_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", str(tmp_path / "none")]
    assert cli.main(argv) == 2
    assert "cannot load the kubeconfig" in capsys.readouterr().err


def test_node_taints_labels_and_pod_placement_are_kept(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tainted, labelled GPU node and a plain one: the pools carry the taints and labels
    all their nodes have (not per-node ones: hostname, conditions), each Deployment its
    tolerations, nodeSelector and required node affinity; what capsim does not simulate
    (pod anti-affinity) is left out with a note. The scenario loads: only the GPU pod may
    use the GPU pool."""
    gpu = node("gpu-0", "g2-standard-8", ("8", "32Gi"), ("7910m", "29Gi"), gpu="1")
    gpu["metadata"]["labels"]["gpu-type"] = "l4"
    gpu["spec"] = {
        "taints": [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
        ]
    }
    server.seed(gpu, manager="kubelet")
    server.seed(node("cpu-0", "n2-standard-4", ("4", "16Gi"), ("3920m", "13Gi")), manager="kubelet")
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    anti: dict[str, Any] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}
    }
    infer = deployment(
        "infer",
        [container("model", {"cpu": "2", "memory": "4Gi"}, {"nvidia.com/gpu": "1"})],
        replicas=1,
        tolerations=[toleration | {"tolerationSeconds": None}],
        nodeSelector={"gpu-type": "l4"},
        affinity=anti
        | {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "gpu-type", "operator": "In", "values": ["l4"]}
                            ]
                        }
                    ]
                }
            }
        },
    )
    anti["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = [
        {
            "labelSelector": {"matchLabels": {"app": "infer"}},
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
    server.seed(infer, manager="kubectl")
    server.seed(
        deployment("web", [container("app", {"cpu": "500m", "memory": "512Mi"})]), manager="kubectl"
    )
    assert snapshot(server, tmp_path) == 0
    printed = capsys.readouterr().out
    assert "podAntiAffinity not simulated, left out" in printed
    scenario = capsim.load_scenario(tmp_path / "shop.yaml")
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    pools = {p.name: p for p in platform.node_pools}
    g2, n2 = pools["g2-standard-8"], pools["n2-standard-4"]
    assert g2.labels == {"gpu-type": "l4"}
    assert [(t.key, t.value, t.effect) for t in g2.taints or ()] == [
        ("nvidia.com/gpu", "present", "NoSchedule")
    ]
    assert n2.taints == ()  # written out: the cluster's, not capsim's default
    infer_pod = platform.workloads["infer"].pod
    web_pod = platform.workloads["web"].pod
    assert infer_pod is not None
    assert web_pod is not None
    assert infer_pod.node_selector == {"gpu-type": "l4"}
    assert infer_pod.affinity is not None
    assert platform.pools_for(infer_pod)[0] == {"g2-standard-8"}
    assert platform.pools_for(web_pod)[0] == {"n2-standard-4"}
