"""The cluster behind a small interface, and its implementation on the ``kubernetes`` client.

:class:`Cluster` is all :mod:`capsim.kube.apply` needs: read one object, list objects
by label, and server-side apply one object (``PATCH`` with
``application/apply-patch+yaml``, field manager ``capsim``, optionally ``dryRun=All`` and
``force=true``). :class:`KubernetesCluster` implements it with the official client's
typed APIs (``patch_namespaced_<kind>``), asking for raw responses so that objects stay
plain dicts and strict response models never see a live object capsim did not write.
The ``kubernetes`` package is imported only here, lazily (extra ``kube``).

Errors come back as :class:`ApiError` (the API server's ``Status``: code, reason,
message, causes), :class:`ClusterUnreachableError` (no answer within the deadline:
connection refused, TLS, timeout; or an answer that is not the API's) or
:class:`~capsim.kube.kubeconfig.KubeconfigError` (a kubeconfig capsim cannot use). None of
their messages holds a secret of the kubeconfig.

Live mode reads two more things through the same client: the cluster's Nodes
(:meth:`KubernetesCluster.list_nodes`, ``GET /api/v1/nodes``) and metrics-server's latest
PodMetrics (:meth:`KubernetesCluster.list_pod_metrics`, ``metrics.k8s.io/v1beta1`` through
``CustomObjectsApi``). :attr:`KubernetesCluster.api_client` is the configured ``ApiClient``
for anything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
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
#: The default of ``--timeout`` (deploy apply, live snapshot, live metrics-server).
DEFAULT_TIMEOUT_S = 30.0
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


@dataclass(eq=False)  # not frozen: the interpreter sets __traceback__ on exceptions
class ApiError(Exception):
    """The API server said no: its ``Status`` (``code``, ``reason``, ``message``, causes)."""

    code: int
    reason: str
    message: str
    causes: tuple[Mapping[str, Any], ...] = field(default=())
    #: ``details.kind`` and ``details.name`` of the Status (``namespaces``/``shop`` when
    #: the namespace of the object does not exist).
    kind: str = ""
    name: str = ""

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


class ClusterUnreachableError(Exception):
    """No answer from the cluster within the deadline, or an answer that is not the API's."""


class _Capture(logging.Handler):
    """Keeps the records the kubeconfig loader logs (so they never reach stderr)."""

    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _items(found: Mapping[str, Any], server: str) -> list[dict[str, Any]]:
    """A list answer's ``items``, each a JSON object."""
    items = found.get("items")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ClusterUnreachableError(f"{server}: items: the answer is not a Kubernetes list")
    return [dict(item) for item in items]


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
    details = status.get("details")
    details = details if isinstance(details, dict) else {}
    causes = details.get("causes")
    text = status.get("message") or body or exc.reason or ""
    return ApiError(
        code=int(exc.status or 0),
        reason=str(status.get("reason") or exc.reason or ""),
        message=" ".join(str(text).split())[:2000],
        causes=tuple(c for c in causes if isinstance(c, dict)) if isinstance(causes, list) else (),
        kind=str(details.get("kind") or ""),
        name=str(details.get("name") or ""),
    )


def _reason(error: BaseException) -> str:
    """A short reason for a failed request: ``[Errno 111] Connection refused``, ``read timed
    out``, without urllib3's object reprs."""
    inner: BaseException = error
    while getattr(inner, "reason", None) is not None and isinstance(inner.reason, BaseException):  # type: ignore[attr-defined]
        inner = inner.reason  # type: ignore[attr-defined]
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*", "", text)
    text = re.sub(r"^\S+ConnectionPool\([^)]*\):\s*", "", text)
    return text[:300]


@dataclass(frozen=True)
class _Deadline:
    """One overall deadline: ``timeout_s`` from the moment it was made."""

    timeout_s: float
    expires: float

    @classmethod
    def start(cls, timeout_s: float) -> _Deadline:
        return cls(timeout_s, time.monotonic() + timeout_s)

    @property
    def remaining_s(self) -> float:
        return self.expires - time.monotonic()


def _within(deadline: _Deadline, work: Callable[[], Any]) -> tuple[bool, Any, BaseException | None]:
    """Run ``work`` in a daemon thread and wait for it until the deadline: (finished,
    result, error). A request stuck in a socket read (a server that accepts and never
    answers, or trickles one byte at a time) is left behind in its daemon thread; the
    command goes on (and exits) without it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="capsim-kube-request", daemon=True)
    thread.start()
    thread.join(max(deadline.remaining_s, 0.0))
    if thread.is_alive():
        return False, None, None
    return True, outcome.get("result"), outcome.get("error")


class KubernetesCluster:
    """:class:`Cluster` on the official ``kubernetes`` client, from a kubeconfig.

    **Deadlines**: ``timeout_s`` bounds the API-server traffic. With ``per_request=False``
    (``deploy apply``, ``live snapshot``) it is one overall deadline, counted from the
    moment the cluster object is made (loading the kubeconfig and running its exec plugin
    included): every request gets what is left of it as its connect and read timeouts, and
    is abandoned when it runs out. With ``per_request=True`` (``live metrics-server``, whose
    recording lasts ``--duration``) each request has ``timeout_s`` of its own. urllib3's
    retries are off (by default it tries four times, each with the full timeout), so a
    server that accepts connections and never answers costs at most ``timeout_s``. A missed
    deadline raises :class:`ClusterUnreachableError` naming the server URL.

    **Kubeconfig**: read and checked by :func:`capsim.kube.kubeconfig.load_kubeconfig`
    (one line naming the file and field for anything unusable, never a secret), then given
    to the client as a dict, never written back (``persist_config=False``). Inline
    certificates and keys are written by the client to files in a private temporary folder
    (mode 0700) that :meth:`close` removes; use the object as a context manager.
    """

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        per_request: bool = False,
    ) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        from capsim.kube.kubeconfig import KubeconfigError, load_kubeconfig

        if not (isinstance(timeout_s, int | float) and 0 < timeout_s < math.inf):
            raise ValueError(f"--timeout: must be a positive duration, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self._per_request = per_request
        self._deadline = _Deadline.start(self.timeout_s)
        loaded = load_kubeconfig(kubeconfig, context)
        self._kubeconfig = loaded
        self.server: str = loaded.server
        #: Where objects that name no namespace go: the context's namespace, as kubectl does.
        self.namespace: str = loaded.namespace
        self._tmp = tempfile.mkdtemp(prefix="capsim-kube-")
        configuration = client.Configuration()
        captured: list[logging.LogRecord] = []

        def load() -> None:
            config.load_kube_config_from_dict(
                loaded.config,
                context=loaded.context,
                client_configuration=configuration,
                persist_config=False,
                temp_file_path=self._tmp,
            )

        capture = _Capture(captured)
        root = logging.getLogger()
        root.addHandler(capture)  # the loader logs exec-plugin failures with logging.error
        try:
            finished, _, error = _within(self._deadline, load)
        finally:
            root.removeHandler(capture)
        if not finished:
            self.close()
            raise ClusterUnreachableError(
                f"{loaded.where}: {loaded.user_field}.exec: the credential plugin did not "
                f"finish within --timeout {_seconds(self.timeout_s)}"
            )
        if error is not None:
            self.close()
            if isinstance(error, ConfigException | OSError | ValueError | KeyError | TypeError):
                text = loaded.redact(" ".join(str(error).split()))[:300]
                raise KubeconfigError(f"{loaded.where}: cannot load the kubeconfig: {text}")
            raise error
        has_credentials = bool(configuration.api_key.get("BearerToken") or configuration.cert_file)
        if "exec" in loaded.user and (captured or not has_credentials):
            self.close()
            command = loaded.user["exec"].get("command")
            raise KubeconfigError(
                f"{loaded.where}: {loaded.user_field}.exec: the credential plugin {command!r} "
                "failed or gave no credentials; run it yourself to see why"
            )
        configuration.retries = False  # one try: the deadline, not urllib3, decides
        self._api_client = client.ApiClient(configuration)

    def __enter__(self) -> KubernetesCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and remove the temporary certificate files."""
        api_client = getattr(self, "_api_client", None)
        if api_client is not None:
            with contextlib.suppress(Exception):
                api_client.rest_client.pool_manager.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _deadline_message(self) -> str:
        return f"{self.server}: no answer within --timeout {_seconds(self.timeout_s)}"

    def _api(self, api_version: str, kind: str) -> tuple[Any, KindInfo]:
        from kubernetes import client

        info = kind_info(api_version, kind)
        if info is None:
            raise ValueError(f"{api_version} {kind}: capsim does not apply this kind")
        return getattr(client, info.api_class)(self._api_client), info

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One request within the deadline; its JSON object answer.

        Raises :class:`ApiError` for a refusal, :class:`ClusterUnreachableError` for no
        answer, a missed deadline, or an answer that is not a JSON object."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        deadline = _Deadline.start(self.timeout_s) if self._per_request else self._deadline
        remaining = deadline.remaining_s
        if remaining <= 0:
            raise ClusterUnreachableError(self._deadline_message())
        timeout = (remaining, remaining)

        def request() -> bytes:
            response = method(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
            data: bytes = response.data
            return data

        finished, data, error = _within(deadline, request)
        if not finished:
            raise ClusterUnreachableError(self._deadline_message())
        if isinstance(error, ApiException):
            if not error.status:  # TLS and other failures before any HTTP status
                reason = self._kubeconfig.redact(" ".join(str(error.reason or "").split()))
                raise ClusterUnreachableError(f"{self.server}: no answer ({reason[:300]})")
            raise _status(error)
        if isinstance(error, HTTPError | OSError):
            reason = self._kubeconfig.redact(_reason(error))
            raise ClusterUnreachableError(f"{self.server}: no answer ({reason})")
        if error is not None:
            raise error
        try:
            answer = json.loads(data)
        except (ValueError, TypeError):
            answer = None
        if not isinstance(answer, dict):
            raise ClusterUnreachableError(
                f"{self.server}: the answer is not a Kubernetes object (JSON); is this the "
                "API server's URL?"
            )
        return answer

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
        return _items(found, self.server)

    @property
    def api_client(self) -> Any:
        """The ``kubernetes.client.ApiClient`` built from the kubeconfig and context."""
        return self._api_client

    def list_nodes(self, label_selector: str | None = None) -> _Objects:
        """Every Node of the cluster (cluster-scoped ``GET /api/v1/nodes``), as plain dicts."""
        from kubernetes import client

        kwargs = {"label_selector": label_selector} if label_selector else {}
        found = self._call(client.CoreV1Api(self._api_client).list_node, **kwargs)
        return _items(found, self.server)

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
        return _items(found, self.server)

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
