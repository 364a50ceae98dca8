"""`capsim live prometheus` against a real Prometheus (Debian's 2.42, started by the test on
a free loopback port): history backfilled with promtool from a known trace in the shapes
of cAdvisor and kube-state-metrics is recovered (values within 1 %, timestamps exact), long
ranges are split, auth, gaps, errors, the recent-data path through a live exporter, and the
round trip trace → Prometheus → pull → `capsim validate`."""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_server import (
    PrometheusServer,
    backfill,
    prometheus_unavailable_reason,
)
from validate_examples import EXAMPLES

import capsim
from capsim.cli import main as cli
from capsim.kube import prometheus as prometheus_module
from capsim.kube.prometheus import MAX_POINTS_PER_SERIES, chunk_ranges

DAY_S = 86_400
SAMPLE_S = 15  # the scrape interval of the backfilled history
PODS = {"web-7d4f-a": 0.0, "web-7d4f-b": 1.3}  # pod → phase of its daily CPU wave
OTHER_POD = "api-55c-a"  # another Deployment's pod: must not be counted
GAP = (30 * 3600, 31 * 3600)  # seconds after the start: no cAdvisor data for web


@pytest.fixture(autouse=True)
def _need_prometheus() -> None:
    reason = prometheus_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def cpu_cores(pod_phase: float, t: float) -> float:
    """The known trace: one pod's CPU cores at ``t`` seconds after the start."""
    return 0.4 + 0.2 * math.sin(2 * math.pi * t / DAY_S + pod_phase)


def cpu_seconds(pod_phase: float, t: float) -> float:
    """∫₀ᵗ cpu_cores: the cAdvisor counter."""
    k = 2 * math.pi / DAY_S
    return 0.4 * t - 0.2 / k * (math.cos(k * t + pod_phase) - math.cos(pod_phase))


def requests_per_s(t: float) -> float:
    """The known request rate of the whole Deployment (both pods)."""
    return 50.0 + 20.0 * math.sin(2 * math.pi * t / DAY_S)


def requests_total(t: float) -> float:
    k = 2 * math.pi / DAY_S
    return 50.0 * t - 20.0 / k * (math.cos(k * t) - 1.0)


def memory_bytes(t: float) -> int:
    return int(200 * 2**20 + 50 * 2**20 * math.sin(2 * math.pi * t / DAY_S))


def openmetrics(start_s: int, days: float) -> str:
    """The history as OpenMetrics text (series sorted by time, ``# EOF`` last)."""
    times = [float(x) for x in range(0, int(days * DAY_S) + 1, SAMPLE_S)]
    stamps = np.asarray(times)
    in_gap = (stamps >= GAP[0]) & (stamps < GAP[1])
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, name: str, labels: str, values: Any, keep: Any) -> None:
        lines = families.setdefault(family, (kind, []))[1]
        for t, v, k in zip(times, values, keep, strict=True):
            if k:
                lines.append(f"{name}{{{labels}}} {v} {start_s + int(t)}")

    everywhere = np.ones(stamps.size, dtype=bool)
    for pod, phase in PODS.items():
        where = f'namespace="shop",pod="{pod}"'
        app = f'{where},container="app",image="ghcr.io/acme/web:1"'
        counter = [f"{cpu_seconds(phase, t):.6f}" for t in times]
        add(
            "container_cpu_usage_seconds",
            "counter",
            "container_cpu_usage_seconds_total",
            f'{app},job="kubelet"',
            counter,
            ~in_gap,
        )
        # The same container scraped by a second job: must be counted once.
        add(
            "container_cpu_usage_seconds",
            "counter",
            "container_cpu_usage_seconds_total",
            f'{app},job="kubelet-2"',
            counter,
            ~in_gap,
        )
        # The pod's cgroup total (container=""): must not be added to its containers.
        add(
            "container_cpu_usage_seconds",
            "counter",
            "container_cpu_usage_seconds_total",
            f'{where},container="",image="",job="kubelet"',
            counter,
            ~in_gap,
        )
        add(
            "container_memory_working_set_bytes",
            "gauge",
            "container_memory_working_set_bytes",
            f'{app},job="kubelet"',
            [memory_bytes(t) for t in times],
            ~in_gap,
        )
        add(
            "kube_pod_owner",
            "gauge",
            "kube_pod_owner",
            f'{where},owner_kind="ReplicaSet",owner_name="web-7d4f"',
            [1] * stamps.size,
            everywhere,
        )
        for resource, unit, value in (("cpu", "core", 0.5), ("memory", "byte", 536870912)):
            add(
                "kube_pod_container_resource_requests",
                "gauge",
                "kube_pod_container_resource_requests",
                f'{where},container="app",resource="{resource}",unit="{unit}"',
                [value] * stamps.size,
                everywhere,
            )
        share = [f"{requests_total(t) / 2:.6f}" for t in times]
        add(
            "http_requests",
            "counter",
            "http_requests_total",
            f'{where},code="200"',
            share,
            everywhere,
        )
    other = f'namespace="shop",pod="{OTHER_POD}"'
    add(
        "container_cpu_usage_seconds",
        "counter",
        "container_cpu_usage_seconds_total",
        f'{other},container="app",image="api:1",job="kubelet"',
        [f"{3.0 * t}" for t in times],
        everywhere,
    )
    add(
        "kube_pod_owner",
        "gauge",
        "kube_pod_owner",
        f'{other},owner_kind="ReplicaSet",owner_name="api-55c"',
        [1] * stamps.size,
        everywhere,
    )
    for replicaset, deployment in (("web-7d4f", "web"), ("api-55c", "api")):
        add(
            "kube_replicaset_owner",
            "gauge",
            "kube_replicaset_owner",
            f'namespace="shop",replicaset="{replicaset}",owner_kind="Deployment",'
            f'owner_name="{deployment}"',
            [1] * stamps.size,
            everywhere,
        )
        add(
            "kube_deployment_created",
            "gauge",
            "kube_deployment_created",
            f'namespace="shop",deployment="{deployment}"',
            [start_s] * stamps.size,
            everywhere,
        )
    add(
        "kube_deployment_status_replicas_ready",
        "gauge",
        "kube_deployment_status_replicas_ready",
        'namespace="shop",deployment="web"',
        [2] * stamps.size,
        everywhere,
    )
    hpa = 'namespace="shop",horizontalpodautoscaler="web"'
    add(
        "kube_horizontalpodautoscaler_info",
        "gauge",
        "kube_horizontalpodautoscaler_info",
        f'{hpa},scaletargetref_kind="Deployment",scaletargetref_name="web"',
        [1] * stamps.size,
        everywhere,
    )
    for metric, value in (
        ("spec_min_replicas", 2),
        ("spec_max_replicas", 10),
        ("status_current_replicas", 2),
        ("status_desired_replicas", 3),
    ):
        add(
            f"kube_horizontalpodautoscaler_{metric}",
            "gauge",
            f"kube_horizontalpodautoscaler_{metric}",
            hpa,
            [value] * stamps.size,
            everywhere,
        )
    add(
        "kube_horizontalpodautoscaler_spec_target_metric",
        "gauge",
        "kube_horizontalpodautoscaler_spec_target_metric",
        f'{hpa},metric_name="cpu",metric_target_type="utilization"',
        [70] * stamps.size,
        everywhere,
    )
    text = []
    for family, (kind, lines) in families.items():
        text.append(f"# TYPE {family} {kind}")
        text.extend(lines)
    return "\n".join([*text, "# EOF", ""])


HISTORY_DAYS = 2
AUTH = ("capsim", "s3cret")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, int]]:
    """A Prometheus (basic auth on) holding two days of history that ended 5 h ago."""
    end = (int(time.time()) - 5 * 3600) // 3600 * 3600
    start = end - HISTORY_DAYS * DAY_S
    data = tmp_path_factory.mktemp("tsdb")
    backfill(openmetrics(start, HISTORY_DAYS), data)
    with PrometheusServer(data, basic_auth=AUTH) as server:
        yield server, start


def pull(server: PrometheusServer, tmp: Path, *extra: str, auth: bool = True) -> int:
    args = ["live", "prometheus", "--url", server.url, "--namespace", "shop"]
    if auth:
        secret = tmp / "basic-auth"
        secret.write_text(f"{AUTH[0]}:{AUTH[1]}\n")
        args += ["--basic-auth-file", str(secret)]
    return cli.main([*args, *extra])


def test_chunks_stay_under_the_point_limit_and_on_the_step() -> None:
    pieces = chunk_ranges(0, 2 * DAY_S, 15)
    assert len(pieces) == 2  # 11,521 points
    assert pieces[0] == (0, 15 * (MAX_POINTS_PER_SERIES - 1))
    assert pieces[1] == (15 * MAX_POINTS_PER_SERIES, 2 * DAY_S)
    for first, last in pieces:
        assert (last - first) / 15 + 1 <= MAX_POINTS_PER_SERIES
    assert chunk_ranges(10, 10, 30) == [(10, 10)]


def test_the_known_trace_comes_back(
    history: tuple[PrometheusServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, start = history
    sent: list[dict[str, str]] = []
    original = prometheus_module.Prometheus._post

    def spy(self: Any, path: str, form: dict[str, str]) -> Any:
        sent.append({"path": path, **form})
        return original(self, path, form)

    monkeypatch.setattr(prometheus_module.Prometheus, "_post", spy)
    out = tmp_path / "web.csv"
    begin, end = start + 3600, start + HISTORY_DAYS * DAY_S
    code = pull(
        server,
        tmp_path,
        "--deployment",
        "web",
        "--start",
        str(begin),
        "--end",
        str(end),
        "--step",
        "15s",
        "--rate-query",
        'rate(http_requests_total{namespace="shop"}[2m])',
        "--out",
        str(out),
    )
    assert code == 0
    printed = capsys.readouterr().out
    trace = pd.read_csv(out)
    # Timestamps exact: every 15 s from --start to --end.
    expected = pd.date_range(
        pd.Timestamp(begin, unit="s", tz="UTC"), periods=len(trace), freq="15s"
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert list(trace["timestamp"]) == list(expected)
    assert len(trace) == (end - begin) // 15 + 1
    # Split under 11,000 points per series: more than one request per column.
    ranges = [r for r in sent if r["path"] == "/api/v1/query_range"]
    for request in ranges:
        points = (float(request["end"]) - float(request["start"])) / 15 + 1
        assert points <= MAX_POINTS_PER_SERIES
    cpu_requests = [r for r in ranges if "container_cpu_usage_seconds_total" in r["query"]]
    assert len(cpu_requests) == 2
    # Values within 1 % of the known trace, outside the gap.
    t = np.arange(len(trace)) * 15.0 + (begin - start)
    known_cpu = np.sum([[cpu_cores(phase, x) for x in t] for phase in PODS.values()], axis=0)
    outside = (t < GAP[0]) | (t >= GAP[1] + 180)
    got = trace["cpu_cores"].to_numpy()
    assert np.all(np.isfinite(got[outside]))
    assert np.max(np.abs(got[outside] / known_cpu[outside] - 1)) < 0.01
    known_rps = np.array([requests_per_s(x) for x in t])
    assert np.max(np.abs(trace["requests_per_s"] / known_rps - 1)) < 0.01
    known_memory = 2 * np.array([memory_bytes(x) for x in t])
    assert np.max(np.abs(trace["memory_bytes"][outside] / known_memory[outside] - 1)) < 0.01
    assert set(trace["replicas_ready"]) == {2}
    assert set(trace["cpu_request_cores"]) == {0.5}
    assert set(trace["memory_request_bytes"]) == {536870912}
    for column, value in (
        ("hpa_min_replicas", 2),
        ("hpa_max_replicas", 10),
        ("hpa_desired_replicas", 3),
        ("hpa_target_cpu_utilization", 70),
    ):
        assert set(trace[column]) == {value}
    # The gap stays a gap (never interpolated), and is reported.
    inside = (t >= GAP[0] + 180) & (t < GAP[1])
    assert trace["cpu_cores"][inside].isna().all()
    gap_text = pd.Timestamp(start + GAP[0], unit="s", tz="UTC").strftime("%Y-%m-%dT%H")
    cpu_warning = next(
        line for line in printed.splitlines() if line.startswith("warning: cpu_cores")
    )
    assert "samples missing" in cpu_warning
    assert gap_text in cpu_warning
    assert f"wrote {out}: {len(trace)} rows every 15 s" in printed


def test_selector_instead_of_owners_and_dedup(
    history: tuple[PrometheusServer, int], tmp_path: Path
) -> None:
    server, start = history
    out = tmp_path / "sel.csv"
    end = start + HISTORY_DAYS * DAY_S
    code = pull(
        server,
        tmp_path,
        "--deployment",
        "web",
        "--selector",
        "web-.*",
        "--start",
        str(end - 3600),
        "--end",
        str(end),
        "--step",
        "60s",
        "--out",
        str(out),
    )
    assert code == 0
    trace = pd.read_csv(out)
    t = np.arange(len(trace)) * 60.0 + (end - 3600 - start)
    known = np.sum([[cpu_cores(p, x) for x in t] for p in PODS.values()], axis=0)
    assert np.max(np.abs(trace["cpu_cores"] / known - 1)) < 0.01


def test_credentials_are_required_and_named(
    history: tuple[PrometheusServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = history
    out = tmp_path / "x.csv"
    code = pull(
        server, tmp_path, "--deployment", "web", "--since", "1h", "--out", str(out), auth=False
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "401 with no credentials: pass --bearer-token-file, --basic-auth-file" in err
    assert not out.exists()  # nothing half-written
    wrong = tmp_path / "wrong"
    wrong.write_text("capsim:nope")
    code = cli.main(
        [
            "live",
            "prometheus",
            "--url",
            server.url,
            "--namespace",
            "shop",
            "--deployment",
            "web",
            "--since",
            "1h",
            "--basic-auth-file",
            str(wrong),
        ]
    )
    assert code == 2
    assert "401 with basic auth as 'capsim'" in capsys.readouterr().err


def test_query_errors_and_empty_matches_are_explained(
    history: tuple[PrometheusServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, start = history
    end = str(start + HISTORY_DAYS * DAY_S)
    code = pull(
        server,
        tmp_path,
        "--deployment",
        "web",
        "--end",
        end,
        "--since",
        "1h",
        "--rate-query",
        "rate(http_requests_total[2m]",
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "Prometheus rejected" in err
    assert "parse error" in err
    code = pull(server, tmp_path, "--deployment", "shop-frontend", "--end", end, "--since", "1h")
    assert code == 2
    err = capsys.readouterr().err
    assert "no CPU series for Deployment shop/shop-frontend" in err
    assert "Deployments in namespace shop: ['api', 'web']" in err
    assert err.startswith(f"capsim: error: {server.url}: ")  # every error names the URL


#: Label values that must reach Prometheus as exactly themselves: quotes, backslashes and
#: text that would close the literal and add PromQL, tabs, and UTF-8 beyond the BMP (which
#: JSON would escape as a surrogate pair, an error in PromQL's Go-style escapes).
HOSTILE_LABEL_VALUES = [
    'eu"} or vector(1) or {x="',
    "back\\slash\\",
    'quote"',
    "tab\there",
    "line\nbreak",
    "del\x7fchar",
    "caf\u00e9 \U0001f30d",
    "\\x41 is not A",
]


@pytest.mark.parametrize("value", HOSTILE_LABEL_VALUES)
def test_label_values_read_back_exactly_from_a_real_prometheus(
    history: tuple[PrometheusServer, int], value: str
) -> None:
    """Prometheus's own lexer reads each literal capsim writes back as the value given."""
    server, _ = history
    client = prometheus_module.Prometheus(server.url, prometheus_module.Auth(basic_auth=AUTH))
    literal = prometheus_module.promql_string(value)
    answer = client.query(f'label_replace(vector(1), "x", {literal}, "", "")', time.time())
    assert [labels.get("x") for labels, _ in answer] == [value]
    # absent() answers with the labels of its selector's equality matchers: the matcher
    # capsim writes reads back too.
    matchers = prometheus_module.label_matchers([("x", "=", value), ("y", "!=", value)])
    absent = client.query(f"absent(capsim_no_such_metric{{{matchers}}})", time.time())
    assert [labels for labels, _ in absent] == [{"x": value}]


def test_a_hostile_cluster_value_is_a_plain_label_value(
    history: tuple[PrometheusServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cluster with a quote, a backslash and a character beyond the BMP: Prometheus parses
    every query (nothing matches that cluster, so: no CPU series), never a parse error."""
    server, start = history
    end = str(start + HISTORY_DAYS * DAY_S)
    code = pull(
        server, tmp_path, "--deployment", "web", "--end", end, "--since", "1h",
        "--cluster", 'eu-\U0001f30d"} or vector(1) #\\',
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "no CPU series for Deployment shop/web" in err, err
    assert "parse error" not in err


def test_unreachable_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    code = cli.main(
        [
            "live",
            "prometheus",
            "--url",
            f"http://127.0.0.1:{port}",
            "--namespace",
            "shop",
            "--deployment",
            "web",
            "--since",
            "1h",
        ]
    )
    assert code == 2
    assert f"http://127.0.0.1:{port}: unreachable after 4 attempts" in capsys.readouterr().err
    # Retries back off with jitter: three waits, each within its doubling bound.
    assert len(waits) == 3
    assert all(0 <= w <= 0.5 * 2**i for i, w in enumerate(waits))


def test_round_trip_gives_the_same_verdict(
    history: tuple[PrometheusServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """trace → Prometheus → pull → `capsim validate`: the verdict of the original trace."""
    server, start = history
    begin, end = start + 6 * 3600, start + 30 * 3600 - 60
    pulled = tmp_path / "pulled.csv"
    code = pull(
        server,
        tmp_path,
        "--deployment",
        "web",
        "--start",
        str(begin),
        "--end",
        str(end),
        "--step",
        "60s",
        "--rate-query",
        'rate(http_requests_total{namespace="shop"}[2m])',
        "--out",
        str(pulled),
    )
    assert code == 0
    frame = pd.read_csv(pulled)
    original = tmp_path / "original.csv"
    seconds = begin - start + 60.0 * np.arange(len(frame))
    pd.DataFrame(
        {"timestamp": frame["timestamp"], "requests_per_s": [requests_per_s(x) for x in seconds]}
    ).to_csv(original, index=False)
    verdicts = {}
    for hpa in ("hpa-pass.yaml", "hpa-low-max.yaml"):
        for trace in (original, pulled):
            capsys.readouterr()
            cli.main(
                [
                    "validate",
                    "--hpa",
                    str(EXAMPLES / hpa),
                    "--deployment",
                    str(EXAMPLES / "deployment.yaml"),
                    "--trace",
                    str(trace),
                    "--scale",
                    "3",
                    "--cpu-ms-per-request",
                    "30",
                    "--slo-p95-ms",
                    "200",
                    "--json",
                ]
            )
            verdicts[(hpa, trace.name)] = json.loads(capsys.readouterr().out)["verdict"]
    assert verdicts[("hpa-pass.yaml", "original.csv")] == verdicts[("hpa-pass.yaml", "pulled.csv")]
    assert (
        verdicts[("hpa-low-max.yaml", "original.csv")]
        == (verdicts[("hpa-low-max.yaml", "pulled.csv")])
    )
    assert set(verdicts.values()) == {"PASS", "FAIL"}  # the check can tell them apart


def test_recent_data_from_a_live_exporter(tmp_path: Path) -> None:
    """The recent-data path: a prometheus_client exporter in cAdvisor/kube-state-metrics
    shapes, scraped every second, pulled over the last seconds."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

    registry = CollectorRegistry()
    cpu = Counter(
        "container_cpu_usage_seconds",
        "cpu",
        ["namespace", "pod", "container", "image"],
        registry=registry,
    )
    owner = Gauge(
        "kube_pod_owner",
        "owner",
        ["namespace", "pod", "owner_kind", "owner_name"],
        registry=registry,
    )
    rs_owner = Gauge(
        "kube_replicaset_owner",
        "rs",
        ["namespace", "replicaset", "owner_kind", "owner_name"],
        registry=registry,
    )
    ready = Gauge(
        "kube_deployment_status_replicas_ready",
        "ready",
        ["namespace", "deployment"],
        registry=registry,
    )
    for pod in PODS:
        owner.labels("shop", pod, "ReplicaSet", "web-7d4f").set(1)
    rs_owner.labels("shop", "web-7d4f", "Deployment", "web").set(1)
    ready.labels("shop", "web").set(2)
    server_http, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def burn() -> None:  # 0.5 core per pod, in CPU-seconds per wall second
        while not stop.wait(0.1):
            for pod in PODS:
                cpu.labels("shop", pod, "app", "web:1").inc(0.05)

    burner = threading.Thread(target=burn, daemon=True)
    burner.start()
    port = server_http.server_address[1]
    try:
        with PrometheusServer(scrape_targets=[f"127.0.0.1:{port}"], scrape_interval_s=0.5) as prom:
            prom.wait_for_scrape("capsim-test")
            time.sleep(9)  # the pulled window and its rate window lie after the first scrapes
            out = tmp_path / "recent.csv"
            code = cli.main(
                [
                    "live",
                    "prometheus",
                    "--url",
                    prom.url,
                    "--namespace",
                    "shop",
                    "--deployment",
                    "web",
                    "--since",
                    "4s",
                    "--step",
                    "1s",
                    "--rate-window",
                    "3s",
                    "--out",
                    str(out),
                ]
            )
            assert code == 0
    finally:
        stop.set()
        server_http.shutdown()
        thread.join()
    trace = pd.read_csv(out)
    have = trace.dropna(subset=["cpu_cores"])
    assert len(have) >= 3
    assert np.allclose(have["cpu_cores"], 1.0, rtol=0.15)
    assert set(trace["replicas_ready"].dropna()) == {2}


def test_one_command_gives_a_trace_and_a_scenario_then_compare(
    history: tuple[PrometheusServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, start = history
    end = start + HISTORY_DAYS * DAY_S
    trace, scenario = tmp_path / "web.csv", tmp_path / "web.yaml"
    code = pull(
        server, tmp_path, "--deployment", "web", "--start", str(end - 6 * 3600), "--end",
        str(end), "--step", "60s", "--rate-query",
        'rate(http_requests_total{namespace="shop"}[2m])', "--out", str(trace),
        "--scenario-out", str(scenario),
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert f"next: capsim live compare --trace {trace} --scenario {scenario}" in printed
    loaded = capsim.load_scenario(scenario)
    platform = loaded.platforms["kubernetes"]
    assert isinstance(platform, capsim.scenario.KubernetesPlatform)
    config = platform.workloads["web"]
    assert config.pod is not None
    assert config.pod.cpu_request_millicores == 500
    assert config.hpa is not None
    assert (config.hpa.min_replicas, config.hpa.max_replicas) == (2, 10)
    assert config.hpa.metrics[0].target.average_utilization == 70
    (service,) = loaded.workloads
    # CPU per request: the known CPU-seconds over the known requests of those six hours.
    t = end - 6 * 3600 - start + 60.0 * np.arange(6 * 60 + 1)
    cpu = sum(cpu_cores(phase, x) for phase in PODS.values() for x in t)
    expected_ms = 1000 * cpu / sum(requests_per_s(x) for x in t)
    assert service.cpu_ms_per_request == pytest.approx(expected_ms, rel=0.01)  # type: ignore[union-attr]
    out = tmp_path / "compare"
    assert (
        cli.main(
            [
                "live",
                "compare",
                "--trace",
                str(trace),
                "--scenario",
                str(scenario),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "replicas: the same as the cluster's" in capsys.readouterr().out
    assert (out / "calibration.png").is_file()


def test_path_prefix_and_tenant_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Mimir/Thanos-style deployments: the API under a path prefix, a tenant header."""
    end = (int(time.time()) - 5 * 3600) // 3600 * 3600
    start = end - DAY_S // 4
    data = tmp_path / "tsdb"
    data.mkdir()
    backfill(openmetrics(start, 0.25), data)
    sent: list[dict[str, str]] = []
    with PrometheusServer(data, route_prefix="/prometheus") as server:
        base = ["live", "prometheus", "--namespace", "shop", "--deployment", "web",
                "--start", str(end - 3600), "--end", str(end), "--step", "60s"]  # fmt: skip
        out = tmp_path / "web.csv"
        code = cli.main([*base, "--url", server.url, "--out", str(out)])
        assert code == 2
        assert "not the Prometheus API; check the URL's path prefix" in capsys.readouterr().err
        original = http.client.HTTPConnection.request

        def spy(self: Any, method: str, url: str, body: Any = None, headers: Any = None,
                **kwargs: Any) -> Any:  # fmt: skip
            sent.append({k.capitalize(): v for k, v in (headers or {}).items()})
            return original(self, method, url, body, headers or {}, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(http.client.HTTPConnection, "request", spy)
            code = cli.main([*base, "--url", f"{server.url}/prometheus/", "--out", str(out),
                             "--header", "X-Scope-OrgID: tenant-1"])  # fmt: skip
    assert code == 0
    assert len(pd.read_csv(out)) == 61
    assert sent
    assert all(headers.get("X-scope-orgid") == "tenant-1" for headers in sent)
    assert all(
        headers.get("Content-type") == "application/x-www-form-urlencoded" for headers in sent
    )


def test_an_existing_out_file_is_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """capsim cannot tell whether it wrote a CSV: an existing one is refused (before any
    request; the URL here answers nothing) unless --force."""
    from capsim.cli import main as cli

    for flag in ("--out", "--scenario-out"):
        existing = tmp_path / f"existing{flag}.csv"
        existing.write_text("my data\n")
        args = ["live", "prometheus", "--url", "http://127.0.0.1:9", "--namespace", "shop"]
        args += ["--deployment", "web"]
        args += ["--since", "1h", flag, str(existing)]
        if flag == "--scenario-out":
            args += ["--out", str(tmp_path / "new.csv")]
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert f"{flag} {existing}: the file exists" in err
        assert "give --force" in err
        assert existing.read_text() == "my data\n"
