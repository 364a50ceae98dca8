"""A namespace of a live cluster → a capsim scenario (``capsim live snapshot``), so what-if
starts from reality: the real node pools, pod requests and HPAs.

:func:`read_cluster` reads, through any :class:`Source` (the ``kubernetes`` client adapter
:class:`~capsim.kube.client.KubernetesCluster` in production), the namespace's
Deployments (``apps/v1``; all, or the one named), its HorizontalPodAutoscalers
(``autoscaling/v2``) and every Node. :func:`snapshot_scenario` turns that into a scenario
mapping -- the input of :func:`capsim.scenario.parse_scenario`, checked with it -- and
:meth:`Snapshot.to_yaml` into commented YAML:

* **Node pools**: nodes grouped by ``node.kubernetes.io/instance-type`` (else
  ``beta.kubernetes.io/instance-type``; nodes with neither form one pool ``nodes``), one
  pool per type, named after it (as a DNS label) with ``instance`` the type itself. ``vcpu``,
  ``memory`` and ``gpu`` (``nvidia.com/gpu``) are the nodes' ``status.capacity``;
  ``reserved`` is capacity − ``status.allocatable``. When a pool's nodes differ, the
  smallest capacity and the smallest allocatable are used (a note says so).
  ``min_nodes`` = ``max_nodes`` = the number of nodes now: the cluster does not tell the
  cluster autoscaler's bounds, so the snapshot neither grows nor shrinks (a comment says
  so; widen them for what-if). Nodes tainted ``node-role.kubernetes.io/control-plane`` (or
  ``master``) ``NoSchedule``/``NoExecute`` are left out, unless no other node is left.
* **Workloads**: one ``service`` per Deployment (sorted by name; its name as a DNS label).
  The platform's pod is the containers' requests summed (init containers count as the
  scheduler counts them: the pod requests the larger of the containers' sum, sidecars
  included, and each init container plus the sidecars started before it); a missing
  request with a limit is the limit (API defaulting). ``cpu_limit`` only if every
  container sets a CPU limit (their sum), ``memory_limit`` likewise; ``gpu`` the
  ``nvidia.com/gpu`` requests. When an HPA's ``scaleTargetRef`` names the Deployment, its
  ``spec`` goes inline exactly as the cluster has it, minus ``scaleTargetRef``; otherwise
  ``replicas`` is the Deployment's ``spec.replicas`` (1 when absent).
* **Placeholders** -- what the cluster cannot know, marked ``PLACEHOLDER`` in a comment
  and listed in :attr:`Snapshot.notes`: each pool's ``price_per_hour`` (0), each
  service's ``load`` (a constant 1 request/s) and ``cpu_ms_per_request`` (10 ms), and the
  run's ``duration`` (1h). The notes say how to record the real load (``capsim live
  prometheus``) and point ``load`` at the trace.

The output is deterministic: objects are taken in name order and nothing time-dependent
is written, so the same cluster gives byte-identical YAML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from capsim.results.files import check_output_file, replace_file
from capsim.units import (
    format_cpu_millicores,
    format_memory_bytes,
    parse_cpu_millicores,
    parse_memory_bytes,
    parse_quantity,
)

__all__ = [
    "ClusterState",
    "Comment",
    "Snapshot",
    "SnapshotError",
    "Source",
    "dns_label",
    "missing_deployment",
    "read_cluster",
    "snapshot_scenario",
    "write_snapshot",
]

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
CONTROL_PLANE_TAINTS = frozenset(
    {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
)
GPU = "nvidia.com/gpu"
PLATFORM = "kubernetes"
DEFAULT_POOL = "nodes"
PLACEHOLDER_RATE = 1  # requests per second
PLACEHOLDER_CPU_MS = 10  # CPU milliseconds per request
PLACEHOLDER_DURATION = "1h"
SIMULATED_METRICS = ("cpu", "memory")  # Resource metrics capsim run simulates

Obj = dict[str, Any]
ObjList = list[Obj]  # a name ``list`` does not shadow inside Source
YamlPath = tuple[str | int, ...]


class SnapshotError(ValueError):
    """The cluster cannot be turned into a scenario; the message names what and why."""


class Source(Protocol):
    """What a snapshot reads from a cluster (:class:`~capsim.kube.client.KubernetesCluster`)."""

    server: str

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str | None = None
    ) -> list[Obj]: ...

    def list_nodes(self, label_selector: str | None = None) -> ObjList: ...


@dataclass(frozen=True)
class ClusterState:
    """What was read: the namespace's Deployments and HPAs, and every Node, as plain dicts."""

    server: str
    namespace: str
    deployment: str | None  # the one asked for, or None for all
    deployments: tuple[Obj, ...]
    hpas: tuple[Obj, ...]
    nodes: tuple[Obj, ...]


@dataclass(frozen=True)
class Comment:
    """YAML comments at one path: whole lines before the key (or list item), and one after
    the value on its line."""

    before: tuple[str, ...] = ()
    after: str = ""


@dataclass(frozen=True)
class Snapshot:
    """The scenario mapping, its comments by path, the header, and notes for the user."""

    scenario: Obj
    comments: Mapping[YamlPath, Comment] = field(default_factory=dict)
    header: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary: str = ""

    def to_yaml(self) -> str:
        """Block-style YAML with the comments; :func:`yaml.safe_load` gives back
        :attr:`scenario`."""
        lines = [f"# {line}" if line else "#" for line in self.header]
        _render(self.scenario, (), 0, self.comments, lines)
        return "\n".join(lines) + "\n"


def missing_deployment(namespace: str, name: str, existing: Sequence[str]) -> str:
    """The message for a Deployment that is not there, naming those that are."""
    there = (
        f"Deployments there: {', '.join(sorted(existing))}"
        if existing
        else "the namespace has no Deployments (is it the right namespace and context?)"
    )
    return f"no Deployment {name!r} in namespace {namespace!r}; {there}"


def read_cluster(source: Source, namespace: str, deployment: str | None = None) -> ClusterState:
    """Read the Deployments (all, or ``deployment``), HPAs and Nodes a snapshot needs.

    Raises :class:`SnapshotError` when there is no Deployment to snapshot; the client's
    errors (:class:`~capsim.kube.client.ApiError`, unreachable) pass through.
    """
    if deployment is None:
        deployments = source.list("apps/v1", "Deployment", namespace)
        if not deployments:
            raise SnapshotError(
                f"namespace {namespace!r} has no Deployments to snapshot "
                "(is it the right namespace and context?)"
            )
    else:
        found = source.get("apps/v1", "Deployment", namespace, deployment)
        if found is None:
            names = [_name(d) for d in source.list("apps/v1", "Deployment", namespace)]
            raise SnapshotError(missing_deployment(namespace, deployment, names))
        deployments = [found]
    hpas = source.list("autoscaling/v2", "HorizontalPodAutoscaler", namespace)
    nodes = source.list_nodes()
    return ClusterState(
        server=str(source.server),
        namespace=namespace,
        deployment=deployment,
        deployments=tuple(sorted(deployments, key=_name)),
        hpas=tuple(sorted(hpas, key=_name)),
        nodes=tuple(sorted(nodes, key=_name)),
    )


def dns_label(text: str, fallback: str) -> str:
    """``text`` as a DNS label (a-z, 0-9, ``-``; at most 63), or ``fallback`` if nothing is
    left: ``m5.xlarge`` → ``m5-xlarge``, ``Standard_D4s_v3`` → ``standard-d4s-v3``."""
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
    return cleaned[:63].strip("-") or fallback


def _unique(name: str, taken: set[str]) -> str:
    candidate, suffix = name, 2
    while candidate in taken:
        tail = f"-{suffix}"
        candidate = name[: 63 - len(tail)].rstrip("-") + tail
        suffix += 1
    taken.add(candidate)
    return candidate


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


# --- node pools ------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeSize:
    name: str
    cpu_m: int
    memory_b: int
    gpu: int
    alloc_cpu_m: int
    alloc_memory_b: int
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)


def _node_size(node: Mapping[str, Any]) -> _NodeSize:
    name = _name(node)
    status = node.get("status") or {}

    def read(section: str, resource: str, parse: Any, required: bool = True) -> int:
        values = status.get(section) or {}
        if resource not in values:
            if required:
                raise SnapshotError(f"Node {name}: status.{section}.{resource}: missing")
            return 0
        try:
            return int(parse(values[resource]))
        except ValueError as exc:
            raise SnapshotError(f"Node {name}: status.{section}.{resource}: {exc}") from None

    def gpus(text: Any) -> int:
        return int(parse_quantity(text))

    labels = (node.get("metadata") or {}).get("labels") or {}
    taints = (node.get("spec") or {}).get("taints") or []
    return _NodeSize(
        name=name,
        cpu_m=read("capacity", "cpu", parse_cpu_millicores),
        memory_b=read("capacity", "memory", parse_memory_bytes),
        gpu=read("capacity", GPU, gpus, required=False),
        alloc_cpu_m=read("allocatable", "cpu", parse_cpu_millicores),
        alloc_memory_b=read("allocatable", "memory", parse_memory_bytes),
        labels=tuple(
            sorted((str(k), str(v)) for k, v in labels.items() if k not in NODE_OWN_LABELS)
        ),
        taints=tuple(
            sorted(
                (str(t.get("key", "")), str(t.get("value", "") or ""), str(t.get("effect", "")))
                for t in taints
                if isinstance(t, Mapping)
                and t.get("effect") in POOL_TAINT_EFFECTS
                and t.get("key") not in NODE_CONDITION_TAINTS
            )
        ),
    )


NODE_OWN_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/instance-type",
    }
)
"""Labels a node has for itself (its name, and the instance type capsim adds per pool)."""
POOL_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
NODE_CONDITION_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
        "node.cloudprovider.kubernetes.io/uninitialized",
        "ToBeDeletedByClusterAutoscaler",
        "DeletionCandidateOfClusterAutoscaler",
    }
)
"""Taints the node controller and the cluster autoscaler put on a node for a while (its
condition, its removal): not the pool's."""


def _control_plane(node: Mapping[str, Any]) -> bool:
    taints = (node.get("spec") or {}).get("taints") or []
    return any(
        t.get("key") in CONTROL_PLANE_TAINTS and t.get("effect") in ("NoSchedule", "NoExecute")
        for t in taints
    )


def _instance_type(node: Mapping[str, Any]) -> str | None:
    labels = (node.get("metadata") or {}).get("labels") or {}
    for label in INSTANCE_TYPE_LABELS:
        if labels.get(label):
            return str(labels[label])
    return None


@dataclass(frozen=True)
class _Pool:
    instance: str | None
    nodes: tuple[_NodeSize, ...]


def _pools(nodes: Sequence[Obj], notes: list[str]) -> list[_Pool]:
    if not nodes:
        raise SnapshotError("the cluster lists no Nodes: a scenario needs at least one node pool")
    workers = [n for n in nodes if not _control_plane(n)]
    if workers and len(workers) < len(nodes):
        left_out = sorted(_name(n) for n in nodes if _control_plane(n))
        notes.append(
            f"left out {len(left_out)} control-plane node(s) (tainted NoSchedule): "
            f"{', '.join(left_out)}"
        )
    groups: dict[str | None, list[_NodeSize]] = {}
    for node in workers or nodes:
        groups.setdefault(_instance_type(node), []).append(_node_size(node))
    return [
        _Pool(instance, tuple(groups[instance]))
        for instance in sorted(groups, key=lambda i: (i is None, i or ""))
    ]


def _pool_entry(pool: _Pool, name: str, notes: list[str]) -> Obj:
    cpu = min(n.cpu_m for n in pool.nodes)
    memory = min(n.memory_b for n in pool.nodes)
    gpu = min(n.gpu for n in pool.nodes)
    reserved_cpu = max(0, cpu - min(n.alloc_cpu_m for n in pool.nodes))
    reserved_memory = max(0, memory - min(n.alloc_memory_b for n in pool.nodes))
    sizes = {(n.cpu_m, n.memory_b, n.gpu, n.alloc_cpu_m, n.alloc_memory_b) for n in pool.nodes}
    if len(sizes) > 1:
        notes.append(
            f"node pool {name}: its {len(pool.nodes)} nodes differ in capacity or allocatable; "
            "the smallest of each is used"
        )
    entry: Obj = {"name": name}
    if pool.instance is not None:
        entry["instance"] = pool.instance
    entry |= {"vcpu": format_cpu_millicores(cpu), "memory": format_memory_bytes(memory)}
    if gpu:
        entry["gpu"] = gpu
    entry["reserved"] = {
        "cpu": format_cpu_millicores(reserved_cpu),
        "memory": format_memory_bytes(reserved_memory),
    }
    labels = set.intersection(*(set(n.labels) for n in pool.nodes))
    if labels:
        entry["labels"] = dict(sorted(labels))
    taints = set.intersection(*(set(n.taints) for n in pool.nodes))
    if len({n.taints for n in pool.nodes}) > 1:
        notes.append(f"node pool {name}: its nodes differ in taints; those all carry are kept")
    # written out even when none: a GPU pool's default taint is GKE's, the cluster's are these
    entry["taints"] = [
        {"key": key, **({"value": value} if value else {}), "effect": effect}
        for key, value, effect in sorted(taints)
    ]
    count = len(pool.nodes)
    return entry | {"price_per_hour": 0, "min_nodes": count, "max_nodes": count}


# --- workloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resources:
    cpu_m: int
    memory_b: int
    gpu: int
    cpu_limit_m: int | None
    memory_limit_b: int | None


def _container(container: Mapping[str, Any], where: str) -> _Resources:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}

    def amount(values: Mapping[str, Any], resource: str, parse: Any, section: str) -> int | None:
        if resource not in values:
            return None
        try:
            return int(parse(values[resource]))
        except ValueError as exc:
            raise SnapshotError(f"{where}.resources.{section}.{resource}: {exc}") from None

    def both(resource: str, parse: Any) -> tuple[int, int | None]:
        limit = amount(limits, resource, parse, "limits")
        request = amount(requests, resource, parse, "requests")
        return (limit or 0) if request is None else request, limit  # request defaults to limit

    cpu, cpu_limit = both("cpu", parse_cpu_millicores)
    memory, memory_limit = both("memory", parse_memory_bytes)
    gpu, _ = both(GPU, lambda text: int(parse_quantity(text)))
    return _Resources(cpu, memory, gpu, cpu_limit, memory_limit)


def _pod_entry(deployment: Mapping[str, Any], label: str, notes: list[str]) -> Obj:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        raise SnapshotError(f"{label}: spec.template.spec.containers: none")
    app = [
        _container(c, f"{label}: spec.template.spec.containers[{i}]")
        for i, c in enumerate(containers)
    ]
    sidecars: list[_Resources] = []
    peak = _Resources(0, 0, 0, None, None)  # the largest regular init container + sidecars
    for i, init in enumerate(spec.get("initContainers") or []):
        resources = _container(init, f"{label}: spec.template.spec.initContainers[{i}]")
        if init.get("restartPolicy") == "Always":
            sidecars.append(resources)
            continue
        peak = _Resources(
            max(peak.cpu_m, resources.cpu_m + sum(s.cpu_m for s in sidecars)),
            max(peak.memory_b, resources.memory_b + sum(s.memory_b for s in sidecars)),
            max(peak.gpu, resources.gpu + sum(s.gpu for s in sidecars)),
            None,
            None,
        )
    running = app + sidecars
    cpu = max(sum(r.cpu_m for r in running), peak.cpu_m)
    memory = max(sum(r.memory_b for r in running), peak.memory_b)
    gpu = max(sum(r.gpu for r in running), peak.gpu)
    pod: Obj = {"cpu_request": format_cpu_millicores(cpu)}
    cpu_limits = [r.cpu_limit_m for r in running]
    if all(limit is not None for limit in cpu_limits):
        pod["cpu_limit"] = format_cpu_millicores(sum(lim or 0 for lim in cpu_limits))
    pod["memory_request"] = format_memory_bytes(memory)
    memory_limits = [r.memory_limit_b for r in running]
    if all(limit is not None for limit in memory_limits):
        pod["memory_limit"] = format_memory_bytes(sum(lim or 0 for lim in memory_limits))
    for key, request, parse in (
        ("cpu", "cpu_request", parse_cpu_millicores),
        ("memory", "memory_request", parse_memory_bytes),
    ):
        limit = pod.get(f"{key}_limit")
        if limit is not None and parse(limit) < parse(pod[request]):
            del pod[f"{key}_limit"]
            notes.append(
                f"{label}: an init container requests more {key} than the containers' "
                f"limits add up to; {key}_limit left out"
            )
    if gpu:
        pod["gpu"] = gpu
    return pod | _placement(spec, label, notes)


def _placement(spec: Mapping[str, Any], label: str, notes: list[str]) -> Obj:
    """The pod's tolerations, nodeSelector and required node affinity, as the scenario
    writes them (``tolerationSeconds``, preferred and pod affinity are not simulated:
    left out, with a note)."""
    out: Obj = {}
    tolerations = []
    for toleration in spec.get("tolerations") or []:
        if not isinstance(toleration, Mapping):
            continue
        kept = {
            k: toleration[k]
            for k in ("key", "operator", "value", "effect")
            if toleration.get(k) not in (None, "")
        }
        tolerations.append(kept)
    if tolerations:
        out["tolerations"] = tolerations
    selector = spec.get("nodeSelector") or {}
    if selector:
        out["node_selector"] = {str(k): str(v) for k, v in selector.items()}
    affinity = spec.get("affinity") or {}
    node = affinity.get("nodeAffinity") or {}
    required = (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    terms = [
        {"matchExpressions": term["matchExpressions"]}
        for term in required
        if isinstance(term, Mapping) and term.get("matchExpressions")
    ]
    if terms:
        out["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    dropped = [k for k in ("podAffinity", "podAntiAffinity") if affinity.get(k)]
    if node.get("preferredDuringSchedulingIgnoredDuringExecution"):
        dropped.append("preferred node affinity")
    if any(isinstance(t, Mapping) and t.get("matchFields") for t in required):
        dropped.append("matchFields")
    if dropped:
        notes.append(f"{label}: {', '.join(dropped)} not simulated, left out")
    return out


def _targets(hpa: Mapping[str, Any], deployment: str) -> bool:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return ref.get("kind") == "Deployment" and ref.get("name") == deployment


def _unsimulated_metrics(spec: Mapping[str, Any], app_container: str) -> list[str]:
    """The HPA's metrics capsim cannot simulate: anything but cpu and memory, as a
    ``Resource`` metric or as a ``ContainerResource`` metric of the app (first) container
    (the model has no usage figure for sidecars)."""
    found = []
    for metric in spec.get("metrics") or []:
        kind = str(metric.get("type", "?"))
        source = metric.get(kind[:1].lower() + kind[1:]) or {}
        name = source.get("name") or (source.get("metric") or {}).get("name") or "?"
        if kind == "ContainerResource" and name in SIMULATED_METRICS:
            container = str(source.get("container", "?"))
            if container != app_container:
                found.append(f"ContainerResource {name} of container {container}")
        elif kind != "Resource" or name not in SIMULATED_METRICS:
            found.append(f"{kind} {name}")
    return found


def _pod_containers(deployment: Mapping[str, Any]) -> list[Obj]:
    """The Deployment's containers by name with their requests, for a ``ContainerResource``
    metric (which divides the container's usage by that container's request)."""
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    out: list[Obj] = []
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        entry: Obj = {"name": str(container.get("name", ""))}
        if "cpu" in requests:
            entry["cpu_request"] = format_cpu_millicores(parse_cpu_millicores(requests["cpu"]))
        if "memory" in requests:
            entry["memory_request"] = format_memory_bytes(parse_memory_bytes(requests["memory"]))
        out.append(entry)
    return out


# --- the scenario ----------------------------------------------------------------------


def snapshot_scenario(state: ClusterState) -> Snapshot:
    """The scenario for ``state`` (see the module doc), checked by loading it.

    Raises :class:`SnapshotError` naming the object and field when the cluster's objects
    cannot make a valid scenario (a node without capacity, a pod that fits no node, …).
    """
    ns = state.namespace
    notes: list[str] = []
    comments: dict[YamlPath, Comment] = {}
    pools_path: YamlPath = ("platforms", PLATFORM, "node_pools")
    taken: set[str] = set()
    node_pools: list[Obj] = []
    for index, pool in enumerate(_pools(state.nodes, notes)):
        name = _unique(
            DEFAULT_POOL if pool.instance is None else dns_label(pool.instance, DEFAULT_POOL),
            taken,
        )
        node_pools.append(_pool_entry(pool, name, notes))
        what = f"one {pool.instance} node" if pool.instance else "one node"
        shown = ", ".join(n.name for n in pool.nodes[:5])
        more = f" and {len(pool.nodes) - 5} more" if len(pool.nodes) > 5 else ""
        comments[(*pools_path, index)] = Comment((f"{len(pool.nodes)} node(s): {shown}{more}",))
        comments[(*pools_path, index, "reserved")] = Comment(after="capacity − allocatable")
        comments[(*pools_path, index, "price_per_hour")] = Comment(
            after=f"PLACEHOLDER: what {what} costs per hour"
        )
        comments[(*pools_path, index, "min_nodes")] = Comment(after="the node count now")
        comments[(*pools_path, index, "max_nodes")] = Comment(after="the node count now")
    comments[pools_path] = Comment(
        (
            "One pool per instance type (label node.kubernetes.io/instance-type), sized from",
            "the nodes' status.capacity. min_nodes = max_nodes = the node count now: the",
            "cluster does not tell the cluster autoscaler's bounds, so this pool neither",
            "grows nor shrinks. Set the real bounds to let it.",
        )
    )

    workloads: list[Obj] = []
    platform_workloads: dict[str, Obj] = {}
    names: set[str] = set()
    hpa_count = 0
    for index, deployment in enumerate(state.deployments):
        source_name = _name(deployment)
        label = f"Deployment {ns}/{source_name}"
        name = _unique(dns_label(source_name, "service"), names)
        workloads.append(
            {
                "kind": "service",
                "name": name,
                "load": {"type": "constant", "rate": PLACEHOLDER_RATE},
                "cpu_ms_per_request": PLACEHOLDER_CPU_MS,
            }
        )
        here: YamlPath = ("workloads", index)
        comments[here] = Comment(
            (
                f"{label}. PLACEHOLDER load and cpu_ms_per_request: the cluster does not know",
                "them. Record the real load, then point load at the trace:",
                f"  capsim live prometheus --url <prometheus> --namespace {ns} "
                f"--deployment {source_name} \\",
                f"    --rate-query '<requests per second>' --out {name}.csv",
                f"  load: {{type: trace, path: {name}.csv, column: requests_per_s}}",
                "and set cpu_ms_per_request to 1000 × cpu_cores / requests_per_s of that trace.",
            )
        )
        comments[(*here, "load")] = Comment(after="PLACEHOLDER")
        comments[(*here, "cpu_ms_per_request")] = Comment(after="PLACEHOLDER")
        if name != source_name:
            comments[(*here, "name")] = Comment(after=f"Deployment {source_name}")
        config: Obj = {"pod": _pod_entry(deployment, label, notes)}
        config_path: YamlPath = ("platforms", PLATFORM, "workloads", name)
        comments[(*config_path, "pod")] = Comment(
            (
                f"The pod of {label}: its containers' requests summed; a limit only when",
                "every container sets one.",
            )
        )
        hpas = [h for h in state.hpas if _targets(h, source_name)]
        if hpas:
            hpa = hpas[0]
            hpa_count += 1
            spec = {k: v for k, v in (hpa.get("spec") or {}).items() if k != "scaleTargetRef"}
            config["hpa"] = spec
            comments[(*config_path, "hpa")] = Comment(
                (f"HorizontalPodAutoscaler {ns}/{_name(hpa)}: its spec, without scaleTargetRef.",)
            )
            if len(hpas) > 1:
                others = ", ".join(_name(h) for h in hpas[1:])
                notes.append(
                    f"{label} is the target of {len(hpas)} HPAs (they fight over its replicas); "
                    f"took {_name(hpa)}, left out {others}"
                )
            containers = _pod_containers(deployment)
            if any(m.get("type") == "ContainerResource" for m in spec.get("metrics") or []):
                config["pod"]["containers"] = containers
            unsimulated = _unsimulated_metrics(spec, containers[0]["name"])
            if unsimulated:
                notes.append(
                    f"HPA {ns}/{_name(hpa)} scales on {', '.join(unsimulated)}: capsim run "
                    "simulates only cpu and memory (Resource, or ContainerResource of the "
                    "first container) and will refuse it until they are replaced"
                )
        else:
            replicas = (deployment.get("spec") or {}).get("replicas")
            config["replicas"] = 1 if replicas is None else int(replicas)
            comments[(*config_path, "replicas")] = Comment(
                after=f"spec.replicas of {label}; no HPA scales it"
            )
        platform_workloads[name] = config
    if state.deployment is None:
        targets = {_name(d) for d in state.deployments}
        for hpa in state.hpas:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if not (ref.get("kind") == "Deployment" and ref.get("name") in targets):
                notes.append(
                    f"HPA {ns}/{_name(hpa)} scales {ref.get('kind', '?')}/{ref.get('name', '?')}, "
                    "not a Deployment of the namespace: left out"
                )

    scope = ns if state.deployment is None else f"{ns}-{state.deployment}"
    scenario_name = dns_label(scope, "snapshot")
    node_count = sum(p["min_nodes"] for p in node_pools)
    description = (
        f"Snapshot of namespace {ns}: {len(workloads)} Deployment(s), "
        f"{hpa_count} with an HPA, on {node_count} node(s) in {len(node_pools)} pool(s). "
        "Loads, CPU per request and prices are placeholders."
    )
    scenario: Obj = {
        "name": scenario_name,
        "description": description,
        "duration": PLACEHOLDER_DURATION,
        "workloads": workloads,
        "platforms": {
            PLATFORM: {
                "kind": "kubernetes",
                "node_pools": node_pools,
                "workloads": platform_workloads,
            }
        },
    }
    comments[("duration",)] = Comment(
        after="PLACEHOLDER: a short first run; set it to the length of your load trace"
    )
    placeholders = ", ".join(w["name"] for w in workloads)
    first = state.deployments[0]
    pool_names = ", ".join(p["name"] for p in node_pools)
    notes[:0] = [
        f"price_per_hour is a placeholder (0) in node pool(s) {pool_names}: set what one node "
        "of each costs per hour",
        f"load and cpu_ms_per_request are placeholders (a constant {PLACEHOLDER_RATE} request/s "
        f"at {PLACEHOLDER_CPU_MS} ms) for {placeholders}: record the real load with `capsim live "
        f"prometheus --url URL --namespace {ns} --deployment {_name(first)} --rate-query QUERY "
        f"--out {workloads[0]['name']}.csv` and point load at it ({{type: trace, path: "
        f"{workloads[0]['name']}.csv, column: requests_per_s}})",
        "min_nodes = max_nodes = the node count now in every pool: widen them to let the "
        "cluster autoscaler act",
    ]
    header = (
        f"capsim live snapshot of namespace {ns}"
        + (f", Deployment {state.deployment}" if state.deployment else "")
        + f" on {state.server}.",
        "Node pools, pod requests and HPAs are the cluster's; what it cannot know is marked",
        "PLACEHOLDER below (prices, load, CPU per request, duration): set those before",
        "trusting a result.",
    )
    summary = (
        f"{len(workloads)} workload(s) ("
        + ", ".join(
            f"{w}: " + ("HPA" if "hpa" in c else f"{c['replicas']} replicas")
            for w, c in platform_workloads.items()
        )
        + f"), {len(node_pools)} node pool(s) ("
        + ", ".join(f"{p['name']}: {p['min_nodes']} node(s)" for p in node_pools)
        + ")"
    )
    snapshot = Snapshot(scenario, comments, header, tuple(notes), summary)
    _check(snapshot, ns)
    return snapshot


def _check(snapshot: Snapshot, namespace: str) -> None:
    """The snapshot must load as a scenario (placeholders need no files)."""
    from capsim.scenario import ScenarioError, parse_scenario

    try:
        parse_scenario(snapshot.scenario, where=f"snapshot of {namespace}", base_dir=Path("."))
    except ScenarioError as exc:
        raise SnapshotError(f"the cluster does not make a valid scenario: {exc}") from None


def write_snapshot(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path`` all at once (a temporary file, then a rename). An existing
    file is kept unless ``force`` (it may hold the user's edits of the placeholders):
    :func:`capsim.results.files.check_output_file`, the rule of every single-file output."""
    check_output_file(path, "--out", force=force)
    replace_file(path, text)


# --- YAML with comments ----------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")
_NUMBER_LIKE = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_FLOW_MAX = 60


def _scalar(value: Any) -> str:
    """One scalar as YAML text, safe inside flow collections and for YAML 1.1 and 1.2."""
    if isinstance(value, str):
        if (
            _PLAIN.fullmatch(value)
            and not _NUMBER_LIKE.fullmatch(value)
            and yaml.safe_load(value) == value
        ):
            return value
        return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    if value is None or isinstance(value, bool | int | float):
        text: str = yaml.safe_dump(value, default_flow_style=True)
        return text.removesuffix("\n...\n").strip()
    raise TypeError(f"not a YAML scalar: {value!r}")


def _flow(value: Any) -> str | None:
    """A scalar, an empty collection, or a short collection of scalars on one line."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        if len(value) <= 4 and not any(isinstance(v, dict | list) for v in value.values()):
            text = "{" + ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items()) + "}"
            return text if len(text) <= _FLOW_MAX else None
        return None
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(v, dict | list) for v in value):
            text = "[" + ", ".join(_scalar(v) for v in value) + "]"
            return text if len(text) <= _FLOW_MAX else None
        return None
    return _scalar(value)


def _render(
    value: Any, path: YamlPath, indent: int, comments: Mapping[YamlPath, Comment], out: list[str]
) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, key)
            note = comments.get(here, Comment())
            out.extend(f"{pad}# {line}" if line else f"{pad}#" for line in note.before)
            tail = f"  # {note.after}" if note.after else ""
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}{_scalar(key)}: {flow}{tail}")
            else:
                out.append(f"{pad}{_scalar(key)}:{tail}")
                _render(item, here, indent + 2, comments, out)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            here = (*path, index)
            note = comments.get(here, Comment())
            out.extend(f"{pad}# {line}" if line else f"{pad}#" for line in note.before)
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}- {flow}")
                continue
            if not isinstance(item, dict):
                raise TypeError(f"{here}: a list inside a list is not rendered")
            lines: list[str] = []
            _render(item, here, indent + 2, comments, lines)
            first = next(i for i, line in enumerate(lines) if not line.lstrip().startswith("#"))
            lines[first] = f"{pad}- {lines[first][indent + 2 :]}"
            out.extend(lines)
        return
    raise TypeError(f"{path}: expected a mapping or a list, got {value!r}")
