"""`capsim live metrics-server` against the API-server stand-in (`tests/kube_apiserver.py`)
through a generated kubeconfig and the real `kubernetes` client, on a fake clock: exact
quantities, rows on the grid, pods coming and going, a row flushed per sample (read back
after an interrupt), gaps, 401/404/503/unreachable, the exact requests sent, `--deployment`
selector resolution, and the CSV read by capsim's own trace reader."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from kube_apiserver import ApiServer
from kube_scripted import Answer, ScriptedApiServer, Seen, write_kubeconfig

from capsim.cli import main as cli
from capsim.cli.live_cluster import run_cluster
from capsim.kube.metrics_server import (
    Sample,
    format_cores,
    pod_usage,
    record,
    sample_count,
    selector_of,
)
from capsim.scenario.load import TraceLoad, WorkloadError, read_trace

START = int(datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC).timestamp())
HEADER = "timestamp,cpu_cores,memory_bytes,pods"
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"


def pod(
    name: str,
    *containers: tuple[str, str, str],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A PodMetrics item as metrics-server serves it; containers are (name, cpu, memory)."""
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "web"} if labels is None else labels,
            "creationTimestamp": "2026-11-25T09:59:58Z",
        },
        "timestamp": "2026-11-25T09:59:50Z",
        "window": "15s",
        "containers": [
            {"name": c, "usage": {"cpu": cpu, "memory": memory}} for c, cpu, memory in containers
        ],
    }


def deployment(name: str = "web", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": selector or {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "shop/web:1"}]},
            },
        },
    }


class FakeTime:
    """A clock that moves only when slept on; ``on_wake(now)`` runs after each sleep (the
    test changes what the stand-in serves there, between samples)."""

    def __init__(self, start: float, on_wake: Callable[[float], None] = lambda now: None):
        self.now = start
        self.sleeps: list[float] = []
        self.on_wake = on_wake

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_wake(self.now)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default outputs (``<deployment>.csv``) land in the test's folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


def kubeconfig(server: ApiServer, tmp: Path, **kwargs: Any) -> Path:
    return server.write_kubeconfig(tmp / "kubeconfig", namespace="shop", **kwargs)


def live(
    server: ApiServer, tmp: Path, time: FakeTime, *extra: str, token: str | None = None
) -> int:
    """``capsim live metrics-server`` on the fake clock (parsed by capsim's own parser)."""
    config = kubeconfig(server, tmp, **({"token": token} if token else {}))
    argv = ["live", "metrics-server", "--namespace", "shop", "--kubeconfig", str(config)]
    args = cli.build_parser().parse_args([*argv, *extra])
    return run_cluster(args, clock=time.clock, sleep=time.sleep)


def trace(folder: Path, name: str, column: str, **extra: Any) -> list[float]:
    """The column as capsim's trace reader replays it (checks the regular 15 s step)."""
    spec = TraceLoad.model_validate({"type": "trace", "path": name, "column": column} | extra)
    read = read_trace(spec, base_dir=folder)
    assert read.step_s == 15.0
    return [float(v) for v in read.values]


def metric_requests(server: ApiServer) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/apis/metrics.k8s.io")]


# --- pure parts ------------------------------------------------------------------------


def test_quantities_are_summed_exactly_over_pods_and_containers() -> None:
    usage = pod_usage(
        [
            pod("a", ("app", "123456789n", "65536Ki"), ("proxy", "250000u", "1Mi")),
            pod("b", ("app", "5m", "1000"), ("log", "1", "0")),
        ]
    )
    assert usage.cpu_cores == Fraction(123456789, 10**9) + Fraction(1, 4) + Fraction(5, 1000) + 1
    assert usage.memory_bytes == 65536 * 1024 + 2**20 + 1000
    assert usage.pods == 2
    assert format_cores(usage.cpu_cores) == "1.378456789"
    assert pod_usage([pod("a", ("app", "123456789n", "65536Ki"))]).memory_bytes == 67108864
    assert format_cores(Fraction(123456789, 10**9)) == "0.123456789"
    assert format_cores(Fraction(2)) == "2"
    assert format_cores(Fraction(1, 2)) == "0.5"
    assert format_cores(Fraction(1, 3)) == "0.333333333"  # finer than a nanocore: rounded
    assert pod_usage([]).pods == 0


def test_a_malformed_item_names_the_pod_container_and_field() -> None:
    bad = pod("a", ("app", "12x", "1Mi"))
    with pytest.raises(ValueError, match=r"PodMetrics shop/a: containers\[0\] \(app\)\.usage\.cpu"):
        pod_usage([bad])
    missing = pod("a", ("app", "1m", "1Mi"))
    del missing["containers"][0]["usage"]["memory"]
    with pytest.raises(ValueError, match=r"\(app\)\.usage\.memory: missing"):
        pod_usage([missing])


def test_a_deployment_selector_becomes_label_selector_text() -> None:
    selector = {
        "matchLabels": {"tier": "frontend", "app": "web"},
        "matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["canary"]},
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "env", "operator": "In", "values": ["prod"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "x", "operator": "NotIn", "values": ["1", "2"]},
        ],
    }
    assert selector_of(deployment(selector=selector)) == (
        "app=web,tier=frontend,track!=canary,zone in (a,b),env=prod,owner,!legacy,x notin (1,2)"
    )
    with pytest.raises(ValueError, match=r"Deployment shop/web: spec.selector: empty"):
        selector_of(deployment(selector={"matchLabels": {}}))
    odd = {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}
    with pytest.raises(ValueError, match=r"matchExpressions\[0\].operator: 'Gt' is not In"):
        selector_of(deployment(selector=odd))


def test_interval_and_duration_are_checked() -> None:
    assert sample_count(15, 600) == 40
    assert sample_count(15, 620) == 41
    with pytest.raises(ValueError, match=r"--interval: must be a whole number of seconds"):
        sample_count(1.5, 60)
    with pytest.raises(ValueError, match=r"--duration \(10s\) must be at least one --interval"):
        sample_count(15, 10)


def test_a_sample_due_an_interval_ago_is_a_gap_and_the_grid_holds() -> None:
    """A slow answer does not shift the grid: a slot already past by a whole interval is
    written as a gap; a late-but-within-its-slot sample is still taken."""
    time = FakeTime(100.0)
    durations = iter([0.1, 40.0, 0.1, 0.1])  # the second request takes 40 s

    def fetch() -> list[dict[str, Any]]:
        time.now += next(durations)
        return [pod("a", ("app", "100m", "1Mi"))]

    samples: list[Sample] = []
    done = record(
        fetch,
        interval_s=15,
        duration_s=75,
        clock=time.clock,
        sleep=time.sleep,
        on_sample=samples.append,
    )
    assert done == 5
    assert [s.time_s for s in samples] == [100, 115, 130, 145, 160]
    assert [s.usage is None for s in samples] == [False, False, True, False, False]
    assert "the previous request ended 25 s after it" in samples[2].gap_reason
    assert time.sleeps == [pytest.approx(14.9), pytest.approx(4.9)]


# --- the command against the stand-in --------------------------------------------------


def test_rows_lie_on_the_grid_as_pods_come_and_go(server: ApiServer, tmp_path: Path) -> None:
    """Each row is the scheduled time, whatever pods report then; no pod is 0,0,0."""
    served = {
        START: [pod("web-a", ("app", "250m", "64Mi")), pod("web-b", ("app", "500m", "128Mi"))],
        START + 15: [
            pod("web-a", ("app", "300m", "64Mi")),
            pod("web-b", ("app", "500m", "128Mi")),
            pod("web-c", ("app", "123456789n", "65536Ki"), ("proxy", "1u", "1Ki")),
        ],
        START + 30: [pod("web-c", ("app", "1", "1Gi"))],
        START + 45: [],
        START + 60: [pod("web-d", ("app", "2500m", "100M"))],
    }
    server.set_pod_metrics("shop", [pod("other", ("x", "9", "9Gi"), labels={"app": "db"})])
    time = FakeTime(START - 0.25, lambda now: server.set_pod_metrics("shop", served[int(now)]))
    out = tmp_path / "web.csv"
    flags = ["--selector", "app=web", "--duration", "75s", "--out", str(out)]
    assert live(server, tmp_path, time, *flags) == 0
    assert time.sleeps == [0.25, 15, 15, 15, 15]
    assert out.read_text().splitlines() == [
        HEADER,
        "2026-11-25T10:00:00Z,0.75,201326592,2",
        "2026-11-25T10:00:15Z,0.923457789,268436480,3",
        "2026-11-25T10:00:30Z,1,1073741824,1",
        "2026-11-25T10:00:45Z,0,0,0",
        "2026-11-25T10:01:00Z,2.5,100000000,1",
    ]
    # Exactly one list per sample, with the selector, through CustomObjectsApi.
    sent = metric_requests(server)
    assert [(r.method, r.path, r.query) for r in sent] == [
        ("GET", METRICS_PATH, {"labelSelector": ["app=web"]})
    ] * 5
    assert len(server.requests) == 5
    # capsim's own trace reader takes it: a regular 15 s step, exact values.
    assert trace(tmp_path, out.name, "cpu_cores") == [0.75, 0.923457789, 1.0, 0.0, 2.5]
    assert trace(tmp_path, out.name, "memory_bytes")[1] == 268436480
    assert trace(tmp_path, out.name, "pods") == [2, 3, 1, 0, 1]


def test_every_row_is_flushed_so_an_interrupt_keeps_them(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "web.csv"
    seen: list[list[str]] = []

    def wake(now: float) -> None:
        server.set_pod_metrics("shop", [pod("web-a", ("app", f"{int(now - START)}m", "1Mi"))])
        if now >= START + 15:  # the file, read while the command still holds it open
            seen.append(out.read_text().splitlines())
        if now >= START + 45:
            raise KeyboardInterrupt

    time = FakeTime(START - 0.5, wake)
    code = live(server, tmp_path, time, "--selector", "app=web", "--out", str(out))
    assert code == 130
    rows = [
        "2026-11-25T10:00:00Z,0,1048576,1",
        "2026-11-25T10:00:15Z,0.015,1048576,1",
        "2026-11-25T10:00:30Z,0.03,1048576,1",
    ]
    assert seen[0] == [HEADER, rows[0]]
    assert seen[1] == [HEADER, *rows[:2]]
    assert out.read_text().splitlines() == [HEADER, *rows]
    err = capsys.readouterr().err
    assert (
        f"interrupted: kept 3 row(s) in {out} (2026-11-25T10:00:00Z to 2026-11-25T10:00:30Z)" in err
    )


def test_an_interrupt_before_the_first_sample_writes_nothing(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def wake(now: float) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "web.csv"
    assert (
        live(server, tmp_path, FakeTime(START - 0.5, wake), "--selector", "a=b", "--out", str(out))
        == 130
    )
    assert not out.exists()
    assert "interrupted: no sample was taken; nothing written" in capsys.readouterr().err


def test_deployment_resolves_to_its_selector(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}],
    }
    server.seed(deployment(selector=selector), manager="kubectl")
    server.set_pod_metrics(
        "shop",
        [
            pod("web-a", ("app", "100m", "1Mi"), labels={"app": "web", "track": "stable"}),
            pod("web-canary", ("app", "900m", "1Mi"), labels={"app": "web", "track": "canary"}),
        ],
    )
    time = FakeTime(START)
    assert live(server, tmp_path, time, "--deployment", "web", "--duration", "30s") == 0
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web", {}),
        ("GET", METRICS_PATH, {"labelSelector": ["app=web,track!=canary"]}),
        ("GET", METRICS_PATH, {"labelSelector": ["app=web,track!=canary"]}),
    ]
    # The default --out is <deployment>.csv (the test runs in tmp_path); the canary is out.
    assert (tmp_path / "web.csv").read_text().splitlines() == [
        HEADER,
        "2026-11-25T10:00:00Z,0.1,1048576,1",
        "2026-11-25T10:00:15Z,0.1,1048576,1",
    ]
    out = capsys.readouterr()
    assert "wrote web.csv: 2 rows every 15s" in out.out
    assert "(app=web,track!=canary)" in out.out
    assert out.err == ""  # stderr: the error line only (and a progress bar on a terminal)


def test_a_missing_deployment_names_those_that_exist(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.seed(deployment("api"), manager="kubectl")
    server.seed(deployment("worker"), manager="kubectl")
    config = kubeconfig(server, tmp_path)
    argv = ["live", "metrics-server", "--namespace", "shop", "--deployment", "web"]
    assert cli.main([*argv, "--kubeconfig", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        f"capsim: error: {server.url}: no Deployment 'web' in namespace 'shop'; Deployments "
        "there: api, worker"
    ) in err
    assert not (tmp_path / "web.csv").exists()
    assert metric_requests(server) == []


def test_wrong_credentials_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = live(server, tmp_path, FakeTime(START), "--selector", "app=web", token="wrong")
    assert code == 2
    err = capsys.readouterr().err
    assert (
        f"capsim: error: {server.url} refused the kubeconfig's credentials "
        "(401 Unauthorized: Unauthorized); check --kubeconfig/--context"
    ) in err
    assert not (tmp_path / "metrics-server.csv").exists()


def test_no_metrics_server_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set_metrics_server("absent")
    assert live(server, tmp_path, FakeTime(START), "--selector", "app=web") == 2
    err = capsys.readouterr().err
    assert (
        f"capsim: error: metrics.k8s.io is not served by {server.url}: metrics-server is not "
        "installed (kubectl top would fail too)"
    ) in err
    assert len(metric_requests(server)) == 1
    assert not (tmp_path / "metrics-server.csv").exists()


def test_metrics_server_down_at_the_start_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set_metrics_server("unavailable")
    assert live(server, tmp_path, FakeTime(START), "--selector", "app=web") == 2
    err = capsys.readouterr().err
    assert f"metrics.k8s.io at {server.url} did not answer (503" in err
    assert "service unavailable" in err
    assert "registered but not running or not ready" in err


def test_a_failed_sample_later_is_a_gap(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """metrics-server restarting mid-run: an empty row keeps the grid; the trace reader
    then reports the gap (gaps: error) or bridges it (gaps: hold)."""
    server.set_pod_metrics("shop", [pod("web-a", ("app", "200m", "2Mi"))])

    def wake(now: float) -> None:
        server.set_metrics_server("unavailable" if now == START + 15 else "running")

    out = tmp_path / "web.csv"
    time = FakeTime(START - 0.5, wake)
    code = live(
        server, tmp_path, time, "--selector", "app=web", "--duration", "45s", "--out", str(out)
    )
    assert code == 0
    assert out.read_text().splitlines() == [
        HEADER,
        "2026-11-25T10:00:00Z,0.2,2097152,1",
        "2026-11-25T10:00:15Z,,,",
        "2026-11-25T10:00:30Z,0.2,2097152,1",
    ]
    printed = capsys.readouterr().out
    assert "warning: 1 of 3 samples could not be taken and are left empty (gaps)" in printed
    assert "2026-11-25T10:00:15Z: 503 Service Unavailable: service unavailable" in printed
    with pytest.raises(WorkloadError, match="gap"):
        trace(tmp_path, out.name, "cpu_cores")
    assert trace(tmp_path, out.name, "cpu_cores", gaps="hold") == [0.2, 0.2, 0.2]


def test_unreachable_cluster_exit_2_naming_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ApiServer() as gone:
        config = gone.write_kubeconfig(tmp_path / "kubeconfig")
        text = config.read_text().replace(gone.url, f"http://127.0.0.1:{port}")
    config.write_text(text)
    argv = ["live", "metrics-server", "--namespace", "shop", "--selector", "app=web"]
    args = cli.build_parser().parse_args([*argv, "--kubeconfig", str(config)])
    time = FakeTime(START)
    assert run_cluster(args, clock=time.clock, sleep=time.sleep) == 2
    assert f"capsim: error: http://127.0.0.1:{port}: no answer" in capsys.readouterr().err


def test_an_existing_out_is_never_overwritten(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "web.csv"
    out.write_text("keep me\n")
    config = kubeconfig(server, tmp_path)
    argv = ["live", "metrics-server", "--namespace", "shop", "--selector", "app=web"]
    assert cli.main([*argv, "--out", str(out), "--kubeconfig", str(config)]) == 2
    assert f"--out {out}: the file exists" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert server.requests == []


def test_bad_flags_exit_2(
    server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = kubeconfig(server, tmp_path)
    argv = ["live", "metrics-server", "--namespace", "shop", "--selector", "app=web"]
    argv += ["--kubeconfig", str(config)]
    assert cli.main([*argv, "--interval", "1500ms"]) == 2
    assert "--interval: must be a whole number of seconds" in capsys.readouterr().err
    assert cli.main([*argv, "--duration", "10s"]) == 2
    assert "--duration (10s) must be at least one --interval (15s)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one of --deployment and --selector
        cli.main(["live", "metrics-server", "--namespace", "shop"])


def test_a_progress_bar_only_on_a_terminal(
    server: ApiServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.set_pod_metrics("shop", [pod("web-a", ("app", "200m", "2Mi"))])
    assert (
        live(server, tmp_path, FakeTime(START), "--selector", "app=web", "--duration", "30s") == 0
    )
    assert "capsim metrics-server" not in capsys.readouterr().err
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    out = ["--out", str(tmp_path / "again.csv")]
    assert (
        live(server, tmp_path, FakeTime(START), "--selector", "app=web", "--duration", "30s", *out)
        == 0
    )
    err = capsys.readouterr().err
    assert "capsim metrics-server" in err
    assert "2/2" in err


# --- answers that are not the Deployment asked for name the server ----------------------------


def _answering(body: dict[str, Any]) -> Callable[[Seen], Answer]:
    return lambda seen: Answer.json(200, body)


HUGE_LIST = {"kind": "List", "items": [{"metadata": {"name": f"n{i}"}} for i in range(200_000)]}
NOT_THE_DEPLOYMENT: list[tuple[str, dict[str, Any], str]] = [
    ("a-huge-list", HUGE_LIST, "the answer is not that object (kind List, metadata.name None)"),
    (
        "another-kind",
        {"kind": "Service", "metadata": {"name": "web"}},
        "the answer is not that object (kind Service, metadata.name web)",
    ),
    (
        "another-name",
        {"kind": "Deployment", "metadata": {"name": "api"}},
        "the answer is not that object (kind Deployment, metadata.name api)",
    ),
    ("no-metadata", {"kind": "Deployment"}, "(kind Deployment, metadata.name None)"),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [n[1:] for n in NOT_THE_DEPLOYMENT],
    ids=[n[0] for n in NOT_THE_DEPLOYMENT],
)
def test_an_answer_that_is_not_the_deployment_names_the_server(
    body: dict[str, Any], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server answering the Deployment GET with something else (a 10 MB list, another
    object): one line naming the server, the object asked for and what came (before:
    "Deployment ?/?: spec.selector: missing", no server)."""
    with ScriptedApiServer(_answering(body)) as scripted:
        config = write_kubeconfig(tmp_path / "kc.yaml", scripted.url, {"token": "t0ken"})
        argv = ["live", "metrics-server", "--namespace", "shop", "--deployment", "web"]
        argv += ["--kubeconfig", str(config), "--out", str(tmp_path / "m.csv")]
        assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"capsim: error: {scripted.url}: Deployment shop/web: ")
    assert expected in lines[0]
    assert not (tmp_path / "m.csv").exists()


def test_a_deployment_without_a_selector_names_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    with ScriptedApiServer(_answering(body)) as scripted:
        config = write_kubeconfig(tmp_path / "kc.yaml", scripted.url, {"token": "t0ken"})
        argv = ["live", "metrics-server", "--namespace", "shop", "--deployment", "web"]
        assert cli.main([*argv, "--kubeconfig", str(config), "--out", str(tmp_path / "m.csv")]) == 2
    assert capsys.readouterr().err == (
        f"capsim: error: {scripted.url}: Deployment shop/web: spec.selector: missing (a "
        "Deployment selects its pods with it)\n"
    )
