"""The cluster behind a small interface, and its implementation on the ``kubernetes`` client.

:class:`Cluster` is all :mod:`capsim.kube.apply` needs: read one object, list objects
by label, and server-side apply one object (``PATCH`` with
``application/apply-patch+yaml``, field manager ``capsim``, optionally ``dryRun=All`` and
``force=true``). :class:`KubernetesCluster` implements it with the official client's
typed APIs (``patch_namespaced_<kind>``), asking for raw responses so that objects stay
plain dicts and strict response models never see a live object capsim did not write.
The ``kubernetes`` package is imported only here, lazily (extra ``kube``).

Errors come back as :class:`ApiError` (the API server's ``Status``: code, reason,
message, causes; or an HTTP error whose body is not a ``Status``, :attr:`ApiError.is_status`
false), :class:`ClusterUnreachableError` (no answer within the deadline: connection
refused, TLS, timeout; or an answer that is not the API's: not JSON, not an object, not the
object asked for) or :class:`~capsim.kube.kubeconfig.KubeconfigError` (a kubeconfig capsim
cannot use, or credentials that cannot be sent in an HTTP header).

**Secrets**: none of these messages holds a secret of the kubeconfig. Every text that comes
from the server (a ``Status`` message and its causes, an error page, and every string of a
JSON answer that holds one) has each secret capsim knows (token, password, the basic-auth
header's base64, client-key data, an exec plugin's token) replaced by ``***`` before anyone
sees it (:meth:`KubernetesCluster.redact`): a server that echoes the credentials it was
sent cannot make capsim print, write or show them in a ``--debug`` traceback.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from capsim.kube.kubeconfig import KubeconfigError, load_kubeconfig, redact_secrets

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
    """The API server said no: its ``Status`` (``code``, ``reason``, ``message``, causes).

    An HTTP error whose body is not a Kubernetes ``Status`` (an HTML page from a proxy or a
    load balancer, plain text) is an ``ApiError`` too, with ``is_status`` false and a
    ``message`` saying what came instead. Every text in it is already redacted."""

    code: int
    reason: str
    message: str
    causes: tuple[Mapping[str, Any], ...] = field(default=())
    #: ``details.kind`` and ``details.name`` of the Status (``namespaces``/``shop`` when
    #: the namespace of the object does not exist).
    kind: str = ""
    name: str = ""
    #: The body was a Kubernetes ``Status`` (JSON) -- the API server itself answered.
    is_status: bool = True

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


def _one_line(text: Any, limit: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _header(exc: Any, name: str) -> str:
    headers = getattr(exc, "headers", None)
    try:
        value = headers.get(name) if headers is not None else None
    except (AttributeError, TypeError):
        value = None
    return str(value) if value else ""


def _status(exc: Any, redact: Callable[[str], str] = lambda text: text) -> ApiError:
    """An ``ApiException`` as an :class:`ApiError`, every text redacted with ``redact``.

    A body that is a Kubernetes ``Status`` gives its reason, message, causes and details;
    any other body gives ``is_status=False`` and a message: plain text as it is (shortened),
    anything else (an HTML error page) as its content type and first characters, a redirect
    as where it points."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = redact(str(body or ""))
    try:
        status = json.loads(body) if body else None
    except (ValueError, RecursionError):
        status = None
    is_status = isinstance(status, dict) and (
        status.get("kind") == "Status" or status.get("status") == "Failure"
    )
    reason = redact(str(exc.reason or ""))
    code = int(exc.status or 0)
    if not is_status or not isinstance(status, dict):
        location = _one_line(redact(_header(exc, "Location")), 160)
        if 300 <= code < 400:
            where = f" to {location}" if location else ""
            message = f"a redirect{where}, not followed (the credentials would go with it)"
        else:  # plain text (the aggregator's "service unavailable") as it is; else say what
            kind = _header(exc, "Content-Type").split(";")[0].strip()
            shown = _one_line(body, 160)
            if kind == "text/plain" and shown:
                message = shown
            else:
                message = f"a {kind or 'untyped'} answer{': ' + shown if shown else ''}"
        return ApiError(code=code, reason=reason, message=message, is_status=False)
    details = status.get("details")
    details = details if isinstance(details, dict) else {}
    causes = details.get("causes")
    kept = [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else []
    return ApiError(
        code=code,
        reason=redact(str(status.get("reason") or reason)),
        message=redact(_one_line(status.get("message") or reason, 2000)),
        causes=tuple({k: redact(str(v)) for k, v in c.items()} for c in kept),
        kind=str(details.get("kind") or ""),
        name=str(details.get("name") or ""),
    )


def _redacted_tree(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (parsed JSON) with every string, key or value, passed through ``redact``.
    Iterative: a hostile answer nested deeply does not reach the recursion limit."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = redact(item)
        elif isinstance(item, dict):
            fixed = {redact(k) if isinstance(k, str) else k: v for k, v in item.items()}
            parent[key] = fixed
            stack.extend((fixed, k) for k in fixed)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
    return root[0]


def _mentions(data: bytes, secrets: Sequence[str]) -> bool:
    """Whether ``data`` (a JSON answer) may hold one of ``secrets``, as is or JSON-escaped."""
    for secret in secrets:
        escaped = json.dumps(secret)[1:-1]
        if secret.encode("utf-8", "replace") in data or escaped.encode() in data:
            return True
    return False


def _header_error(error: BaseException) -> bool:
    """An error building the request's headers: ``http.client`` refusing a header value
    (a control character in it) or one that is not Latin-1."""
    text = str(error).lower()
    return isinstance(error, UnicodeEncodeError) or (
        isinstance(error, ValueError) and "header" in text
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

        if not (isinstance(timeout_s, int | float) and 0 < timeout_s < math.inf):
            raise ValueError(f"--timeout: must be a positive duration, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self._per_request = per_request
        self._deadline = _Deadline.start(self.timeout_s)
        loaded = load_kubeconfig(kubeconfig, context)
        self._kubeconfig = loaded
        self._secrets: tuple[str, ...] = loaded.secrets
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
            raise self._scrubbed(error)
        self._check_credentials(configuration)
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

    def _check_credentials(self, configuration: Any) -> None:
        """Remember the credential the client will send (an exec plugin's token is known
        only now) as a secret, and refuse one that cannot be an HTTP header value."""
        header = configuration.api_key.get("BearerToken")
        if not isinstance(header, str):
            return
        _, _, credential = header.partition(" ")
        self._secrets = (*self._secrets, credential, credential.strip())
        if credential and not all("!" <= char <= "~" for char in credential):
            loaded = self._kubeconfig
            source = "exec" if "exec" in loaded.user else "token"
            self.close()
            raise KubeconfigError(
                f"{loaded.where}: {loaded.user_field}.{source}: the credential holds a "
                "character an HTTP header cannot carry (a space, a control character or "
                "non-ASCII); the value is not shown"
            )

    def redact(self, text: str) -> str:
        """``text`` with every secret capsim knows of this cluster's user replaced by
        ``***`` (use it on anything the server said before showing it)."""
        return redact_secrets(text, self._secrets)

    def _scrubbed(self, error: BaseException) -> BaseException:
        """``error`` itself, or, if its message holds a secret, a ``RuntimeError`` with the
        message redacted (its traceback, shown by ``--debug``, cannot show the secret)."""
        text = f"{error} {error.args!r}"
        if redact_secrets(text, self._secrets) == text:
            return error
        return RuntimeError(f"{type(error).__name__}: {self.redact(str(error))}")

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
                reason = self.redact(" ".join(str(error.reason or "").split()))
                raise ClusterUnreachableError(f"{self.server}: no answer ({reason[:300]})")
            raise _status(error, self.redact)
        if isinstance(error, HTTPError | OSError):
            reason = self.redact(_reason(error))
            raise ClusterUnreachableError(f"{self.server}: no answer ({reason})")
        if error is not None and _header_error(error):
            loaded = self._kubeconfig
            raise KubeconfigError(
                f"{loaded.where}: {loaded.user_field or 'users'}: the credentials cannot be "
                "sent in an HTTP header (a control or non-Latin-1 character in the token, "
                "username or password); the value is not shown"
            )
        if error is not None:
            raise self._scrubbed(error)
        try:
            answer = json.loads(data)
        except (ValueError, TypeError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise ClusterUnreachableError(
                f"{self.server}: the answer is not a Kubernetes object (JSON); is this the "
                "API server's URL?"
            )
        if self._secrets and _mentions(data, self._secrets):
            answer = dict(_redacted_tree(answer, self.redact))
        return answer

    def _expect(self, answer: Mapping[str, Any], kind: str, where: str) -> dict[str, Any]:
        """``answer`` if it is the ``kind`` object ``where`` names (``namespace/name``);
        :class:`ClusterUnreachableError` naming the server and what came instead if not (a
        List, another kind or name: not the API server, or not its answer)."""
        got_kind = answer.get("kind")
        meta = answer.get("metadata")
        got_name = meta.get("name") if isinstance(meta, dict) else None
        expected_name = where.rpartition("/")[2]
        if (got_kind is None or got_kind == kind) and got_name == expected_name:
            return dict(answer)
        shown_kind = _one_line(self.redact(str(got_kind)), 60)
        shown_name = _one_line(self.redact(str(got_name)), 60)
        raise ClusterUnreachableError(
            f"{self.server}: {kind} {where}: the answer is not that object (kind "
            f"{shown_kind}, metadata.name {shown_name}); is this the API server's URL?"
        )

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        api, info = self._api(api_version, kind)
        try:
            found = self._call(getattr(api, f"read_namespaced_{info.method}"), name, namespace)
        except ApiError as error:
            if error.code == 404 and error.is_status:  # the API's NotFound, not a proxy's 404
                return None
            raise
        return self._expect(found, kind, f"{namespace}/{name}")

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
        name = str(obj["metadata"]["name"])
        result = self._call(
            getattr(api, f"patch_namespaced_{info.method}"),
            name,
            namespace,
            dict(obj),
            _content_type=APPLY_CONTENT_TYPE,
            **options,
        )
        return self._expect(result, str(obj["kind"]), f"{namespace}/{name}")
