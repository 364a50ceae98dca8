"""Hostile HTTP servers on 127.0.0.1 for the fuzz suite: a Prometheus, a Kubernetes API
server, and a recorder on another port that logs every request sent to it (headers and
body), to catch credentials forwarded to a host other than the one given.

The first path segment of a request chooses the behaviour, so one server serves every
mode: ``--url http://127.0.0.1:PORT/inf`` makes every Prometheus answer hold ``+Inf``;
a kubeconfig ``server: http://127.0.0.1:PORT/hang`` points at an API server that accepts
the connection and never answers. The modes are :data:`PROMETHEUS_MODES` and
:data:`API_MODES`.

Every server keeps a log of the requests it received (:attr:`_Server.requests`); the
recorder answers like a working Prometheus (a matrix) and, for Kubernetes paths, 404.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

__all__ = [
    "API_MODES",
    "PROMETHEUS_MODES",
    "Request",
    "Servers",
    "closed_port",
    "servers",
]

MAX_STALL_S = 150.0  # how long "hang" and "drip" go on before giving up
HUGE_BYTES = 10 * 2**20


@dataclass(frozen=True)
class Request:
    """One request a server received."""

    server: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def text(self) -> str:
        """Everything sent, as text (to search for secrets)."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.method} {self.path}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        owner = self.server.owner
        owner.log(Request(owner.name, self.command, self.path, tuple(self.headers.items()), body))
        owner.respond(self, body)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # helpers for the behaviours
    def send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code: int, data: Any) -> None:
        self.send(code, json.dumps(data).encode())

    def redirect(self, location: str, code: int = 302) -> None:
        self.send_response(code)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def drip(self, body: bytes, stop: threading.Event) -> None:
        """Headers now, then the body one byte per second."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        started = time.monotonic()
        try:
            for byte in body:
                if stop.wait(1.0) or time.monotonic() - started > MAX_STALL_S:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def hang(self, stop: threading.Event) -> None:
        """Accept, read the request, answer nothing."""
        stop.wait(MAX_STALL_S)
        self.close_connection = True


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: _Server


class _Server:
    """A threaded HTTP server on a free loopback port, with a request log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def seen(self, text: str) -> list[Request]:
        """Requests whose method, path, headers or body contain ``text``."""
        with self._lock:
            return [r for r in self.requests if text in r.text()]

    def respond(self, handler: _Handler, body: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# --- Prometheus ---------------------------------------------------------------------------------


def _form(body: bytes, path: str) -> dict[str, str]:
    query = urllib.parse.urlsplit(path).query
    pairs = urllib.parse.parse_qsl(query) + urllib.parse.parse_qsl(body.decode("utf-8", "replace"))
    return dict(pairs)


def plausible_value(promql: str) -> str:
    """A value a healthy cluster could give for one of ``capsim live prometheus``'s queries."""
    table = (
        ("spec_min_replicas", "2"),
        ("spec_max_replicas", "10"),
        ("status_current_replicas", "3"),
        ("status_desired_replicas", "3"),
        ("spec_target_metric", "70"),
        ('resource="cpu"', "0.5"),
        ('resource="memory"', "536870912"),
        ("working_set", "300000000"),
        ("replicas_ready", "3"),
        ("cpu_usage", "1.2"),
    )
    return next((value for key, value in table if key in promql), "1")


def _grid(form: dict[str, str]) -> list[float]:
    start, end, step = (float(form.get(k, "0")) for k in ("start", "end", "step"))
    if step <= 0 or end < start:
        return []
    return [start + k * step for k in range(round((end - start) / step) + 1)][:20_000]


def matrix(form: dict[str, str], value: Callable[[str], str] = plausible_value) -> dict[str, Any]:
    """A successful ``query_range`` answer: one series on the asked grid."""
    promql = form.get("query", "")
    values = [[t, value(promql)] for t in _grid(form)]
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
    }


def _answer(form: dict[str, str], path: str, value: Callable[[str], str]) -> dict[str, Any]:
    if path.endswith("/api/v1/query"):  # instant queries (why nothing matched): nothing
        return {"status": "success", "data": {"resultType": "vector", "result": []}}
    return matrix(form, value)


PROMETHEUS_MODES = (
    "ok",
    "inf",
    "ninf",
    "nan",
    "negative",
    "huge-value",
    "data-list",
    "data-null",
    "data-string",
    "not-object",
    "status-error",
    "truncated",
    "html",
    "drip",
    "redirect",
    "redirect-loop",
    "e500",
    "e503",
    "e401",
    "e404",
    "hang",
    "empty",
    "vector",
    "many-series",
    "garbage-values",
    "missing-values",
    "metric-list",
    "time-garbage",
    "huge",
    "echo-auth",
)


class HostilePrometheus(_Server):
    """``/MODE/api/v1/query_range``: see :data:`PROMETHEUS_MODES`."""

    def __init__(self, recorder: _Server) -> None:
        super().__init__("prometheus")
        self.recorder = recorder

    def respond(self, handler: _Handler, body: bytes) -> None:
        mode, _, rest = handler.path.lstrip("/").partition("/")
        path = "/" + rest.split("?")[0]
        form = _form(body, handler.path)
        constant = {
            "inf": "+Inf",
            "ninf": "-Inf",
            "nan": "NaN",
            "negative": "-5",
            "huge-value": "1e308",
        }
        if mode == "ok":
            handler.send_json(200, _answer(form, path, plausible_value))
        elif mode in constant:
            handler.send_json(200, _answer(form, path, lambda _q: constant[mode]))
        elif mode == "data-list":
            handler.send_json(200, {"status": "success", "data": []})
        elif mode == "data-null":
            handler.send_json(200, {"status": "success", "data": None})
        elif mode == "data-string":
            handler.send_json(200, {"status": "success", "data": "matrix"})
        elif mode == "not-object":
            handler.send_json(200, [1, 2, 3])
        elif mode == "status-error":
            handler.send_json(
                400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
            )
        elif mode == "truncated":
            text = json.dumps(matrix(form)).encode()
            handler.send(200, text[: len(text) // 2])
        elif mode == "html":
            handler.send(200, b"<html><body><h1>Sign in</h1></body></html>", "text/html")
        elif mode == "drip":
            handler.drip(json.dumps(matrix(form)).encode(), self.stop)
        elif mode == "redirect":
            handler.redirect(f"http://{self.recorder.address}{path}")
        elif mode == "redirect-loop":
            handler.redirect(handler.path)
        elif mode in ("e500", "e503", "e401", "e404"):
            handler.send(int(mode[1:]), b"server error\n", "text/plain")
        elif mode == "hang":
            handler.hang(self.stop)
        elif mode == "empty":
            handler.send_json(
                200, {"status": "success", "data": {"resultType": "matrix", "result": []}}
            )
        elif mode == "vector":
            handler.send_json(
                200,
                {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]},
                },
            )
        elif mode == "many-series":
            answer = matrix(form)
            series = answer["data"]["result"][0]
            answer["data"]["result"] = [
                {**series, "metric": {"pod": "a"}},
                {**series, "metric": {"pod": "b"}},
            ]
            handler.send_json(200, answer)
        elif mode == "garbage-values":
            answer = matrix(form)
            answer["data"]["result"][0]["values"] = [["abc", "def"], [None], "x"]
            handler.send_json(200, answer)
        elif mode == "missing-values":
            answer = matrix(form)
            del answer["data"]["result"][0]["values"]
            handler.send_json(200, answer)
        elif mode == "metric-list":
            answer = matrix(form)
            answer["data"]["result"][0]["metric"] = ["pod", "a"]
            handler.send_json(200, answer)
        elif mode == "time-garbage":
            answer = matrix(form)
            answer["data"]["result"][0]["values"] = [[1e300, "1"], [-1e300, "2"], ["nan", "3"]]
            handler.send_json(200, answer)
        elif mode == "huge":
            handler.send(200, _huge_matrix(form))
        elif mode == "echo-auth":
            seen = dict(handler.headers.items())
            handler.send(500, f"bad request from {seen}".encode(), "text/plain")
        else:
            handler.send(404, b"no such mode\n", "text/plain")


def _huge_matrix(form: dict[str, str]) -> bytes:
    """A ~10 MB answer: the asked grid, then points after it (a valid matrix)."""
    grid = _grid(form) or [0.0]
    step = float(form.get("step", "60") or 60)
    point = len(json.dumps([grid[-1], "1.25"])) + 2
    extra = HUGE_BYTES // point
    values = [[t, "1.25"] for t in grid] + [[grid[-1] + step * k, "1.25"] for k in range(1, extra)]
    answer = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
    }
    return json.dumps(answer).encode()


# --- Kubernetes API server ------------------------------------------------------------------------


API_MODES = (
    "ok",
    "hang",
    "drip",
    "e500",
    "e500-html",
    "garbage",
    "json-list",
    "json-null",
    "e401",
    "e403",
    "truncated",
    "redirect",
    "echo-auth",
    "huge",
)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class HostileApiServer(_Server):
    """``/MODE/apis/...``: see :data:`API_MODES`. ``ok`` is an empty cluster: objects are
    not found (404), lists are empty, an apply (PATCH) answers the object sent."""

    def __init__(self, recorder: _Server) -> None:
        super().__init__("apiserver")
        self.recorder = recorder

    def respond(self, handler: _Handler, body: bytes) -> None:
        mode, _, rest = handler.path.lstrip("/").partition("/")
        path = "/" + rest
        if mode == "ok":
            self._empty_cluster(handler, path, body)
        elif mode == "hang":
            handler.hang(self.stop)
        elif mode == "drip":
            handler.drip(json.dumps(_status(404, "NotFound", "not found")).encode(), self.stop)
        elif mode == "e500":
            handler.send_json(500, _status(500, "InternalError", "etcdserver: request timed out"))
        elif mode == "e500-html":
            handler.send(500, b"<html>Bad Gateway</html>", "text/html")
        elif mode == "garbage":
            handler.send(200, b"\x00\xffnot json at all{", "application/json")
        elif mode == "json-list":
            handler.send_json(200, [1, 2])
        elif mode == "json-null":
            handler.send_json(200, None)
        elif mode in ("e401", "e403"):
            code = int(mode[1:])
            handler.send_json(code, _status(code, "Unauthorized", "Unauthorized"))
        elif mode == "truncated":
            text = json.dumps({"kind": "DeploymentList", "items": [{"metadata": {"name": "w"}}]})
            handler.send(200, text.encode()[:20])
        elif mode == "redirect":
            handler.redirect(f"http://{self.recorder.address}{path}", 307)
        elif mode == "echo-auth":
            seen = handler.headers.get("Authorization", "")
            handler.send_json(500, _status(500, "InternalError", f"rejected credentials {seen}"))
        elif mode == "huge":
            items = [{"metadata": {"name": f"n{i}"}} for i in range(HUGE_BYTES // 30)]
            handler.send_json(200, {"kind": "List", "items": items})
        else:
            handler.send(404, b"no such mode\n", "text/plain")

    def _empty_cluster(self, handler: _Handler, path: str, body: bytes) -> None:
        if handler.command == "PATCH":
            try:
                obj = json.loads(body)
            except ValueError:
                obj = yaml.safe_load(body.decode("utf-8", "replace"))
            if isinstance(obj, dict):
                obj.setdefault("metadata", {})["uid"] = "00000000-fuzz"
            handler.send_json(200, obj)
            return
        segments = [s for s in path.split("?")[0].split("/") if s]
        if segments and segments[-1] in _PLURALS:
            handler.send_json(200, {"kind": "List", "apiVersion": "v1", "items": []})
        elif len(segments) >= 2 and segments[-2] == "namespaces":
            namespace = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {"name": segments[-1]},
            }
            handler.send_json(200, namespace)
        else:
            name = segments[-1] if segments else "?"
            handler.send_json(404, _status(404, "NotFound", f"{name} not found"))


_PLURALS = frozenset(
    {
        "deployments",
        "horizontalpodautoscalers",
        "nodes",
        "pods",
        "services",
        "poddisruptionbudgets",
        "ingresses",
        "jobs",
        "replicasets",
    }
)


class Recorder(_Server):
    """Another host: answers like a working Prometheus (and 404 to Kubernetes paths), and
    logs everything it is sent."""

    def __init__(self) -> None:
        super().__init__("recorder")

    def respond(self, handler: _Handler, body: bytes) -> None:
        path = handler.path.split("?")[0]
        if "/api/v1/query" in path:
            handler.send_json(200, _answer(_form(body, handler.path), path, plausible_value))
        else:
            handler.send_json(404, _status(404, "NotFound", "not found"))


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Servers:
    recorder: Recorder
    prometheus: HostilePrometheus
    api: HostileApiServer
    closed: int

    def values(self) -> dict[str, str]:
        """Placeholders for case argv: ``{prom}``, ``{api}``, ``{recorder}``, ``{closed}``."""
        return {
            "prom": self.prometheus.address,
            "api": self.api.address,
            "recorder": self.recorder.address,
            "closed": f"127.0.0.1:{self.closed}",
        }

    def close(self) -> None:
        for server in (self.prometheus, self.api, self.recorder):
            server.close()


_SERVERS: list[Servers] = []
_LOCK = threading.Lock()


def servers() -> Servers:
    """The session's servers, started on first use (daemon threads)."""
    with _LOCK:
        if not _SERVERS:
            recorder = Recorder()
            _SERVERS.append(
                Servers(
                    recorder, HostilePrometheus(recorder), HostileApiServer(recorder), closed_port()
                )
            )
        return _SERVERS[0]
