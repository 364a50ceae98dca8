"""Apply a folder of manifests safely (``capsim deploy apply``).

1. **Dry run, always first**: every object is read live, then server-side applied with
   ``dryRun=All`` under field manager ``capsim``. The server's answer is what the object
   would become; it is compared with the live object field by field (server-managed
   metadata and ``status`` left out), giving *created*, *changed* (each field, old → new)
   or *unchanged*.
2. **Problems** stop everything: conflicts with other field managers (named, with their
   fields; ``--force-conflicts`` takes ownership), validation errors (the server's
   causes), admission denials (a webhook or policy, a quota or LimitRange the object
   exceeds), objects the dry run cannot apply.
   **Warnings** do not: a live Deployment whose ``spec.replicas`` another manager owns
   while an HPA scales it (that manager's next apply resets the scale), or another HPA
   already scaling the same Deployment (two HPAs fight).
3. **Only with ``apply=True``**, and only after a clean dry run, objects are applied for
   real in dependency order (Service, Deployment, PDB, HPA, Ingress, Job). The first failure
   stops the run; the report says exactly what was applied and what was not.

**The manifests or the environment?** Only answers about the objects are problems of the
plan (the command exits 1): the API server's own ``Status`` with 400 BadRequest, 409
Conflict or 422 Invalid, and 403 when admission refused the object itself (a webhook or
ValidatingAdmissionPolicy denied it, a ResourceQuota or LimitRange it exceeds, PodSecurity).
A missing namespace (404 on ``namespaces``) or a changed immutable field is a problem of the
input (exit 2, listed). Everything else says nothing about the manifests and raises
:class:`ClusterRefusedError` at once (exit 2, one line naming the server and the status): 401
(credentials refused), any other 403 (RBAC: the user may not do this), any other 404 (the
kind is not served, or the URL is not the API server's), 405/415/429, every 5xx, and any
answer that is not a Kubernetes ``Status`` (an HTML error page from a proxy, plain text,
a redirect) whatever its code.

The cluster sits behind :class:`~capsim.kube.client.Cluster`; nothing here knows HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from capsim.kube.client import (
    FIELD_MANAGER,
    KINDS,
    ApiError,
    Cluster,
    ClusterUnreachableError,
    kind_info,
)
from capsim.kube.emit import apply_rank
from capsim.scenario.manifests import ManifestError

__all__ = [
    "Change",
    "ClusterRefusedError",
    "ObjectOutcome",
    "Plan",
    "apply_manifests",
    "diff_objects",
    "is_manifest_problem",
    "resolve_namespaces",
]

Status = Literal[
    "created",
    "changed",
    "unchanged",
    "conflict",
    "denied",
    "invalid",
    "failed",
    "no-namespace",
    "immutable",
]
#: The user's input cannot be applied as it is (exit 2): the object's namespace does not
#: exist, or it changes a field the API server never changes in place.
INPUT_STATUSES = ("no-namespace", "immutable")
PROBLEM_STATUSES = ("conflict", "denied", "invalid", "failed", *INPUT_STATUSES)
#: How the API server words a refused change of an immutable field
#: (``apivalidation.ValidateImmutableField``; Service cluster IPs).
_IMMUTABLE = ("field is immutable", "may not change once set")

#: Fields the server owns; they differ between a live object and any apply of it.
_SERVER_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}
)
_SERVER_ANNOTATIONS = frozenset({"deployment.kubernetes.io/revision"})


@dataclass(frozen=True)
class Change:
    """One field of one object: ``old`` → ``new`` (``None``: absent)."""

    path: str
    old: Any
    new: Any

    def __str__(self) -> str:
        if self.old is None:
            return f"+ {self.path}: {_short(self.new)}"
        if self.new is None:
            return f"- {self.path}: {_short(self.old)}"
        return f"~ {self.path}: {_short(self.old)} → {_short(self.new)}"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class ObjectOutcome:
    """What the dry run (and the apply) found for one object."""

    where: str
    kind: str
    name: str
    namespace: str
    status: Status = "unchanged"
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass
class Plan:
    """The outcome of :func:`apply_manifests`."""

    outcomes: list[ObjectOutcome]
    applied: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)
    failure: str | None = None
    leftovers: list[str] = field(default_factory=list)
    #: The cluster stopped answering during the real apply (what was applied is listed).
    unreachable: str | None = None
    #: The cluster refused a real apply for a reason that is not the object's (5xx, 401,
    #: RBAC 403, an answer that is not the API's); what was applied is listed.
    refused: ClusterRefusedError | None = None

    @property
    def input_error(self) -> str | None:
        """One line for the first object that cannot be applied as given (its namespace
        does not exist, or an immutable field changes); ``None`` if there is none."""
        found = [o for o in self.outcomes if o.status in INPUT_STATUSES]
        if not found:
            return None
        first = found[0]
        more = f" (and {len(found) - 1} more object(s), listed above)" if len(found) > 1 else ""
        return f"{first.where}: {first.label}: {first.problems[0]}{more}"

    @property
    def problems(self) -> bool:
        return any(o.status in PROBLEM_STATUSES for o in self.outcomes) or bool(self.leftovers)

    @property
    def ok(self) -> bool:
        return not self.problems and self.failure is None


# --- diff ---------------------------------------------------------------------------------


def _normalized(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without status and server-managed metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def _keyed(items: Sequence[Any]) -> dict[str, Any] | None:
    """A list of named maps (containers, ports) as ``{name: item}``; ``None`` otherwise."""
    if items and all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items):
        names = [i["name"] for i in items]
        if len(set(names)) == len(names):
            return dict(zip(names, items, strict=True))
    return None


def _diff(old: Any, new: Any, path: str) -> Iterator[Change]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                yield Change(sub, None, new[key])
            elif key not in new:
                yield Change(sub, old[key], None)
            else:
                yield from _diff(old[key], new[key], sub)
        return
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            yield from _diff_keyed(old_keyed, new_keyed, path)
            return
        if len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                yield from _diff(a, b, f"{path}[{index}]")
            return
    if old != new:
        yield Change(path, old, new)


def _diff_keyed(old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> Iterator[Change]:
    for name in sorted(set(old) | set(new)):
        sub = f"{path}[{name}]"
        if name not in old:
            yield Change(sub, None, new[name])
        elif name not in new:
            yield Change(sub, old[name], None)
        else:
            yield from _diff(old[name], new[name], sub)


def diff_objects(live: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """Field changes from ``live`` to ``after`` (lists of named maps matched by name)."""
    return list(_diff(_normalized(live), _normalized(after), ""))


# --- namespaces and fights ----------------------------------------------------------------


def resolve_namespaces(
    objects: Sequence[tuple[str, Mapping[str, Any]]], namespace: str | None, default: str
) -> list[tuple[str, dict[str, Any], str]]:
    """Each object with the namespace it goes to, in apply order.

    ``namespace`` (``--namespace``) fills objects that name none; an object naming
    another is an error, as with ``kubectl apply``. Unknown kinds are errors too.
    """
    resolved = []
    for where, obj in objects:
        if kind_info(str(obj["apiVersion"]), str(obj["kind"])) is None:
            raise ManifestError(
                f"{where}: {obj['apiVersion']} {obj['kind']}: capsim applies only Service, "
                "Deployment, PodDisruptionBudget, HorizontalPodAutoscaler, Ingress and Job"
            )
        own = (obj.get("metadata") or {}).get("namespace")
        if own and namespace and own != namespace:
            raise ManifestError(
                f"{where}: metadata.namespace: {own!r} does not match --namespace {namespace!r}"
            )
        resolved.append((where, dict(obj), own or namespace or default))
    return sorted(resolved, key=lambda item: apply_rank(item[1]))


def _owners_of_replicas(live: Mapping[str, Any]) -> list[str]:
    """Managers that own ``spec.replicas`` of a live Deployment through the main resource
    (the HPA controller writes it through the ``scale`` subresource)."""
    owners = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        main_resource = entry.get("subresource", "") == ""
        if "f:replicas" in fields and main_resource and entry.get("manager") != FIELD_MANAGER:
            owners.append(str(entry.get("manager")))
    return owners


def _replica_fight(
    emitted: Mapping[str, Any], live: Mapping[str, Any] | None, scaled: bool
) -> str | None:
    if live is None or not scaled or "replicas" in (emitted.get("spec") or {}):
        return None
    owners = _owners_of_replicas(live)
    if not owners:
        return None
    replicas = (live.get("spec") or {}).get("replicas")
    return (
        f"spec.replicas ({replicas}) is owned by {owners}: their next apply resets the scale "
        "the HPA chose; remove replicas from their manifests"
    )


def _hpa_fights(emitted: Mapping[str, Any], live_hpas: Sequence[Mapping[str, Any]]) -> list[str]:
    target = (emitted.get("spec") or {}).get("scaleTargetRef") or {}
    name = emitted["metadata"]["name"]
    fights = []
    for other in live_hpas:
        ref = (other.get("spec") or {}).get("scaleTargetRef") or {}
        other_name = (other.get("metadata") or {}).get("name")
        if other_name != name and (ref.get("kind"), ref.get("name")) == (
            target.get("kind"),
            target.get("name"),
        ):
            fights.append(
                f"HorizontalPodAutoscaler {other_name} already scales {ref.get('kind')}/"
                f"{ref.get('name')}: two HPAs on one target fight (the controller reports "
                "AmbiguousSelector and stops scaling); delete one"
            )
    return fights


# --- errors -------------------------------------------------------------------------------

_MANAGER = re.compile(r'conflicts? with "([^"]+)"')
#: How the API server words a 403 that refuses the object itself rather than the user:
#: admission webhooks (``admission webhook "x" denied the request``), ValidatingAdmissionPolicy
#: (``... with binding 'b' denied request: ...``), ResourceQuota (``exceeded quota``),
#: LimitRange (``maximum cpu usage per Container is 2, but limit is 4``) and PodSecurity
#: (``violates PodSecurity "restricted:latest"``).
_DENIED = (
    "admission webhook",
    "denied the request",
    "denied request",
    "exceeded quota",
    " usage per ",
    "violates PodSecurity",
)


def is_manifest_problem(error: ApiError) -> bool:
    """Whether ``error`` is something the dry run found about the object (see the module
    docstring for the line); ``False``: the cluster, the network or the credentials."""
    if not error.is_status:
        return False
    if error.code in (400, 409, 422):
        return True
    if error.code == 404:
        return error.kind == "namespaces"
    if error.code == 403:
        return any(phrase in error.message for phrase in _DENIED)
    return False


class ClusterRefusedError(Exception):
    """An API-server answer that is not about the manifests (see :func:`is_manifest_problem`):
    the request (``verb`` on ``resource`` in ``namespace``, ``name`` if one object), the
    answer (:attr:`error`) and, from :meth:`message`, one line naming the server."""

    def __init__(
        self, error: ApiError, verb: str, resource: str, namespace: str, name: str = ""
    ) -> None:
        self.error, self.verb, self.resource = error, verb, resource
        self.namespace, self.name = namespace, name
        super().__init__(self.message("the API server"))

    @property
    def request(self) -> str:
        """``patch deployments.apps shop/web`` or ``list horizontalpodautoscalers.autoscaling
        in namespace shop``."""
        if self.name:
            return f"{self.verb} {self.resource} {self.namespace}/{self.name}"
        return f"{self.verb} {self.resource} in namespace {self.namespace}"

    def message(self, server: str) -> str:
        """One line: the server, the request, the status and what it means."""
        error, head = self.error, f"{server}: {self.request}"
        code = error.code
        if code >= 500:
            return (
                f"{head}: the server failed ({error}); a cluster or network problem, not the "
                "manifests: try again later"
            )
        if not error.is_status and 300 <= code < 400:
            return (
                f"{head}: HTTP {code} {error.reason}: {error.message}; give the final URL as "
                "the kubeconfig's server"
            )
        if not error.is_status:
            return (
                f"{head}: HTTP {code} {error.reason} ({error.message}), not a Kubernetes "
                "Status: not the API server's answer (a proxy, load balancer or another "
                "service at this URL?); check the kubeconfig's server"
            )
        if code == 401:
            return (
                f"{head}: the server refused the kubeconfig's credentials ({error}); check "
                "--kubeconfig/--context"
            )
        if code == 403:
            return (
                f"{head}: forbidden ({error}): the kubeconfig's user may not {self.verb} "
                f"{self.resource} in namespace {self.namespace}; ask for that permission (RBAC) "
                "or use another --context"
            )
        if code == 404:
            return (
                f"{head}: not found ({error}): the server does not serve {self.resource} "
                "(an older or partial cluster?) or the URL is not the API server's"
            )
        if code == 429:
            return f"{head}: the server is busy ({error}); try again later"
        return f"{head}: the server answered {error}, which is not about the manifests"


def _describe(error: ApiError, verb: str, resource: str, outcome: ObjectOutcome) -> None:
    """Record an API error on ``outcome`` as the problem a user can act on."""
    if error.code == 404 and error.kind == "namespaces":
        namespace = error.name or outcome.namespace
        outcome.status = "no-namespace"
        outcome.problems.append(
            f"namespace {namespace!r} does not exist: create it first (kubectl create "
            f"namespace {namespace}) or choose another with --namespace"
        )
    elif error.code == 422 and any(
        phrase in str(cause.get("message", "")) for cause in error.causes for phrase in _IMMUTABLE
    ):
        outcome.status = "immutable"
        kind = outcome.kind.lower()
        for cause in error.causes:
            message = str(cause.get("message", ""))
            if not any(phrase in message for phrase in _IMMUTABLE):
                continue
            outcome.problems.append(
                f"{cause.get('field')}: cannot be changed on the live object "
                f"({message if len(message) <= 160 else message[:157] + '...'}); keep the live "
                f"value, or delete the {outcome.kind} and "
                f"apply again (kubectl delete {kind} -n {outcome.namespace} {outcome.name})"
            )
    elif error.code == 409 and error.causes:
        outcome.status = "conflict"
        for cause in error.causes:
            managers = _MANAGER.findall(str(cause.get("message", "")))
            outcome.problems.append(
                f"conflict: {cause.get('field')} is owned by {', '.join(managers) or '?'} "
                "(--force-conflicts takes ownership; or change it where they manage it)"
            )
    elif error.code == 403:
        outcome.status = "denied"
        outcome.problems.append(f"denied by admission: {error.message}")
    elif error.code in (400, 422):
        outcome.status = "invalid"
        causes = [f"{c.get('field')}: {c.get('message')}" for c in error.causes]
        outcome.problems.append(f"invalid: {'; '.join(causes) or error.message}")
    else:
        outcome.status = "failed"
        outcome.problems.append(f"{verb} failed: {error}")


# --- the run ------------------------------------------------------------------------------


def _dry_run(
    cluster: Cluster,
    where: str,
    obj: dict[str, Any],
    namespace: str,
    force: bool,
    scaled: set[str],
    live_hpas: Sequence[Mapping[str, Any]],
) -> ObjectOutcome:
    api_version, kind, name = str(obj["apiVersion"]), str(obj["kind"]), obj["metadata"]["name"]
    info = kind_info(api_version, kind)
    assert info is not None
    outcome = ObjectOutcome(where, kind, name, namespace)
    verb = "get"
    try:
        live = cluster.get(api_version, kind, namespace, name)
        verb = "patch"
        after = cluster.apply(obj, namespace, dry_run=True, force=force)
    except ApiError as error:
        if not is_manifest_problem(error):  # nothing else would work either
            shown = "patch (dry run)" if verb == "patch" else verb
            raise ClusterRefusedError(error, shown, info.resource, namespace, name) from None
        _describe(error, verb, info.resource, outcome)
        return outcome
    if live is None:
        outcome.status = "created"
    else:
        outcome.changes = diff_objects(live, after)
        outcome.status = "changed" if outcome.changes else "unchanged"
    if kind == "Deployment":
        fight = _replica_fight(obj, live, name in scaled)
        if fight:
            outcome.warnings.append(fight)
    if kind == "HorizontalPodAutoscaler":
        outcome.warnings.extend(_hpa_fights(obj, live_hpas))
    return outcome


def _scaled_deployments(objects: Sequence[tuple[str, dict[str, Any], str]]) -> set[str]:
    return {
        ((obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name", "")
        for _, obj, _ in objects
        if obj.get("kind") == "HorizontalPodAutoscaler"
    }


def _live_hpas(
    cluster: Cluster, objects: Sequence[tuple[str, dict[str, Any], str]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """HPAs live in the namespaces the set's HPAs go to (and problems listing them)."""
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    namespaces = sorted({ns for _, o, ns in objects if o.get("kind") == "HorizontalPodAutoscaler"})
    for namespace in namespaces:
        try:
            found.extend(cluster.list("autoscaling/v2", "HorizontalPodAutoscaler", namespace))
        except ApiError as error:
            if not is_manifest_problem(error):
                resource = "horizontalpodautoscalers.autoscaling"
                raise ClusterRefusedError(error, "list", resource, namespace) from None
            problems.append(
                f"cannot list horizontalpodautoscalers.autoscaling in {namespace} to look for "
                f"HPAs that would fight ({error})"
            )
    return found, problems


def _leftovers(cluster: Cluster, objects: Sequence[tuple[str, dict[str, Any], str]]) -> list[str]:
    """Objects capsim manages for the same instances that this set no longer has."""
    wanted = {(o["kind"], ns, o["metadata"]["name"]) for _, o, ns in objects}
    instances = sorted(
        {
            (ns, ((o.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/instance"))
            for _, o, ns in objects
        }
    )
    found = []
    for namespace, instance in instances:
        if instance is None:
            continue
        selector = f"app.kubernetes.io/managed-by=capsim,app.kubernetes.io/instance={instance}"
        for api_version, kind in KINDS:
            try:
                listed = cluster.list(api_version, kind, namespace, selector)
            except ApiError as error:
                if not is_manifest_problem(error):
                    resource = KINDS[(api_version, kind)].resource
                    raise ClusterRefusedError(error, "list", resource, namespace) from None
                raise
            for live in listed:
                name = (live.get("metadata") or {}).get("name")
                if (kind, namespace, name) not in wanted:
                    found.append(
                        f"{kind} {namespace}/{name} (instance {instance}) is not in this set: "
                        f"delete it (kubectl delete {kind.lower()} -n {namespace} {name}) or "
                        "put it back"
                    )
    return found


def apply_manifests(
    cluster: Cluster,
    objects: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    namespace: str | None,
    default_namespace: str,
    apply: bool = False,
    force_conflicts: bool = False,
    prune_check: bool = False,
) -> Plan:
    """Dry-run every object, then (``apply`` and a clean dry run) apply them in order.

    ``ClusterUnreachableError`` and :class:`ClusterRefusedError` (an answer that is not about
    the manifests: :func:`is_manifest_problem`) during the dry run propagate (no answer is
    not a plan, and nothing was changed); during the real apply they stop the run and are
    recorded in :attr:`Plan.unreachable` / :attr:`Plan.refused` with what was applied.
    Every refusal about an object is recorded on that object.
    """
    resolved = resolve_namespaces(objects, namespace, default_namespace)
    scaled = _scaled_deployments(resolved)
    live_hpas, list_problems = _live_hpas(cluster, resolved)
    outcomes = [
        _dry_run(cluster, where, obj, ns, force_conflicts, scaled, live_hpas)
        for where, obj, ns in resolved
    ]
    for outcome in outcomes:
        if outcome.kind == "HorizontalPodAutoscaler":
            outcome.warnings.extend(list_problems)
    plan = Plan(outcomes)
    if prune_check:
        try:
            plan.leftovers = _leftovers(cluster, resolved)
        except ApiError as error:
            plan.leftovers = [f"--prune-check: cannot list capsim's objects ({error})"]
    labels = [o.label for o in outcomes]
    if not apply or plan.problems:
        plan.not_applied = labels
        return plan
    for (where, obj, ns), outcome in zip(resolved, outcomes, strict=True):
        info = kind_info(str(obj["apiVersion"]), str(obj["kind"]))
        assert info is not None
        try:
            cluster.apply(obj, ns, dry_run=False, force=force_conflicts)
        except ClusterUnreachableError as error:
            plan.unreachable = str(error)
            plan.failure = f"{outcome.label}: no answer (it may or may not have been applied)"
            plan.not_applied = labels[len(plan.applied) :]
            return plan
        except ApiError as error:
            if not is_manifest_problem(error):
                plan.refused = ClusterRefusedError(error, "patch", info.resource, ns, outcome.name)
                plan.failure = f"{outcome.label}: refused ({error.code} {error.reason})"
                plan.not_applied = labels[len(plan.applied) :]
                return plan
            failed = ObjectOutcome(where, outcome.kind, outcome.name, ns)
            _describe(error, "patch", info.resource, failed)
            plan.failure = f"{outcome.label}: {'; '.join(failed.problems)}"
            plan.not_applied = labels[len(plan.applied) :]
            return plan
        plan.applied.append(outcome.label)
    return plan
