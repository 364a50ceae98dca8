"""The cluster behind a small interface, and its implementation on the ``kubernetes`` client.

:class:`Cluster` is all :mod:`capsim.kube.apply` needs: read one object, list objects
by label, and server-side apply one object (``PATCH`` with
``application/apply-patch+yaml``, field manager ``capsim``, optionally ``dryRun=All`` and
``force=true``). :class:`KubernetesCluster` implements it with the official client's
typed APIs (``patch_namespaced_<kind>``), asking for raw responses so that objects stay
plain dicts and strict response models never see a live object capsim did not write.
The ``kubernetes`` package is imported only here, lazily (extra ``kube``).

Errors come back as :class:`ApiError` (the API server's ``Status``: code, reason,
message, causes) or :class:`ClusterUnreachableError` (no answer: connection refused, TLS,
timeout, a kubeconfig that cannot be read).

Live mode reads two more things through the same client: the cluster's Nodes
(:meth:`KubernetesCluster.list_nodes`, ``GET /api/v1/nodes``) and metrics-server's latest
PodMetrics (:meth:`KubernetesCluster.list_pod_metrics`, ``metrics.k8s.io/v1beta1`` through
``CustomObjectsApi``). :attr:`KubernetesCluster.api_client` is the configured ``ApiClient``
for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "FIELD_MANAGER",
    "KINDS",
    "METRICS_GROUP",
    "METRICS_VERSION",
    "ApiError",
    "Cluster",
    "ClusterUnreachableError",
    "KindInfo",
    "KubernetesCluster",
    "kind_info",
]

FIELD_MANAGER = "capsim"
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
REQUEST_TIMEOUT_S = 30.0
_Objects = list[dict[str, Any]]  # a name ``list`` does not shadow inside the class


@dataclass(frozen=True)
class KindInfo:
    """How the client reaches one kind: its API class and method suffix, and its RBAC name."""

    api_class: str
    method: str
    plural: str
    group: str

    @property
    def resource(self) -> str:
        """``horizontalpodautoscalers.autoscaling`` (``services`` in the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: dict[tuple[str, str], KindInfo] = {
    ("v1", "Service"): KindInfo("CoreV1Api", "service", "services", ""),
    ("apps/v1", "Deployment"): KindInfo("AppsV1Api", "deployment", "deployments", "apps"),
    ("policy/v1", "PodDisruptionBudget"): KindInfo(
        "PolicyV1Api", "pod_disruption_budget", "poddisruptionbudgets", "policy"
    ),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): KindInfo(
        "AutoscalingV2Api", "horizontal_pod_autoscaler", "horizontalpodautoscalers", "autoscaling"
    ),
    ("networking.k8s.io/v1", "Ingress"): KindInfo(
        "NetworkingV1Api", "ingress", "ingresses", "networking.k8s.io"
    ),
    ("batch/v1", "Job"): KindInfo("BatchV1Api", "job", "jobs", "batch"),
}


def kind_info(api_version: str, kind: str) -> KindInfo | None:
    return KINDS.get((api_version, kind))


@dataclass(frozen=True)
class ApiError(Exception):
    """The API server said no: its ``Status`` (``code``, ``reason``, ``message``, causes)."""

    code: int
    reason: str
    message: str
    causes: tuple[Mapping[str, Any], ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


class ClusterUnreachableError(Exception):
    """No answer from the cluster (or no usable kubeconfig)."""


class Cluster(Protocol):
    """What applying needs from a cluster."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The live object, or ``None`` if it does not exist."""
        ...

    def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Live objects of one kind in a namespace."""
        ...

    def apply(
        self, obj: Mapping[str, Any], namespace: str, *, dry_run: bool, force: bool
    ) -> dict[str, Any]:
        """Server-side apply ``obj``; the object as the server has it (or would have it)."""
        ...


def _status(exc: Any) -> ApiError:
    """An ``ApiException`` as an :class:`ApiError` (its body is a ``Status`` when JSON)."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    details = status.get("details") or {}
    return ApiError(
        code=int(exc.status or 0),
        reason=str(status.get("reason") or exc.reason or ""),
        message=str(status.get("message") or body or exc.reason or ""),
        causes=tuple(details.get("causes") or ()),
    )


class KubernetesCluster:
    """:class:`Cluster` on the official ``kubernetes`` client, from a kubeconfig."""

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None) -> None:
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        where = str(kubeconfig) if kubeconfig else "the default kubeconfig (~/.kube/config)"
        config_file = str(kubeconfig) if kubeconfig else None
        try:
            self._api_client = config.new_client_from_config(
                config_file=config_file, context=context
            )
            contexts, active = config.list_kube_config_contexts(config_file=config_file)
        except (ConfigException, OSError, ValueError) as exc:
            raise ClusterUnreachableError(f"{where}: cannot load the kubeconfig: {exc}") from None
        chosen = next((c for c in contexts if c["name"] == context), active)
        #: Where objects that name no namespace go: the context's namespace, as kubectl does.
        self.namespace: str = (chosen.get("context") or {}).get("namespace") or "default"
        self.server = self._api_client.configuration.host

    def _api(self, api_version: str, kind: str) -> tuple[Any, KindInfo]:
        from kubernetes import client

        info = kind_info(api_version, kind)
        if info is None:
            raise ValueError(f"{api_version} {kind}: capsim does not apply this kind")
        return getattr(client, info.api_class)(self._api_client), info

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = method(
                *args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S, **kwargs
            )
        except ApiException as exc:
            raise _status(exc) from None
        except HTTPError as exc:
            raise ClusterUnreachableError(f"{self.server}: no answer ({exc})") from None
        return json.loads(response.data)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        api, info = self._api(api_version, kind)
        try:
            found = self._call(getattr(api, f"read_namespaced_{info.method}"), name, namespace)
        except ApiError as error:
            if error.code == 404:
                return None
            raise
        return dict(found)

    def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        api, info = self._api(api_version, kind)
        kwargs = {"label_selector": label_selector} if label_selector else {}
        found = self._call(getattr(api, f"list_namespaced_{info.method}"), namespace, **kwargs)
        return [dict(item) for item in found.get("items") or []]

    @property
    def api_client(self) -> Any:
        """The ``kubernetes.client.ApiClient`` built from the kubeconfig and context."""
        return self._api_client

    def list_nodes(self, label_selector: str | None = None) -> _Objects:
        """Every Node of the cluster (cluster-scoped ``GET /api/v1/nodes``), as plain dicts."""
        from kubernetes import client

        kwargs = {"label_selector": label_selector} if label_selector else {}
        found = self._call(client.CoreV1Api(self._api_client).list_node, **kwargs)
        return [dict(item) for item in found.get("items") or []]

    def list_pod_metrics(self, namespace: str, label_selector: str | None = None) -> _Objects:
        """metrics-server's latest PodMetrics in ``namespace`` (``metrics.k8s.io/v1beta1``
        ``pods``), as plain dicts: ``timestamp``, ``window``, ``containers[].usage``.

        A cluster without metrics-server answers 404 (:class:`ApiError`)."""
        from kubernetes import client

        api = client.CustomObjectsApi(self._api_client)
        kwargs = {"label_selector": label_selector} if label_selector else {}
        found = self._call(
            api.list_namespaced_custom_object,
            METRICS_GROUP,
            METRICS_VERSION,
            namespace,
            "pods",
            **kwargs,
        )
        return [dict(item) for item in found.get("items") or []]

    def apply(
        self, obj: Mapping[str, Any], namespace: str, *, dry_run: bool, force: bool
    ) -> dict[str, Any]:
        api, info = self._api(str(obj["apiVersion"]), str(obj["kind"]))
        options: dict[str, Any] = {"field_manager": FIELD_MANAGER}
        if dry_run:
            options["dry_run"] = "All"
        if force:
            options["force"] = True
        result = self._call(
            getattr(api, f"patch_namespaced_{info.method}"),
            obj["metadata"]["name"],
            namespace,
            dict(obj),
            _content_type=APPLY_CONTENT_TYPE,
            **options,
        )
        return dict(result)
