"""A loopback stand-in for the Kubernetes API server, for tests of ``capsim deploy apply``
and of ``capsim live metrics-server`` / ``capsim live snapshot``.

No real API server can run where the tests run, so they point the official ``kubernetes``
client at this one through :meth:`ApiServer.write_kubeconfig`. It implements only the parts
of the API-server contract capsim's adapters use, for six namespaced kinds (Service,
Deployment, PodDisruptionBudget, HorizontalPodAutoscaler, Ingress, Job): bearer-token auth, GET
of an object, GET of a collection with ``labelSelector``, and server-side apply -- PATCH
with ``Content-Type: application/apply-patch+yaml``, ``fieldManager``, ``force``,
``dryRun=All`` (https://kubernetes.io/docs/reference/using-api/server-side-apply/,
https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run). Every request is
recorded in :attr:`ApiServer.requests`. Tests import it as ``from kube_apiserver import
ApiServer``.

Two more read-only parts, for live mode:

* **Nodes** (cluster-scoped ``v1`` Node): ``GET /api/v1/nodes`` (with ``labelSelector``) and
  ``GET /api/v1/nodes/{name}``; stored with :meth:`ApiServer.seed` (``kind: Node``, no
  namespace). A PATCH answers 405; a 403 from :meth:`ApiServer.forbid` ends ``at the cluster
  scope`` as the real message does.
* **metrics.k8s.io** (what metrics-server serves through the aggregation layer):
  ``GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods`` with ``labelSelector`` answers
  ``{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
  "items": [...]}`` with the items last given to :meth:`ApiServer.set_pod_metrics` (a test
  changes them between samples, so pods appear and disappear). Items are stored as given
  (``metadata`` with name, namespace, labels, creationTimestamp; ``timestamp``, ``window``,
  ``containers[].usage.{cpu,memory}``), in the order given. Nothing else of the group is
  served (no single PodMetrics, no NodeMetrics: 404). :meth:`ApiServer.set_metrics_server`
  switches the group to ``"absent"`` -- every path under ``/apis/metrics.k8s.io`` answers
  404 ``the server could not find the requested resource``, as on a cluster without
  metrics-server -- or ``"unavailable"`` -- 503 with the plain-text body ``service
  unavailable`` that kube-aggregator's ``proxyError`` (``http.Error``) sends while the
  APIService is registered but its backend is down.

Answers copy the real server (k8s.io/apimachinery, k8s.io/apiserver):

* 401 ``NewUnauthorized("Unauthorized")`` (anonymous auth taken to be off).
* 403 ``NewForbidden`` around ``responsewriters.forbiddenMessage``: ``deployments.apps
  "web" is forbidden: User "u" cannot patch resource "deployments" in API group "apps" in
  the namespace "shop"`` (a list names no object; the core group prints as ``""``).
* 404 ``NewNotFound``: ``deployments.apps "web" not found``, details {name, group, kind:
  resource}; an unknown path: ``the server could not find the requested resource``.
* 409 ``managedfields/internal/conflict.go`` ``NewConflictError``: ``Apply failed with 1
  conflict: conflict with "helm" using apps/v1: .spec.replicas``; with N > 1: ``Apply
  failed with N conflicts: conflicts with "m" using apps/v1:`` and a ``- <path>`` line per
  field, managers sorted. ``using <apiVersion>`` is printed for ``Update`` managers only,
  an ``Apply`` manager's identifier has no apiVersion (``printManager``,
  ``BuildManagerIdentifier``): ``conflict with "other-applier": .spec.replicas``.
* 422 ``NewInvalid``: ``Deployment.apps "web" is invalid: <field>: <message>``. A missing
  ``fieldManager`` is 422 too (``ValidatePatchOptions``, not 400): ``PatchOptions.meta.k8s.io
  "" is invalid: fieldManager: Required value: is required for apply patch``; so is a
  ``dryRun`` other than ``All`` (``ValidateDryRun``).
* 400 ``Incorrect version specified in apply patch. Specified patch version: x, expected:
  apps/v1``; ``the name of the object (x) does not match the name on the URL (web)``
  (``checkName``); the same for the namespace; ``metadata.managedFields must be nil``.
* 415 ``the body of the request was in an unknown format - accepted media types include:``
  -- here only the apply patch type.
* ``force`` is read like ``Convert_Slice_string_To_Pointer_bool``: absent, ``0`` or
  ``false`` (any case) is false; anything else, even empty, is true.

Server-side apply: a field with a different value owned by another manager conflicts unless
forced; forcing takes the field from the other managers; equal values are shared; a field
the applier stops applying is removed unless another manager owns it (with the maps it
leaves empty, as ``omitempty`` drops them; no re-defaulting); ``managedFields`` is kept in
the real FieldsV1 form. A dry run answers what would be stored and stores nothing (a
dry-run create has no resourceVersion). A no-op apply writes nothing and keeps the
resourceVersion; every real write takes the next value of one server-wide counter.

**Namespaces** (``v1`` Namespace, cluster-scoped): a new server has ``default``,
``kube-node-lease``, ``kube-public`` and ``kube-system`` (``ApiServer(namespaces=...)``);
:meth:`ApiServer.create_namespace` adds one as test setup, ``POST /api/v1/namespaces``
(409 ``AlreadyExists``, 422 for a name that is not a DNS-1123 label), a server-side apply
of a Namespace and ``DELETE /api/v1/namespaces/{name}`` (answered ``Terminating``; here the
namespace and its objects go at once) change them through the API. Applying an object into
a namespace that does not exist answers 404 ``namespaces "x" not found`` (details name and
``kind: namespaces``), on a dry run too, as the NamespaceLifecycle admission plugin does;
a GET there is the object's own 404 and a list is empty, as on a real server. A seeded
object's namespace is created with it.

**Merge keys**: server-side apply merges the lists Kubernetes merges by key
(``+listType=map``): a pod's ``containers``, ``initContainers``, ``ephemeralContainers``,
``volumes``, ``imagePullSecrets`` (``name``), ``hostAliases`` (``ip``),
``topologySpreadConstraints`` (``topologyKey``, ``whenUnsatisfiable``), ``schedulingGates``,
``resourceClaims``; a container's ``ports`` (``containerPort``, ``protocol`` -- TCP when
not given), ``env`` (``name``), ``volumeMounts`` (``mountPath``), ``volumeDevices``
(``devicePath``); a Service's ``ports`` (``port``, ``protocol``); ``ownerReferences``
(``uid``). Every other list is atomic (``tolerations``, ``args``, an HPA's ``metrics``, an
Ingress's ``rules``), and so are label selectors (Deployment, Job, PDB: ``+structType=atomic``),
a Service's ``selector`` and a pod's ``nodeSelector`` (``+mapType=atomic``). managedFields
use the real FieldsV1 tokens (``k:{"name":"web"}`` with ``.`` for the item itself), and
conflicts name fields as ``fieldpath.Path.String()`` does:
``.spec.template.spec.containers[name="web"].image``. A keyed item without its key, or a
key given twice, is a 400. Merged lists keep the live items in their order, each merged with
the applied item of the same key, then the new applied items.

**Immutable fields** (update validation, on a dry run too): a Deployment's or Job's
``spec.selector``, a Job's ``spec.template`` (except, while it is suspended and has never
started, its labels, annotations, nodeSelector, tolerations, schedulingGates and node
affinity), ``spec.completionMode`` and ``spec.completions`` (Indexed Jobs may change it in
tandem with ``parallelism``), a Service's cluster IPs once set (``spec.clusterIPs[0]:
Invalid value: []string{"10.96.0.9"}: may not change once set``; an omitted or empty
``clusterIP`` keeps the live one). 422 ``Invalid`` with ``<Kind>.<group> "name" is invalid:
<field>: Invalid value: <Go %#v of the new value>: field is immutable`` and one cause per
field. A PodDisruptionBudget's selector is mutable (since Kubernetes 1.15).

:attr:`ApiServer.writes` lists every request that changed what is stored (not dry runs,
not no-op applies, not seeds or ``create_namespace``).

Simplified on purpose:

* Ownership is tracked on leaves (scalars, empty maps, atomic lists and maps) and keyed
  list items; maps themselves are never owned (no ``.`` on a map).
* A conflict is another manager's leaf whose value the merge would change; causes are sorted
  by manager then path (the real order is unspecified).
* Applied nulls are dropped, ``status`` is ignored, a resourceVersion in the applied object is
  not checked, and a wrong ``kind`` gets stand-in wording.
* The only defaulting is a Service's ``spec.clusterIP`` ``10.96.0.N`` (and ``clusterIPs``),
  owned by nobody.
  ``generation`` starts at 1 and grows when anything outside metadata and status changes;
  Services have none, as on a real server. uids and IPs come from counters, every timestamp
  is ``2026-01-01T00:00:00Z``. List items carry no kind/apiVersion, as in real typed lists.
* Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``; set-based ones answer 400.
* A Job's template in a 422 is shown as ``core.PodTemplateSpec{...}`` (the real message
  prints the whole Go struct); Jobs get no generated selector.
* Nothing else: no create/update/delete/watch except of Namespaces, no subresources or other
  patch types (405/415);
  no cluster-wide lists of namespaced kinds (``/apis/apps/v1/deployments`` is a 404 here).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

FIXED_TIME = "2026-01-01T00:00:00Z"
APPLY_PATCH = "application/apply-patch+yaml"
DEFAULT_TOKEN = "capsim-test-token"
Obj = dict[str, Any]
FieldPath = tuple[str, ...]
_MISSING = object()
# Metadata the server sets, never owned by a manager (managedfields/internal/stripmeta.go).
_SERVER_META = {"name", "namespace", "uid", "resourceVersion", "generation", "managedFields"}
_SERVER_META |= {"creationTimestamp", "selfLink", "deletionTimestamp"}
_META_ORDER = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp")
_PATH = re.compile(r"^(/api/v1|/apis/[^/]+/[^/]+)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?$")
_CLUSTER_PATH = re.compile(r"^(/api/v1|/apis/[^/]+/[^/]+)/([^/]+)(?:/([^/]+))?$")
METRICS_GROUP = "/apis/metrics.k8s.io"
_POD_METRICS_PATH = re.compile(r"^/apis/metrics\.k8s\.io/v1beta1/namespaces/([^/]+)/pods$")
METRICS_SERVER_STATES = ("running", "absent", "unavailable")


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    group: str  # "" for the core group
    api_version: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        return f"/apis/{self.api_version}" if self.group else "/api/v1"


RESOURCES = {
    r.plural: r
    for r in (
        Resource("Service", "services", "", "v1"),
        Resource("Deployment", "deployments", "apps", "apps/v1"),
        Resource("PodDisruptionBudget", "poddisruptionbudgets", "policy", "policy/v1"),
        Resource(
            "HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling", "autoscaling/v2"
        ),
        Resource("Ingress", "ingresses", "networking.k8s.io", "networking.k8s.io/v1"),
        Resource("Job", "jobs", "batch", "batch/v1"),
        Resource("Node", "nodes", "", "v1", namespaced=False),
        Resource("Namespace", "namespaces", "", "v1", namespaced=False),
    )
}
#: The namespaces a new cluster has.
INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


@dataclass(frozen=True)
class Request:
    """One request as received: ``path`` without the query, ``query`` from ``parse_qs``."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any  # parsed YAML (JSON is YAML); None when empty or unparsable


class _StatusError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None):
        super().__init__(message)
        self.code, self.body = code, status(code, reason, message, details)


def status(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A failure ``Status`` body, fields in metav1.Status order."""
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason}
    body |= {"details": details} if details is not None else {}
    return body | {"code": code}


def _q(text: str) -> str:  # Go's %q, for printable text
    return json.dumps(text, ensure_ascii=False)


def _dotted(name: str, group: str) -> str:  # GroupResource / GroupKind .String()
    return f"{name}.{group}" if group else name


def _details(name: str, group: str, kind: str, **rest: Any) -> Obj:
    """StatusDetails: name and group omitted when empty; kind is the resource or the Kind."""
    return (
        ({"name": name} if name else {})
        | ({"group": group} if group else {})
        | {"kind": kind}
        | rest
    )


def _invalid_option(field: str, reason: str, body: str) -> _StatusError:
    cause = {"reason": reason, "message": body, "field": field}
    details = _details("", "meta.k8s.io", "PatchOptions", causes=[cause])
    message = f'PatchOptions.meta.k8s.io "" is invalid: {field}: {body}'
    return _StatusError(422, "Invalid", message, details)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return copy.deepcopy(value)


# --- the schema: which lists merge by key, which maps are atomic ---------------------------
# A path in the schema is the field names from the object's root, list keys left out.

_POD = ("spec", "template", "spec")
#: PodSpec lists and their merge keys (k8s.io/api/core/v1 +listType=map +listMapKey).
_POD_LISTS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
}
#: Container lists and their merge keys; ``protocol`` defaults to TCP in a port's key.
_CONTAINER_LISTS: dict[str, tuple[str, ...]] = {
    "ports": ("containerPort", "protocol"),
    "env": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "resizePolicy": ("resourceName",),
}
_KEY_DEFAULTS = {"protocol": "TCP"}


def _list_keys(kind: str, names: FieldPath) -> tuple[str, ...] | None:
    """The merge keys of the list at ``names`` in a ``kind``; ``None``: an atomic list."""
    if names == ("metadata", "ownerReferences"):
        return ("uid",)
    if kind == "Service" and names == ("spec", "ports"):
        return ("port", "protocol")
    if kind in ("Deployment", "Job") and names[:3] == _POD:
        rest = names[3:]
        if len(rest) == 1:
            return _POD_LISTS.get(rest[0])
        if len(rest) == 2 and rest[0] in ("containers", "initContainers", "ephemeralContainers"):
            return _CONTAINER_LISTS.get(rest[1])
    return None


def _atomic_map(kind: str, names: FieldPath) -> bool:
    """Maps owned as a whole: label selectors (``+structType=atomic``), a Service's
    selector and a pod's nodeSelector (``+mapType=atomic``)."""
    if names == ("spec", "selector"):
        return kind in ("Deployment", "PodDisruptionBudget", "Job", "Service")
    return kind in ("Deployment", "Job") and names == (*_POD, "nodeSelector")


def _key_token(keys: tuple[str, ...], item: Mapping[str, Any]) -> str:
    """``k:{"name":"web"}``: a keyed list item in FieldsV1 (key fields sorted)."""
    values = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in sorted(keys)}
    return "k:" + json.dumps(values, separators=(",", ":"))


def _check_items(where: FieldPath, keys: tuple[str, ...], items: list[Any]) -> None:
    """Items of a keyed list: maps with every key field, no key twice (else 400, as
    structured-merge-diff refuses to build the typed object)."""
    seen = set()
    for index, item in enumerate(items):
        missing = [k for k in keys if k not in _KEY_DEFAULTS and not isinstance(item, dict)]
        missing += [
            k for k in keys if isinstance(item, dict) and item.get(k, _KEY_DEFAULTS.get(k)) is None
        ]
        if not isinstance(item, dict) or missing:
            message = (
                f".{'.'.join(where)}: element {index}: associative list with keys has an "
                f"element that omits key field {_q(missing[0] if missing else keys[0])} "
                "(and doesn't have default value)"
            )
            raise _StatusError(400, "BadRequest", f"failed to create typed patch object: {message}")
        token = _key_token(keys, item)
        if token in seen:
            message = f".{'.'.join(where)}: duplicate entries for key {_token_str(token)}"
            raise _StatusError(400, "BadRequest", f"failed to create typed patch object: {message}")
        seen.add(token)


def _leaves(
    kind: str, obj: Mapping[str, Any], prefix: FieldPath = (), names: FieldPath = ()
) -> Iterator[FieldPath]:
    """Every owned path of ``obj``: leaves (scalars, atomic lists and maps, empty maps) and
    keyed list items (their own path, ``.`` in FieldsV1, then their fields)."""
    for key, value in obj.items():
        path, sub = (*prefix, f"f:{key}"), (*names, key)
        if isinstance(value, dict) and value and not _atomic_map(kind, sub):
            yield from _leaves(kind, value, path, sub)
        elif isinstance(value, list) and value and (keys := _list_keys(kind, sub)) is not None:
            _check_items(sub, keys, value)
            for item in value:
                item_path = (*path, _key_token(keys, item))
                yield item_path
                yield from _leaves(kind, item, item_path, sub)
        else:
            yield path


def _owned_leaves(kind: str, obj: Mapping[str, Any]) -> set[FieldPath]:
    """The paths setting ``obj`` owns: not kind, apiVersion, status or server metadata."""
    return {
        p
        for p in _leaves(kind, obj)
        if p[0] not in ("f:apiVersion", "f:kind", "f:status")
        and not (p[0] == "f:metadata" and (len(p) == 1 or p[1][2:] in _SERVER_META))
    }


def _ordered(meta: Obj) -> Obj:  # metadata keys in the order a real server prints them
    return {k: meta[k] for k in _META_ORDER if k in meta} | meta


def _find_item(items: Any, token: str) -> tuple[int, Any]:
    """The index and item of a keyed list with that ``k:`` token; (-1, _MISSING) if none."""
    if isinstance(items, list):
        keys = tuple(json.loads(token[2:]))
        for index, item in enumerate(items):
            if isinstance(item, dict) and _key_token(keys, item) == token:
                return index, item
    return -1, _MISSING


def _get(obj: Any, path: FieldPath) -> Any:
    for token in path:
        if token.startswith("k:"):
            obj = _find_item(obj, token)[1]
        elif isinstance(obj, dict) and token[2:] in obj:
            obj = obj[token[2:]]
        else:
            return _MISSING
        if obj is _MISSING:
            return _MISSING
    return obj


def _delete(obj: Obj, path: FieldPath) -> None:
    """Delete a leaf or a list item, then the maps and lists left empty by it (never
    ``metadata``)."""
    parent = _get(obj, path[:-1])
    token = path[-1]
    if token.startswith("k:"):
        index = _find_item(parent, token)[0]
        if index < 0:
            return
        parent.pop(index)
    elif isinstance(parent, dict):
        parent.pop(token[2:], None)
    else:
        return
    if not parent and len(path) > 1 and path[:-1] != ("f:metadata",):
        _delete(obj, path[:-1])


def _merge(kind: str, live: Any, config: Any, names: FieldPath = ()) -> Any:
    """structured-merge-diff's merge of an applied ``config`` into ``live``: maps merge key
    by key, keyed lists item by item (live items in their order, each merged with the
    applied item of the same key, then the new applied items in theirs); scalars, atomic
    lists and atomic maps from the config replace the live ones."""
    if (
        isinstance(config, dict)
        and config
        and isinstance(live, dict)
        and not _atomic_map(kind, names)
    ):
        out = copy.deepcopy(live)
        for key, value in config.items():
            out[key] = _merge(kind, out.get(key, _MISSING), value, (*names, key))
        return out
    keys = _list_keys(kind, names)
    if keys is not None and isinstance(config, list) and config and isinstance(live, list):
        applied = {_key_token(keys, item): item for item in config}
        merged = []
        for item in live:
            token = _key_token(keys, item) if isinstance(item, dict) else ""
            merged.append(
                _merge(kind, item, applied.pop(token), names)
                if token in applied
                else copy.deepcopy(item)
            )
        return merged + [copy.deepcopy(item) for item in applied.values()]
    return copy.deepcopy(config)


def _changed(before: Obj, after: Obj, path: FieldPath) -> bool:
    """Whether applying changes the value another manager owns at ``path``: a leaf's value,
    or a keyed item that disappears (a change inside an item is a change of its leaves)."""
    if path[-1].startswith("k:"):
        return _get(before, path) is not _MISSING and _get(after, path) is _MISSING
    return bool(_get(before, path) != _get(after, path))


def _is_key_field(path: FieldPath) -> bool:
    """A key field of a keyed item (removed only with its item)."""
    return len(path) > 1 and path[-2].startswith("k:") and path[-1][2:] in json.loads(path[-2][2:])


_DNS1123_LABEL = re.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _go_strings(values: Any) -> str:  # Go's %#v of a []string
    if not values:
        return "[]string(nil)" if values is None else "[]string{}"
    return "[]string{" + ", ".join(_q(str(v)) for v in values) + "}"


def _go_selector(selector: Any) -> str:
    """Go's ``%#v`` of a ``v1.LabelSelector``, as ``field.Invalid`` prints the bad value."""
    if not isinstance(selector, dict):
        return "null"
    labels = selector.get("matchLabels")
    shown = (
        "map[string]string(nil)"
        if labels is None
        else "map[string]string{"
        + ", ".join(f"{_q(k)}:{_q(str(v))}" for k, v in sorted(labels.items()))
        + "}"
    )
    expressions = selector.get("matchExpressions")
    requirement = "v1.LabelSelectorRequirement"
    listed = (
        f"[]{requirement}(nil)"
        if expressions is None
        else f"[]{requirement}{{"
        + ", ".join(
            f"{requirement}{{Key:{_q(str(e.get('key', '')))}, "
            f"Operator:{_q(str(e.get('operator', '')))}, Values:{_go_strings(e.get('values'))}}}"
            for e in expressions
        )
        + "}"
    )
    return f"v1.LabelSelector{{MatchLabels:{shown}, MatchExpressions:{listed}}}"


def _go_scalar(value: Any) -> str:
    if value is None or value is _MISSING:
        return "null"
    return _q(value) if isinstance(value, str) else json.dumps(value)


#: A Job's template fields that may change while it is suspended and has never started
#: (mutable scheduling directives, batch/validation.validatePodTemplateUpdate).
_JOB_SCHEDULING = (("spec", "nodeSelector"), ("spec", "tolerations"), ("spec", "schedulingGates"))


def _job_template_changed(live: Obj, merged: Obj) -> bool:
    old = copy.deepcopy((live.get("spec") or {}).get("template") or {})
    new = copy.deepcopy((merged.get("spec") or {}).get("template") or {})
    suspended = (merged.get("spec") or {}).get("suspend") is True
    started = bool((live.get("status") or {}).get("startTime"))
    if suspended and not started:
        for template in (old, new):
            meta = template.get("metadata") or {}
            meta.pop("labels", None)
            meta.pop("annotations", None)
            pod = template.get("spec") or {}
            for _, key in _JOB_SCHEDULING:
                pod.pop(key, None)
            affinity = pod.get("affinity") or {}
            affinity.pop("nodeAffinity", None)
            if "affinity" in pod and not affinity:
                pod.pop("affinity")
    return bool(old != new)


def _immutable_errors(kind: str, live: Obj, merged: Obj) -> list[tuple[str, str]]:
    """(field, error body) for every immutable field the update changes, as the API
    server's update validation reports them (``ValidateImmutableField``: ``Invalid value:
    <new value, Go %#v>: field is immutable``; Service cluster IPs: ``may not change once
    set``). PodDisruptionBudget selectors are mutable since Kubernetes 1.15; HPAs and
    Ingresses have no immutable fields."""
    old_spec, new_spec = live.get("spec") or {}, merged.get("spec") or {}
    errors: list[tuple[str, str]] = []

    def immutable(field: str, shown: str) -> None:
        errors.append((f"spec.{field}", f"Invalid value: {shown}: field is immutable"))

    if kind in ("Deployment", "Job") and old_spec.get("selector") != new_spec.get("selector"):
        immutable("selector", _go_selector(new_spec.get("selector")))
    if kind == "Job":
        old_completions, new_completions = old_spec.get("completions"), new_spec.get("completions")
        if old_completions != new_completions:
            indexed = new_spec.get("completionMode") == "Indexed"
            if not indexed:
                immutable("completions", _go_scalar(new_completions))
            elif new_completions is not None and new_completions != new_spec.get("parallelism"):
                errors.append(
                    (
                        "spec.completions",
                        f"Invalid value: {new_completions}: can only be modified in tandem "
                        "with spec.parallelism",
                    )
                )
        if _job_template_changed(live, merged):
            immutable("template", "core.PodTemplateSpec{...}")  # Go's %#v, abbreviated
        if old_spec.get("completionMode") != new_spec.get("completionMode"):
            immutable("completionMode", _go_scalar(new_spec.get("completionMode")))
    if kind == "Service" and "ExternalName" not in (old_spec.get("type"), new_spec.get("type")):
        old_ips = old_spec.get("clusterIPs") or []
        if old_ips and new_spec.get("clusterIP") in (None, ""):  # patchAllocatedValues
            new_spec["clusterIP"] = old_spec.get("clusterIP")
        if (
            new_spec.get("clusterIP") != old_spec.get("clusterIP")
            and new_spec.get("clusterIPs") == old_ips
        ):  # normalizeClusterIPs: the singular field changed alone
            new_spec["clusterIPs"] = [new_spec["clusterIP"]]
        new_ips = new_spec.get("clusterIPs") or []
        if len(new_ips) == len(old_ips):
            errors += [
                (
                    f"spec.clusterIPs[{i}]",
                    f"Invalid value: {_go_strings(new_ips)}: may not change once set",
                )
                for i, ip in enumerate(old_ips)
                if ip != new_ips[i]
            ]
        elif old_ips and (not new_ips or new_ips[0] != old_ips[0]):
            errors.append(
                (
                    "spec.clusterIPs[0]",
                    f"Invalid value: {_go_strings(new_ips)}: may not change once set",
                )
            )
    return errors


def _spec(obj: Mapping[str, Any]) -> Obj:  # what a change to bumps metadata.generation
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _to_fields(paths: Iterable[FieldPath]) -> Obj:
    """FieldsV1: a tree of tokens; a path that is owned and also has owned children (a
    keyed list item) gets ``.``."""
    tree: Obj = {}
    owned = set(paths)
    for path in sorted(owned):
        node = tree
        for depth, token in enumerate(path):
            node = node.setdefault(token, {})
            if path[: depth + 1] in owned and depth + 1 < len(path):
                node["."] = {}
    for path in owned:  # an item listed after its fields still gets "."
        node = tree
        for token in path:
            node = node[token]
        if node and "." not in node:
            node["."] = {}
    return tree


def _from_fields(tree: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for token, sub in tree.items():
        if token == ".":
            out.add(prefix)
        elif token.startswith(("f:", "k:")):  # "v:" and "i:" are never written here
            out |= _from_fields(sub, (*prefix, token)) if sub else {(*prefix, token)}
    return out


def _entry(manager: str, operation: str, api_version: str, paths: Iterable[FieldPath]) -> Obj:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version}
    return entry | {"time": FIXED_TIME, "fieldsType": "FieldsV1", "fieldsV1": _to_fields(paths)}


def _token_str(token: str) -> str:  # fieldpath.PathElement.String()
    if token.startswith("f:"):
        return f".{token[2:]}"
    key = json.loads(token[2:])
    return "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"


def _path_str(path: FieldPath) -> str:  # fieldpath.Path.String()
    return "".join(map(_token_str, path))


def _manager_id(entry: Mapping[str, Any]) -> str:  # internal.BuildManagerIdentifier
    ident = {"manager": entry["manager"], "operation": entry["operation"]}
    if entry["operation"] != "Apply":
        ident["apiVersion"] = entry["apiVersion"]
    return json.dumps(ident, separators=(",", ":"))


def _manager_label(entry: Mapping[str, Any]) -> str:  # internal.printManager
    label = _q(entry["manager"])
    return f"{label} using {entry['apiVersion']}" if entry["operation"] == "Update" else label


def _conflict(conflicts: list[tuple[Obj, FieldPath]]) -> _StatusError:
    """409 as ``internal.NewConflictError`` and ``apierrors.NewApplyConflict`` build it."""
    conflicts = sorted(conflicts, key=lambda c: (_manager_id(c[0]), c[1]))
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {_manager_label(e)}"}
        | {"field": _path_str(p)}
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        message = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    else:
        lines: list[str] = []
        for i, (entry, path) in enumerate(conflicts):
            if i == 0 or _manager_id(conflicts[i - 1][0]) != _manager_id(entry):
                lines.append(f"conflicts with {_manager_label(entry)}:")
            lines.append(f"- {_path_str(path)}")
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return _StatusError(409, "Conflict", message, {"causes": causes})


def _selects(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality (``k=v``, ``k==v``, ``k!=v``) and existence (``k``, ``!k``) requirements."""
    for req in filter(None, (part.strip() for part in selector.split(","))):
        match = re.fullmatch(r"(!?)\s*([^!=\s()]+)\s*(?:(!=|==|=)\s*([^!=\s()]*))?", req)
        if match is None or (match[1] and match[3]):  # set-based selectors are not served
            raise _StatusError(400, "BadRequest", f"unable to parse requirement: {req}")
        negated, key, op, value = match[1], match[2], match[3], match[4] or ""
        if op is None:
            ok = (key in labels) != bool(negated)
        else:
            ok = (labels.get(key) == value) != (op == "!=")
        if not ok:
            return False
    return True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    api: ApiServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {key.lower(): value for key, value in self.headers.items()}
        code, body = self.server.api.handle(self.command, self.path, headers, raw)
        text = isinstance(body, str)  # a plain-text answer, as Go's http.Error writes it
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header(
            "Content-Type", "text/plain; charset=utf-8" if text else "application/json"
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


for _method in ("GET", "PATCH", "POST", "PUT", "DELETE"):
    setattr(_Handler, f"do_{_method}", _Handler._serve)


class ApiServer:
    """The stand-in on ``127.0.0.1:<free port>``, serving while used as a context manager."""

    def __init__(
        self, *, token: str = DEFAULT_TOKEN, namespaces: Iterable[str] = INITIAL_NAMESPACES
    ) -> None:
        self.token = token
        self.requests: list[Request] = []
        #: Requests that changed what is stored (not dry runs, not no-op applies, not seeds).
        self.writes: list[Request] = []
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._forbidden: dict[tuple[str, str], str] = {}
        self._rejections: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
        self._pod_metrics: dict[str, list[Obj]] = {}
        self._metrics_server = "running"
        self._rv = self._uids = self._ips = self._namespace_uids = 0
        self._lock = threading.Lock()
        for namespace in namespaces:
            self.create_namespace(namespace)
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.api = self
        serve = {"poll_interval": 0.02}  # shutdown() waits up to one poll interval
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs=serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        token: str = DEFAULT_TOKEN,
        namespace: str = "default",
        context: str = "standin",
    ) -> Path:
        """Write a kubeconfig whose ``context`` reaches this server with ``token``."""
        where = {"cluster": "standin", "user": "standin", "namespace": namespace}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {"token": token}}],
            "contexts": [{"name": context, "context": where}],
        }
        Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
        return Path(path)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.writes.clear()

    def create_namespace(self, name: str) -> Obj:
        """Store a Namespace, as ``kubectl create namespace`` would before the test starts:
        not a counted write, and with its own uid series (``…-9000-…``), so that it moves
        neither the server's uid, IP nor resourceVersion counters."""
        body: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        with self._lock:
            self._namespace_uids += 1
            meta = body["metadata"]
            meta |= {"uid": f"00000000-0000-4000-9000-{self._namespace_uids:012d}"}
            meta |= {"resourceVersion": "1", "creationTimestamp": FIXED_TIME}
            meta["labels"] = {"kubernetes.io/metadata.name": name}
            entry = _entry("kubectl-create", "Update", "v1", _owned_leaves("Namespace", body))
            meta["managedFields"] = [entry]
            body |= {"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            self._objects[("namespaces", "", name)] = body
            return copy.deepcopy(body)

    @property
    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(n for (plural, _, n) in self._objects if plural == "namespaces")

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return copy.deepcopy(self._objects.get((plural, namespace, name)))

    def set_pod_metrics(self, namespace: str, items: Iterable[Obj]) -> None:
        """From now on ``namespace``'s PodMetrics list answers ``items`` (replacing the last)."""
        with self._lock:
            self._pod_metrics[namespace] = [copy.deepcopy(item) for item in items]

    def set_metrics_server(self, state: str) -> None:
        """``running`` (default), ``absent`` (metrics.k8s.io 404) or ``unavailable`` (503)."""
        assert state in METRICS_SERVER_STATES, state
        with self._lock:
            self._metrics_server = state

    def forbid(
        self, verb: str, plural: str, *, user: str = "system:serviceaccount:ci:deployer"
    ) -> None:
        """From now on ``verb`` (get, list, patch) on ``plural`` answers 403 for ``user``."""
        assert verb in ("get", "list", "patch"), verb
        with self._lock:
            self._forbidden[(verb, RESOURCES[plural].plural)] = user

    def reject(
        self,
        plural: str,
        name: str,
        *,
        field: str,
        message: str,
        cause_reason: str = "FieldValueInvalid",
        dry_run_too: bool = True,
    ) -> None:
        """From now on applying that object answers 422 Invalid; with ``dry_run_too=False``
        only a real write does (an admission failure a dry run does not reproduce)."""
        with self._lock:
            key = (RESOURCES[plural].plural, name)
            self._rejections[key] = (field, message, cause_reason, dry_run_too)

    def seed(self, obj: Obj, *, manager: str, operation: str = "Update") -> Obj:
        """Store a live object; ``manager`` (``operation``) owns every leaf it sets.

        A namespaced object without a namespace goes to ``default``; a Node has none."""
        res = next(r for r in RESOURCES.values() if r.kind == obj["kind"])
        body: Obj = _without_nulls(obj)
        meta = body.setdefault("metadata", {})
        if res.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        entry = _entry(manager, operation, body["apiVersion"], _owned_leaves(res.kind, body))
        if res.namespaced and ("namespaces", "", meta["namespace"]) not in self._objects:
            self.create_namespace(meta["namespace"])  # a seeded object's namespace exists
        with self._lock:
            self._create_meta(res, body)
            meta |= {"managedFields": [entry]}
            self._store(res, body, created=True)
            return copy.deepcopy(body)

    def _create_meta(self, res: Resource, body: Obj) -> None:
        """Server-populated fields of a new object (the counters move only on a write)."""
        body["metadata"] |= {"uid": f"00000000-0000-4000-8000-{self._uids + 1:012d}"}
        body["metadata"] |= {"creationTimestamp": FIXED_TIME}
        if res.plural == "services":
            spec = body.setdefault("spec", {})
            if spec.get("type") != "ExternalName":
                spec.setdefault("clusterIP", f"10.96.0.{self._ips + 1}")
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
        elif res.plural == "namespaces":
            body.setdefault("spec", {"finalizers": ["kubernetes"]})
            body["status"] = {"phase": "Active"}
            labels = body["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = body["metadata"]["name"]
        elif res.namespaced:  # Nodes, like Services, have no generation
            body["metadata"]["generation"] = 1

    def _store(self, res: Resource, body: Obj, *, created: bool) -> None:
        self._rv += 1
        body["metadata"]["resourceVersion"] = str(self._rv)
        body["metadata"] = _ordered(body["metadata"])
        if created:
            self._uids += 1
            self._ips += res.plural == "services"
        namespace = body["metadata"].get("namespace", "")
        self._objects[(res.plural, namespace, body["metadata"]["name"])] = body

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, Obj | str]:
        """Answer one request with (status code, JSON body, or plain text for a ``str``);
        ``headers`` keyed in lower case."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            body, error = (yaml.safe_load(raw) if raw else None), None
        except yaml.YAMLError as exc:
            body, error = None, exc
        with self._lock:
            request = Request(method, split.path, query, headers.get("content-type"), body)
            self.requests.append(request)
            try:
                return self._route(request, headers.get("authorization"), error)
            except _StatusError as failure:
                return failure.code, failure.body

    def _resolve(self, path: str) -> tuple[Resource, str, str]:
        """The resource, namespace (``""`` cluster-scoped) and name (``""`` a list) of a path."""
        match = _PATH.match(path)
        if match is not None:
            res = RESOURCES.get(match.group(3))
            if res is not None and res.namespaced and res.prefix == match.group(1):
                return res, match.group(2), match.group(4) or ""
        match = _CLUSTER_PATH.match(path)
        if match is not None:
            res = RESOURCES.get(match.group(2))
            if res is not None and not res.namespaced and res.prefix == match.group(1):
                return res, "", match.group(3) or ""
        raise _StatusError(404, "NotFound", "the server could not find the requested resource", {})

    def _metrics(self, request: Request) -> tuple[int, Obj | str]:
        """metrics.k8s.io, as metrics-server serves it (or not) through the aggregator."""
        match = _POD_METRICS_PATH.match(request.path)
        if self._metrics_server == "unavailable":
            return 503, "service unavailable\n"
        if self._metrics_server == "absent" or match is None:
            raise _StatusError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        if request.method != "GET":
            message = "the server does not allow this method on the requested resource"
            raise _StatusError(405, "MethodNotAllowed", message, {})
        selector = request.query.get("labelSelector", [""])[0]
        _selects(selector, {})
        items = [
            copy.deepcopy(item)
            for item in self._pod_metrics.get(match.group(1), [])
            if _selects(selector, item.get("metadata", {}).get("labels", {}))
        ]
        head = {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1"}
        return 200, head | {"metadata": {}, "items": items}

    def _route(
        self, request: Request, authorization: str | None, error: Exception | None
    ) -> tuple[int, Obj | str]:
        if authorization != f"Bearer {self.token}":
            raise _StatusError(401, "Unauthorized", "Unauthorized")
        if request.path == METRICS_GROUP or request.path.startswith(f"{METRICS_GROUP}/"):
            return self._metrics(request)
        res, namespace, name = self._resolve(request.path)
        verbs = {"GET": "get" if name else "list", "PATCH": "patch" if name else ""}
        if res.plural == "namespaces":
            verbs |= {"POST": "" if name else "create", "DELETE": "delete" if name else ""}
        writable = res.namespaced or res.plural == "namespaces"
        verb = verbs.get(request.method, "") if writable or request.method == "GET" else ""
        if not verb:
            message = "the server does not allow this method on the requested resource"
            raise _StatusError(405, "MethodNotAllowed", message, {})
        if (user := self._forbidden.get((verb, res.plural))) is not None:
            what = _dotted(res.plural, res.group) + (f" {_q(name)}" if name else "")
            scope = (
                f"in the namespace {_q(namespace)}" if res.namespaced else "at the cluster scope"
            )
            message = (
                f"{what} is forbidden: User {_q(user)} cannot {verb} resource {_q(res.plural)} "
                f"in API group {_q(res.group)} {scope}"
            )
            raise _StatusError(403, "Forbidden", message, _details(name, res.group, res.plural))
        live = self._objects.get((res.plural, namespace, name))
        if verb == "list":
            selector = request.query.get("labelSelector", [""])[0]
            _selects(selector, {})  # a bad selector is a 400 even when nothing is stored
            items = [
                {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("kind", "apiVersion")}
                for (plural, ns, _), obj in sorted(self._objects.items())
                if (plural, ns) == (res.plural, namespace)
                and _selects(selector, obj["metadata"].get("labels", {}))
            ]
            head = {"kind": f"{res.kind}List", "apiVersion": res.api_version}
            return 200, head | {"metadata": {"resourceVersion": str(self._rv)}, "items": items}
        if verb == "patch":
            return self._apply(res, namespace, name, live, request, error)
        if verb == "create":
            return self._create_namespace(request, error)
        if live is None:
            message = f"{_dotted(res.plural, res.group)} {_q(name)} not found"
            raise _StatusError(404, "NotFound", message, _details(name, res.group, res.plural))
        if verb == "delete":
            return self._delete_namespace(name, request)
        return 200, copy.deepcopy(live)

    def _create_namespace(self, request: Request, error: Exception | None) -> tuple[int, Obj]:
        """``POST /api/v1/namespaces`` (``kubectl create namespace``)."""
        body = request.body
        if error is not None or not isinstance(body, dict):
            raise _StatusError(400, "BadRequest", "the body of the request is not a Namespace")
        name = str((body.get("metadata") or {}).get("name") or "")
        if not _DNS1123_LABEL.fullmatch(name) or len(name) > 63:
            message = f"Invalid value: {_q(name)}: a lowercase RFC 1123 label must consist of"
            message += " lower case alphanumeric characters or '-', and must start and end"
            message += " with an alphanumeric character"
            cause = {"reason": "FieldValueInvalid", "message": message, "field": "metadata.name"}
            details = _details(name, "", "Namespace", causes=[cause])
            raise _StatusError(
                422,
                "Invalid",
                f"Namespace {_q(name)} is invalid: metadata.name: {message}",
                details,
            )
        if ("namespaces", "", name) in self._objects:
            message = f"namespaces {_q(name)} already exists"
            raise _StatusError(409, "AlreadyExists", message, _details(name, "", "namespaces"))
        res = RESOURCES["namespaces"]
        stored: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        stored["metadata"] |= {k: v for k, v in body["metadata"].items() if k == "labels"}
        manager = (request.query.get("fieldManager") or ["kubectl-create"])[0]
        self._create_meta(res, stored)
        stored["metadata"]["managedFields"] = [
            _entry(manager, "Update", "v1", _owned_leaves("Namespace", stored))
        ]
        if request.query.get("dryRun"):
            return 201, copy.deepcopy(stored)
        self._store(res, stored, created=True)
        self.writes.append(request)
        return 201, copy.deepcopy(stored)

    def _delete_namespace(self, name: str, request: Request) -> tuple[int, Obj]:
        """``DELETE /api/v1/namespaces/{name}``: the answer is the Namespace ``Terminating``;
        here it and every object in it are gone at once (a real server takes a while)."""
        live = copy.deepcopy(self._objects[("namespaces", "", name)])
        live["status"] = {"phase": "Terminating"}
        if request.query.get("dryRun"):
            return 200, live
        for key in [k for k in self._objects if k[1] == name or k == ("namespaces", "", name)]:
            del self._objects[key]
        self._rv += 1
        self.writes.append(request)
        return 200, live

    def _apply(
        self,
        res: Resource,
        namespace: str,
        name: str,
        live: Obj | None,
        request: Request,
        error: Exception | None,
    ) -> tuple[int, Obj]:
        query, config = request.query, request.body
        if (request.content_type or "").split(";")[0].strip() != APPLY_PATCH:
            message = "the body of the request was in an unknown format - accepted media types"
            raise _StatusError(415, "UnsupportedMediaType", f"{message} include: {APPLY_PATCH}")
        manager = (query.get("fieldManager") or [""])[0]
        if not manager:
            body = "Required value: is required for apply patch"
            raise _invalid_option("fieldManager", "FieldValueRequired", body)
        dry_run = query.get("dryRun", [])
        if any(value != "All" for value in dry_run):
            value = "[]string{" + ", ".join(map(_q, dry_run)) + "}"  # Go's %#v
            body = f'Unsupported value: {value}: supported values: "All"'
            raise _invalid_option("dryRun", "FieldValueNotSupported", body)
        force = query.get("force", ["false"])[0]
        forced = force != "0" and force.lower() != "false"
        if error is not None or not isinstance(config, dict):
            raise _StatusError(
                400, "BadRequest", f"error decoding YAML: {error or 'not an object'}"
            )
        if config.get("apiVersion") != res.api_version:
            message = "Incorrect version specified in apply patch. Specified patch version: "
            message += f"{config.get('apiVersion') or ''}, expected: {res.api_version}"
            raise _StatusError(400, "BadRequest", message)
        meta: Obj = config["metadata"] if isinstance(config.get("metadata"), dict) else {}
        checks: list[tuple[str, Any, str]] = [
            ("kind", config.get("kind"), res.kind)
        ]  # the kind: stand-in wording
        checks += [
            ("name", meta.get("name"), name),
            ("namespace", meta.get("namespace"), namespace),
        ]
        for what, value, on_url in checks:
            if value != on_url and (value is not None or what != "namespace"):
                message = f"the {what} of the object ({value or ''}) does not match the {what}"
                message += f" on the URL ({on_url})"
                raise _StatusError(400, "BadRequest", message)
        if "managedFields" in meta:
            raise _StatusError(400, "BadRequest", "metadata.managedFields must be nil")

        applied_config: Obj = _without_nulls(config)
        applied_config.pop("status", None)
        applied = _owned_leaves(res.kind, applied_config)
        before: Obj = copy.deepcopy(live) if live else {}
        entries: list[Obj] = before.get("metadata", {}).pop("managedFields", [])
        merged = _merge(res.kind, before, applied_config)
        mine = next(
            (e for e in entries if (e["manager"], e["operation"]) == (manager, "Apply")), None
        )
        owned = {id(e): _from_fields(e["fieldsV1"]) for e in entries}
        conflicts = [
            (e, p)
            for e in entries
            if e is not mine
            for p in sorted(owned[id(e)])
            if _changed(before, merged, p)
        ]
        if conflicts and not forced:
            raise _conflict(conflicts)
        for entry, path in conflicts:  # forced: the applier takes these fields over
            owned[id(entry)].discard(path)
        others = set().union(*(owned[id(e)] for e in entries if e is not mine))
        dropped = (owned[id(mine)] if mine else set()) - applied
        for path in sorted(dropped, key=len):  # an item before its own fields
            keep = any(o[: len(path)] == path for o in others) or any(
                a[: len(path)] == path for a in applied
            )
            if not keep and not _is_key_field(path):
                _delete(merged, path)

        mine_new = _entry(manager, "Apply", res.api_version, applied)
        managed = []
        for entry in entries if mine else [*entries, mine_new]:
            if entry is mine or entry is mine_new:
                managed += [mine_new] if applied else []
            elif owned[id(entry)]:
                managed.append(entry | {"fieldsV1": _to_fields(owned[id(entry)])})
        merged["metadata"] |= {"name": name, "namespace": namespace}
        if live is None:
            self._create_meta(res, merged)
        else:
            kept = ("uid", "resourceVersion", "generation", "creationTimestamp")
            merged["metadata"] |= {k: v for k, v in live["metadata"].items() if k in kept}
            if "generation" in merged["metadata"] and _spec(merged) != _spec(live):
                merged["metadata"]["generation"] += 1
        merged["metadata"]["managedFields"] = managed
        merged["metadata"] = _ordered(merged["metadata"])

        if live is not None and (invalid := _immutable_errors(res.kind, live, merged)):
            causes = [
                {"reason": "FieldValueInvalid", "message": body, "field": field}
                for field, body in invalid
            ]
            texts = [f"{field}: {body}" for field, body in invalid]
            shown = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
            message = f"{_dotted(res.kind, res.group)} {_q(name)} is invalid: {shown}"
            raise _StatusError(
                422, "Invalid", message, _details(name, res.group, res.kind, causes=causes)
            )
        if res.namespaced and ("namespaces", "", namespace) not in self._objects:
            # NamespaceLifecycle admission: on a dry run too, as admission runs for both.
            message = f"namespaces {_q(namespace)} not found"
            raise _StatusError(404, "NotFound", message, _details(namespace, "", "namespaces"))
        if (rejection := self._rejections.get((res.plural, name))) and (
            rejection[3] or not dry_run
        ):
            field, message, reason, _ = rejection
            cause = {"reason": reason, "message": message, "field": field}
            details = _details(name, res.group, res.kind, causes=[cause])
            message = f"{_dotted(res.kind, res.group)} {_q(name)} is invalid: {field}: {message}"
            raise _StatusError(422, "Invalid", message, details)
        code = 201 if live is None else 200
        if merged == live or dry_run:  # a no-op or a dry run: nothing written
            return code, copy.deepcopy(merged)
        self._store(res, merged, created=live is None)
        self.writes.append(request)
        return code, copy.deepcopy(merged)
