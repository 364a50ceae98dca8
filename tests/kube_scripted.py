"""A scripted Kubernetes API server on 127.0.0.1 for tests of how capsim takes answers
that a real API server gives rarely or a server in front of it gives instead: every request
is answered by a function of the request (method, path, headers, body), and every request
is logged. Used by the tests of issue 14's Kubernetes edge (credentials echoed back,
5xx/403/HTML answers, malformed objects).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Answer", "ScriptedApiServer", "Seen", "status", "write_kubeconfig"]


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A header's value ("" if absent), the name in any case."""
        found = [v for k, v in self.headers.items() if k.lower() == name.lower()]
        return found[0] if found else ""


@dataclass(frozen=True)
class Answer:
    """One answer: HTTP code, body, content type, extra headers."""

    code: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, code: int, data: Any) -> Answer:
        return cls(code, json.dumps(data).encode())


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A ``metav1.Status`` as the API server sends it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


Script = Callable[[Seen], Answer]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(seen)
        answer = owner.script(seen)
        self.send_response(answer.code)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)


for _method in ("GET", "PATCH", "POST", "PUT", "DELETE"):
    setattr(_Handler, f"do_{_method}", _Handler._serve)


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedApiServer


class ScriptedApiServer:
    """Serves ``script`` on a free loopback port while used as a context manager."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._httpd = _Http(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ScriptedApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def write_kubeconfig(path: Path, server: str, user: dict[str, Any]) -> Path:
    """A kubeconfig with one context (namespace ``shop``) reaching ``server`` as ``user``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "shop"}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
