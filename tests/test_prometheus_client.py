"""The Prometheus client's edges that a healthy Prometheus does not show: overload answered
with 503 then success (retried with jittered back-off), partial-data warnings, a proxy's
HTML page, 403. Served by a scripted loopback HTTP server (canned answers in order)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from capsim.kube.prometheus import Auth, Prometheus, PrometheusError

MATRIX = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[100, "1.5"], [130, "2"]]}],
    },
}


class Scripted:
    """Answers POSTs with the next ``(status, content type, body)``; records requests."""

    def __init__(self, answers: list[tuple[int, str, bytes]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                script.requests.append(
                    {"path": self.path, "headers": dict(self.headers),
                     "body": self.rfile.read(length).decode()}
                )  # fmt: skip
                status, kind, body = script.answers.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def scripted() -> Iterator[Any]:
    made: list[Scripted] = []

    def make(*answers: tuple[int, str, bytes]) -> Scripted:
        made.append(Scripted(list(answers)))
        return made[-1]

    yield make
    for server in made:
        server.server.shutdown()
        server.server.server_close()


def ok(body: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(body).encode()


def client(url: str, waits: list[float], **kwargs: Any) -> Prometheus:
    return Prometheus(url, sleep=waits.append, rng=random.Random(7), **kwargs)


def test_overload_is_retried_with_jittered_back_off(scripted: Any) -> None:
    busy = (503, "text/plain", b"overloaded")
    server = scripted(busy, busy, ok(MATRIX))
    waits: list[float] = []
    (series,) = client(server.url, waits).query_range("up", 100, 130, 30)
    assert list(series.values) == [1.5, 2.0]
    assert len(server.requests) == 3
    rng = random.Random(7)
    assert waits == [rng.uniform(0, 0.5), rng.uniform(0, 1.0)]
    body = server.requests[0]["body"]
    assert body == "query=up&step=30&timeout=300s&start=100&end=130"
    assert server.requests[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_retries_run_out(scripted: Any) -> None:
    busy = (503, "text/plain", b"overloaded")
    server = scripted(busy, busy)
    with pytest.raises(PrometheusError, match="HTTP 503: overloaded"):
        client(server.url, [], retries=1).query_range("up", 100, 130, 30)


def test_partial_data_warnings_are_kept(scripted: Any) -> None:
    answer = {**MATRIX, "warnings": ["store 10.0.0.7:10901 unavailable: partial response"]}
    server = scripted(ok(answer))
    prometheus = client(server.url, [])
    prometheus.query_range("up", 100, 130, 30)
    assert prometheus.warnings == ["store 10.0.0.7:10901 unavailable: partial response"]


def test_a_page_that_is_not_the_api(scripted: Any) -> None:
    server = scripted((200, "text/html", b"<html>login</html>"))
    with pytest.raises(PrometheusError, match=r"not the Prometheus API \(got text/html\)"):
        client(server.url, []).query_range("up", 100, 130, 30)


def test_forbidden_names_the_tenant_header(scripted: Any) -> None:
    server = scripted((403, "text/plain", b"forbidden"))
    auth = Auth(headers=(("X-Scope-OrgID", "team-a"),), bearer_token="t0k")
    with pytest.raises(PrometheusError) as caught:
        client(server.url, [], auth=auth).query_range("up", 100, 130, 30)
    assert "403 with X-Scope-OrgID, a bearer token" in str(caught.value)
    assert "X-Scope-OrgID: TENANT" in str(caught.value)
    headers = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer t0k"
    assert headers["x-scope-orgid"] == "team-a"  # header names are case-insensitive


def test_bad_url() -> None:
    with pytest.raises(PrometheusError, match="expected http"):
        Prometheus("prometheus:9090")


def test_cluster_matcher_narrows_every_query() -> None:
    from capsim.kube.pull import Target, target_queries

    queries = target_queries(Target("shop", "web", cluster="eu-1", rate_query="x"))
    for name, promql in queries.items():
        if name != "requests_per_s":  # the user's own PromQL is theirs
            assert 'cluster="eu-1"' in promql, name
    assert queries["requests_per_s"] == "sum(x)"
