"""The Prometheus test harness (tests/prometheus_server.py) against the real binaries: history
backfilled with promtool and read back through ``/api/v1/query_range``, basic auth, and a live
scrape of a ``prometheus_client`` exporter. Skipped, with the reason, only where Prometheus
cannot be installed (see scripts/install-test-deps.sh)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_server import (
    BackfillError,
    PrometheusError,
    PrometheusServer,
    backfill,
    prometheus_unavailable_reason,
)

STEP_S = 30  # backfilled resolution
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
HOUR_S = 3600


@pytest.fixture(autouse=True)
def _need_prometheus() -> None:
    reason = prometheus_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def _rps(t: int) -> int:
    """Requests per second of the synthetic service during the hour holding ``t``."""
    return 1 + (t // HOUR_S) % 4


def _gauge(t: int) -> float:
    """Replicas of the synthetic service at ``t``: a sawtooth with half-unit steps."""
    return (t // STEP_S) % 97 * 0.5


def _history(start: int, end: int) -> str:
    """OpenMetrics text: a counter (``# TYPE capsim_requests counter``, samples
    ``capsim_requests_total``) growing at ``_rps`` and a gauge at ``_gauge``, every ``STEP_S``
    from ``start`` to ``end`` inclusive, timestamps in seconds, ending with ``# EOF``."""
    times = range(start, end + 1, STEP_S)
    lines = ["# HELP capsim_requests Requests served.", "# TYPE capsim_requests counter"]
    total = 0
    for t in times:
        lines.append(f'capsim_requests_total{{service="web"}} {total} {t}')
        total += _rps(t) * STEP_S  # the increase over (t, t + STEP_S]
    lines += ["# HELP capsim_replicas Ready replicas.", "# TYPE capsim_replicas gauge"]
    lines += [f'capsim_replicas{{service="web"}} {_gauge(t)} {t}' for t in times]
    return "\n".join([*lines, "# EOF", ""])


def _post(url: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    with _OPENER.open(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return json.load(response)


def _query_range(
    prom: PrometheusServer, query: str, start: int, end: int, step: int
) -> list[tuple[int, float]]:
    """One series from a real ``POST /api/v1/query_range`` (form-encoded), as (t, value)."""
    form = {"query": query, "start": str(start), "end": str(end), "step": str(step)}
    body = _post(f"{prom.url}/api/v1/query_range", form, prom.auth_header)
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "matrix"
    [series] = body["data"]["result"]
    assert series["metric"].get("service") == "web"
    return [(int(t), float(v)) for t, v in series["values"]]


def test_backfilled_history_is_served_by_query_range(tmp_path: Path) -> None:
    end = (int(time.time()) - 4 * HOUR_S) // HOUR_S * HOUR_S  # 4-5 h ago, on the hour
    start = end - 2 * 24 * HOUR_S
    data_dir = tmp_path / "tsdb"
    backfill(_history(start, end), data_dir)
    assert len([p for p in data_dir.iterdir() if (p / "meta.json").exists()]) == 25  # 2 h blocks

    with PrometheusServer(data_dir) as prom:
        assert prom.data_dir == data_dir
        # The rate over 2 min windows, hourly at half past: each window lies in one hour.
        at = range(start + HOUR_S // 2, end, HOUR_S)
        rates = _query_range(prom, "rate(capsim_requests_total[2m])", at[0], at[-1], HOUR_S)
        assert [t for t, _ in rates] == list(at)
        assert [v for _, v in rates] == pytest.approx([_rps(t) for t in at], rel=1e-12)
        assert {v for _, v in rates} == {1.0, 2.0, 3.0, 4.0}

        # The gauge at every sample of the last hour, and at both ends of the history.
        values = _query_range(prom, "capsim_replicas", end - HOUR_S, end, STEP_S)
        expected = [(t, _gauge(t)) for t in range(end - HOUR_S, end + 1, STEP_S)]
        assert values == expected
        assert _query_range(prom, "capsim_replicas", start, start, 60) == [(start, _gauge(start))]
        # Nothing before the history starts (beyond the 5 min lookback).
        assert prom.query("capsim_replicas", at_s=start - 301) == []


def test_backfill_reports_promtool_errors(tmp_path: Path) -> None:
    with pytest.raises(BackfillError, match="# EOF"):
        backfill("# TYPE g gauge\ng 1 1700000000\n", tmp_path / "tsdb")


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with _OPENER.open(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_is_required() -> None:
    with PrometheusServer(basic_auth=("capsim", "s3cret")) as prom:
        url = f"{prom.url}/api/v1/query?query=1"
        assert _status(url, {}) == 401
        assert _status(url, _basic("capsim", "wrong")) == 401
        assert _status(url, _basic("capsim", "s3cret")) == 200
        assert prom.auth_header == _basic("capsim", "s3cret")
        [answer] = prom.query("vector(2)")  # the harness's own requests send the credentials
        assert float(answer["value"][1]) == 2.0


def test_a_live_exporter_is_scraped() -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    replicas = Gauge("capsim_live_replicas", "Replicas.", ["service"], registry=registry)
    replicas.labels(service="web").set(7.5)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        target = f"127.0.0.1:{server.server_port}"
        with PrometheusServer(scrape_targets=[target], job="exporter") as prom:
            after_s = prom.wait_for_scrape("exporter")
            assert 0 < after_s < 20
            [sample] = prom.query('capsim_live_replicas{job="exporter"}')
            assert sample["metric"]["service"] == "web"
            assert sample["metric"]["instance"] == target
            assert float(sample["value"][1]) == 7.5
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_server_cleans_up_and_explains_failures(tmp_path: Path) -> None:
    with PrometheusServer() as prom:
        tmp_data = prom.data_dir
        log = prom.log_path
        assert tmp_data.is_dir()
        assert "Server is ready to receive web requests." in prom.log_tail()
    assert not tmp_data.exists()
    assert not log.exists()

    with pytest.raises(PrometheusError, match="unknown long flag") as failure:
        PrometheusServer(tmp_path / "kept", extra_args=["--no-such-flag"]).__enter__()
    assert "exited with status" in str(failure.value)
    assert (tmp_path / "kept").is_dir()  # a data dir the caller gave is never removed
