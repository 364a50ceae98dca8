"""A hostile HTTP server on 127.0.0.1 (a free port), for tests of clients that must not
trust the other side: it records every request (method, path, headers, body) and answers
whatever :class:`Reply` the test's ``route`` function returns, including redirects, a body
dripped one byte per interval, a body bigger than announced or than any cap, a connection
that is accepted and never answered, and a plain well-behaved Prometheus range answer
(:func:`prometheus_matrix`) that tests then spoil.

Use::

    with HostileServer(route) as server:   # route(request) -> Reply
        ...  server.url, server.requests

Every handler thread is a daemon and stops dripping or stalling when the server stops.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Recorded:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: str

    @property
    def form(self) -> dict[str, str]:
        """The form fields: the POST body, or the GET query string."""
        text = self.body or urllib.parse.urlsplit(self.path).query
        return dict(urllib.parse.parse_qsl(text))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class Reply:
    """What to answer. ``drip_s`` > 0 sends the whole response (status line included) one
    byte per ``drip_s`` seconds; ``stall`` accepts and never answers; ``length`` overrides
    Content-Length (None: the body's length; -1: no Content-Length, close to end);
    ``stream_bytes`` > 0 sends that many bytes of ``x`` after the body without a length."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    drip_s: float = 0.0
    stall: bool = False
    length: int | None = None
    stream_bytes: int = 0


def json_reply(answer: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(answer).encode())


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers=(("Location", location),), content_type="text/plain")


#: Values of a well-behaved answer, by a fragment of the query that identifies the column
#: (first match wins; the order matters: the replicas query of a --selector pull counts
#: CPU series).
COLUMN_VALUES: tuple[tuple[str, str, float], ...] = (
    ("requests_per_s", "http_requests_total", 40.0),
    ("replicas_ready", "kube_deployment_status_replicas_ready", 2.0),
    ("cpu_request_cores", 'resource="cpu"', 0.5),
    ("memory_request_bytes", 'resource="memory"', 536870912.0),
    ("hpa_min_replicas", "spec_min_replicas", 2.0),
    ("hpa_max_replicas", "spec_max_replicas", 10.0),
    ("hpa_current_replicas", "status_current_replicas", 2.0),
    ("hpa_desired_replicas", "status_desired_replicas", 3.0),
    ("hpa_target_cpu_utilization", "spec_target_metric", 70.0),
    ("memory_bytes", "container_memory_working_set_bytes", 2.5e8),
    ("cpu_cores", "container_cpu_usage_seconds_total", 0.8),
)


def column_of(query: str) -> str:
    """Which trace column a query of ``capsim live prometheus`` fills."""
    for column, fragment, _ in COLUMN_VALUES:
        if fragment in query:
            return column
    return "?"


def grid(form: dict[str, str]) -> list[float]:
    start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
    count = math.floor((end - start) / step + 1e-9) + 1
    return [round(start + k * step, 3) for k in range(count)]


def prometheus_matrix(form: dict[str, str]) -> dict[str, Any]:
    """A correct range answer for one of capsim's queries: one series, the column's
    constant value at every point of the grid asked."""
    value = next((v for _, f, v in COLUMN_VALUES if f in form.get("query", "")), 1.0)
    values = [[t, f"{value:g}"] for t in grid(form)]
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
    }


def fake_prometheus(request: Recorded) -> Reply:
    """A well-behaved Prometheus for capsim's queries (range and instant)."""
    form = request.form
    if request.path.split("?")[0].endswith("/api/v1/query"):
        return json_reply({"status": "success", "data": {"resultType": "vector", "result": []}})
    return json_reply(prometheus_matrix(form))


class HostileServer:
    """See the module docstring."""

    def __init__(self, route: Callable[[Recorded], Reply]) -> None:
        self.route = route
        self.requests: list[Recorded] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                recorded = Recorded(self.command, self.path, dict(self.headers.items()), body)
                server.requests.append(recorded)
                reply = server.route(recorded)
                if reply.stall:
                    server._stopping.wait(120)
                    return
                raw = self._raw(reply)
                if reply.drip_s > 0:
                    for index in range(len(raw)):
                        if server._stopping.is_set():
                            return
                        try:
                            self.wfile.write(raw[index : index + 1])
                            self.wfile.flush()
                        except OSError:
                            return
                        server._stopping.wait(reply.drip_s)
                    return
                try:
                    self.wfile.write(raw)
                    sent = 0
                    block = b"x" * 65536
                    while sent < reply.stream_bytes and not server._stopping.is_set():
                        self.wfile.write(block)
                        sent += len(block)
                except OSError:
                    return
                self.close_connection = True

            def _raw(self, reply: Reply) -> bytes:
                lines = [f"HTTP/1.1 {reply.status} X"]
                lines.append(f"Content-Type: {reply.content_type}")
                lines.extend(f"{k}: {v}" for k, v in reply.headers)
                if reply.stream_bytes == 0 and reply.length != -1:
                    announced = len(reply.body) if reply.length is None else reply.length
                    lines.append(f"Content-Length: {announced}")
                lines.append("Connection: close")
                head = "\r\n".join(lines) + "\r\n\r\n"
                return head.encode("latin-1") + reply.body

            def do_POST(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        time.sleep(0)  # let dripping handlers see the flag
