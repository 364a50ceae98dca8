"""An HPA on a ``Pods`` metric (requests in flight or per second per pod) in the engine.

**By hand, M/M/1 per pod.** Pods of one slot on one core, 100 ms of CPU per request
(μ = 10 req/s), random routing (each pod its own M/M/1 fed λ/N), a timeout far beyond
any wait. At λ = 50 req/s the load is ``a = λ/μ = 5`` and each of ``N`` pods has
``ρ = 5/N`` and, by Little, ``L = ρ/(1 − ρ) = 5/(N − 5)`` requests in flight (in
service plus queued). A target of ``averageValue: 500m`` with the ±10 % band keeps ``N``
when the rounded sample ``s = round(1000 L)`` has ``0.9 ≤ s/500 ≤ 1.1``:

* N = 14: L = 5/9 → 556 → ratio 1.112, outside; N = 15: L = 1/2 → ratio 1, kept;
  N = 16: L = 5/11 → 455 → ratio 0.91, kept; N = 17: L = 5/12 → 417 → 0.834, outside.
* The warm start walks from the requests in service over the target,
  ``⌊50 × 0.1 / 0.5⌋ = 10``: L(10) = 1 → ratio 2 → ``ceil(2 × 10) = 20``; L(20) = 1/3 →
  333 → ``ceil(0.666 × 20) = ceil(13.32) = 14``; 14 → ``ceil(1.112 × 14) = ceil(15.57)
  = 16``, kept: **16**.
* With a CPU metric too (request 1 core, target 50 %: at N the pod uses 5/N cores) the HPA
  takes the larger proposal: 10 → (cpu 10, in flight 20) → 20 → (10, 14) → 14 → (10, 16)
  → 16 → (cpu 312m → 31 % → ``ceil(0.62 × 16) = 10``, in flight keeps 16): **16**.
* ``requests_per_second`` with target 4: each pod serves 50/N; the walk starts at
  ``⌊50/4⌋ = 12``: 4.167 → ratio 1.042, kept: **12**.
* At λ = 20 (a = 2, L = 2/(N − 2)) the walk goes 4 → (L = 1, ratio 2) 8 → (L = 1/3,
  ``ceil(0.666 × 8) = 6``) → 6 (L = 1/2): **6**.

**Missing and unready pods** follow upstream's plain-metric rule (``calcPlainMetricReplicas``,
``HPA.md`` §4), written out below in :func:`plain_metric_replicas` from the document, not
from capsim: missing pods count 0 on a scale-up and the target on a scale-down, Pending
(unready) pods 0 on a scale-up only.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import capsim
from capsim.cli.main import main
from capsim.engine.kubernetes import KubernetesSim
from capsim.engine.kubernetes.hpa_controller import MetricRow
from capsim.engine.kubernetes.metrics import PODS_METRIC_WINDOW_S
from capsim.engine.kubernetes.warm_start import settled_hpa_size
from capsim.engine.warm import ReplicaProfile
from capsim.results.run_result import RunResult
from capsim.results.simulate import run
from capsim.scenario import KubernetesPlatform
from capsim.scenario.inputs import prepare_inputs

EXAMPLE = Path(__file__).resolve().parent / "data" / "llm-inflight.yaml"
TARGET_M = 500  # requests in flight per pod, milli


def pods_metric(name: str, average_value: str) -> dict[str, Any]:
    target = {"type": "AverageValue", "averageValue": average_value}
    return {"type": "Pods", "pods": {"metric": {"name": name}, "target": target}}


CPU_50 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


def scenario(
    load: dict[str, Any], metrics: list[dict[str, Any]], duration: str = "1h"
) -> dict[str, Any]:
    """M/M/1 pods (see the module docstring), scaled by an HPA with ``metrics``."""
    return {
        "name": "pods-metric",
        "duration": duration,
        "tick": "1s",
        "record_every": "15s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": load,
                "cpu_ms_per_request": 100,
                "concurrency": 1,
                "timeout": "100000s",
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "big",
                        "vcpu": 16,
                        "memory": "64Gi",
                        "price_per_hour": 0.4,
                        "min_nodes": 4,
                        "max_nodes": 4,
                    }
                ],
                "cluster_autoscaler": {"enabled": False},
                "workloads": {
                    "web": {
                        "pod": {
                            "cpu_request": 1,
                            "cpu_limit": 1,
                            "memory_request": "256Mi",
                            "container_start": "2s",
                            "readiness_delay": "10s",
                        },
                        "hpa": {
                            "minReplicas": 1,
                            "maxReplicas": 40,
                            "metrics": copy.deepcopy(metrics),
                        },
                    }
                },
            }
        },
    }


IN_FLIGHT = [pods_metric("requests_in_flight", "500m")]


def run_mapping(tmp_path: Path, data: dict[str, Any]) -> RunResult:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return run(capsim.load_scenario(path), seed=1)


def mm1_in_flight(lam: Fraction, n: int, mu: Fraction = Fraction(10)) -> Fraction:
    """Mean number in an M/M/1 fed ``λ/N`` with service rate ``μ``: ρ/(1 − ρ)."""
    rho = lam / n / mu
    assert rho < 1
    return rho / (1 - rho)


def kept(sample_m: int, target_m: int, tolerance: Fraction = Fraction(1, 10)) -> bool:
    ratio = Fraction(sample_m, target_m)
    return 1 - tolerance <= ratio <= 1 + tolerance


def decisions(result: RunResult) -> pd.DataFrame:
    events = result.events
    return events[events.kind.isin(["scale", "hpa_hold", "warm_start"])]


def assert_steady(result: RunResult, replicas: int) -> None:
    made = decisions(result)
    assert made.empty, made[["time_s", "kind", "from", "to", "reason", "detail"]].to_string()
    rows = result.timeseries
    assert set(rows.replicas_desired) == {replicas}
    assert set(rows.replicas_ready) == {replicas}


# --- steady loads: the warm size, by hand ------------------------------------------------


def test_the_band_by_hand() -> None:
    """The sizes the module docstring lists as kept are the ones the M/M/1 gives."""
    samples = {n: round(1000 * mm1_in_flight(Fraction(50), n)) for n in range(6, 40)}
    assert {n for n, s in samples.items() if kept(s, TARGET_M)} == {15, 16}


def test_requests_in_flight_steady_load_starts_settled(tmp_path: Path) -> None:
    result = run_mapping(tmp_path, scenario({"type": "constant", "rate": 50}, IN_FLIGHT))
    assert_steady(result, 16)
    rows = result.timeseries
    # Little, per pod: 5/11 in flight, of which ρ = 5/16 in service; 50/16 req/s served
    assert rows.in_flight_per_pod.to_numpy() == pytest.approx(5 / 11, rel=1e-6)
    assert rows.queue_per_pod.to_numpy() == pytest.approx(5 / 11 - 5 / 16, rel=1e-6)
    assert rows.rps_per_pod.to_numpy() == pytest.approx(50 / 16, rel=1e-9)
    assert kept(round(1000 * rows.in_flight_per_pod.iloc[-1]), TARGET_M)


def test_with_a_cpu_metric_the_larger_proposal_wins(tmp_path: Path) -> None:
    metrics = [CPU_50, *IN_FLIGHT]
    result = run_mapping(tmp_path, scenario({"type": "constant", "rate": 50}, metrics))
    assert_steady(result, 16)


def test_requests_per_second_steady_load_starts_settled(tmp_path: Path) -> None:
    metrics = [pods_metric("requests_per_second", "4")]
    result = run_mapping(tmp_path, scenario({"type": "constant", "rate": 50}, metrics))
    assert_steady(result, 12)
    assert result.timeseries.rps_per_pod.to_numpy() == pytest.approx(50 / 12, rel=1e-9)


# --- a load step: scale-up, readings against the recorded columns ------------------------

READING = re.compile(
    r"(?P<metric>requests_in_flight): (?P<sample>\d+\.\d{3}) per pod vs target (?P<target>[\d.]+)"
    r" \(ratio [\d.]+; (?P<ready>\d+) ready(?:, (?P<unready>\d+) unready, (?P<missing>\d+) "
    r"without metrics)?\) → (?P<proposal>\d+)"
)


def plain_metric_replicas(
    current: int, ready: int, unready: int, missing: int, sample_m: int, target_m: int
) -> int:
    """Upstream ``calcPlainMetricReplicas`` on counts, from ``HPA.md`` §3.5, §3.6 and §4:
    every ready pod shows ``sample_m``; tolerance 0.1 both ways."""
    usage = (ready * sample_m) // ready
    ratio = Fraction(usage, target_m)
    band = Fraction(1, 10)
    if not (unready and ratio > 1) and not missing:
        return current if 1 - band <= ratio <= 1 + band else math.ceil(ratio * ready)
    total, entries = ready * sample_m, ready
    if ratio < 1:
        total, entries = total + missing * target_m, entries + missing
    elif ratio > 1:
        entries += missing
    if unready and ratio > 1:
        entries += unready
    new_ratio = Fraction(total // entries, target_m)
    if 1 - band <= new_ratio <= 1 + band or (ratio < 1 < new_ratio) or (ratio > 1 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * entries)
    if (new_ratio < 1 and replicas > current) or (new_ratio > 1 and replicas < current):
        return current
    return replicas


@pytest.fixture(scope="module")
def step_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    load = {"type": "step", "before": 20, "after": 50, "at": "600s"}
    return run_mapping(tmp_path_factory.mktemp("step"), scenario(load, IN_FLIGHT))


def test_a_load_step_scales_up_and_settles_in_the_band(step_run: RunResult) -> None:
    made = decisions(step_run)
    assert not len(made[made.time_s < 600]), "20 req/s starts settled at 6"
    assert set(step_run.timeseries[step_run.timeseries.time_s <= 600].replicas_ready) == {6}
    scales = made[made.kind == "scale"]
    first = scales.iloc[0]
    assert (first.time_s, first["from"]) == (615.0, 6)
    assert first["to"] > 6
    assert made.time_s.max() < 2400, "settled well before the end"
    rows = step_run.timeseries
    end = rows[rows.time_s > 2400]
    (n,) = set(end.replicas_ready)
    assert n in (15, 16)
    assert end.in_flight_per_pod.to_numpy() == pytest.approx(5 / (n - 5), rel=1e-6)


def test_readings_are_the_recorded_columns_over_the_window(step_run: RunResult) -> None:
    """Each reading's per-pod sample is the mean of the rows' ``in_flight_per_pod`` over
    the 60 s before the sync (four 15 s rows), to the milli-unit; and each proposal is
    upstream's plain-metric rule on the reading's pods."""
    rows = step_run.timeseries.set_index("time_s")
    checked = missing_seen = 0
    for _, event in decisions(step_run).iterrows():
        match = READING.search(event.detail)
        assert match is not None, event.detail
        t = float(event.time_s)
        window = rows.loc[(rows.index > t - PODS_METRIC_WINDOW_S) & (rows.index <= t)]
        assert len(window) == 4
        sample_m = round(float(match["sample"]) * 1000)
        assert abs(sample_m - 1000 * window.in_flight_per_pod.mean()) <= 0.5 + 1e-6
        ready, unready, missing = (int(match[k] or 0) for k in ("ready", "unready", "missing"))
        expected = plain_metric_replicas(
            int(event["from"]), ready, unready, missing, sample_m, TARGET_M
        )
        assert int(match["proposal"]) == expected, event.detail
        checked += 1
        missing_seen += missing > 0
    assert checked >= 4
    assert missing_seen >= 2, "new pods are missing until Ready for a whole window"


# --- missing and unready pods at one sync, against upstream's rule ----------------------


def controller_at(tmp_path: Path, replicas: int) -> KubernetesSim:
    """The engine's Kubernetes platform set up warm at ``replicas`` (min = max)."""
    data = scenario({"type": "constant", "rate": 20}, IN_FLIGHT, duration="10m")
    hpa = data["platforms"]["k8s"]["workloads"]["web"]["hpa"]
    hpa |= {"minReplicas": 1, "maxReplicas": 40}
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = capsim.load_scenario(path)
    platform = loaded.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    sim = KubernetesSim("k8s", platform, prepare_inputs(loaded, 1), np.random.default_rng(1))
    sim.desired[0] = replicas
    from capsim.engine.kubernetes.warm_start import place_warm

    place_warm(sim.cluster, platform, sim.desired, sim.names)
    return sim


NOW = 1000.0


@pytest.mark.parametrize(
    ("sample_m", "young", "pending", "expected"),
    [
        # 6 pods, 2 Ready 30 s ago (missing). 800m: ratio 1.6; zero-filled: 3200 // 6 = 533
        # → 1.066, inside the band: keep 6 (the 4 alone would ask ceil(1.6 × 4) = 7).
        (800, 2, 0, 6),
        # 1000m: 4000 // 6 = 666 → 1.332 → ceil(1.332 × 6) = ceil(7.992) = 8.
        (1000, 2, 0, 8),
        # 200m: ratio 0.4; the 2 missing count the target: (800 + 1000) // 6 = 300 → 0.6 →
        # ceil(0.6 × 6) = 4 (the 4 alone would ask ceil(0.4 × 4) = 2).
        (200, 2, 0, 4),
        # a Pending pod on a scale-up counts 0: 5 × 800 // 6 = 666 → ceil(1.332 × 6) = 8
        (800, 0, 1, 8),
        # and on a scale-down it is left out: 5 pods at 200m → 0.4 → ceil(0.4 × 5) = 2
        (200, 0, 1, 2),
        # a pod Ready exactly one window before the scrape has a sample: 6 × 200m → 0.4 → 3
        (200, -1, 0, 3),
    ],
)
def test_missing_and_unready_pods_as_upstream(
    tmp_path: Path, sample_m: int, young: int, pending: int, expected: int
) -> None:
    sim = controller_at(tmp_path, 6)
    pods = sim.cluster.pods.by_workload[0]
    if young > 0:
        for pod in pods[:young]:
            pod.ready_s = NOW - 30.0  # Ready for less than the 60 s window
    if young < 0:
        pods[0].ready_s = NOW - PODS_METRIC_WINDOW_S
    for pod in pods[:pending]:
        pod.running_s = pod.ready_s = None  # Pending: not yet running
    sim.metrics.last_scrape_s = NOW
    sim.metrics.pods_milli[0, 0] = sample_m
    decision = sim.hpas.decide(0, NOW)
    (reading,) = decision.readings
    counts = (reading.ready_pods, reading.unready_pods, reading.missing_pods)
    assert counts == (6 - max(young, 0) - pending, pending, max(young, 0))
    assert reading.proposal == expected
    assert expected == plain_metric_replicas(6, *counts, sample_m, TARGET_M)


def test_cpu_and_memory_see_the_young_pods_as_ready(tmp_path: Path) -> None:
    """The Pods-metric window is its own rule: a pod running for minutes and Ready for 30 s
    has CPU and memory samples (past the CPU start-up period)."""
    sim = controller_at(tmp_path, 6)
    for pod in sim.cluster.pods.by_workload[0][:2]:
        pod.ready_s = NOW - 30.0
    sim.metrics.last_scrape_s = NOW
    assert sim.metrics.count_pods(0, "requests_in_flight", NOW) == (4, 0, 2)
    assert sim.metrics.count_pods(0, "memory", NOW) == (6, 0, 0)
    assert sim.metrics.count_pods(0, "requests_in_flight", NOW + 30.0) == (4, 0, 2)
    sim.metrics.last_scrape_s = NOW + 30.0
    assert sim.metrics.count_pods(0, "requests_in_flight", NOW + 30.0) == (6, 0, 0)


# --- the warm start on a Pods metric: fixed points -------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    lam=st.integers(1, 400),
    cpu_ms=st.integers(5, 200),
    target_m=st.integers(100, 5000),
    min_replicas=st.integers(1, 4),
    spread=st.integers(0, 120),
    tolerance=st.sampled_from([0.05, 0.1]),
    rps=st.booleans(),
)
def test_the_warm_size_is_kept_by_one_more_sync(
    lam: int,
    cpu_ms: int,
    target_m: int,
    min_replicas: int,
    spread: int,
    tolerance: float,
    rps: bool,
) -> None:
    """M/M/1 pods (one slot, one core, no timeout): the warm size, if a fixed point, is
    kept by a sync on the per-pod value computed here (L = ρ/(1 − ρ), or λ/N served)."""
    name = "requests_per_second" if rps else "requests_in_flight"
    rows = [MetricRow(0, 0, 0, name, False, target_m, 0)]
    profile = ReplicaProfile(
        cpu_ms_per_request=float(cpu_ms),
        concurrency=1,
        cpu_limit_cores=1.0,
        timeout_s=1e9,
    )
    max_replicas = min_replicas + spread
    size = settled_hpa_size(
        rows,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        tolerance_up=tolerance,
        tolerance_down=tolerance,
        arrival_rate=float(lam),
        profile=profile,
    )
    n = size.replicas
    assert min_replicas <= n <= max_replicas
    assume(size.converged)
    mu = Fraction(1000, cpu_ms)
    rho = Fraction(lam) / n / mu
    assume(abs(rho - 1) > Fraction(1, 1000))  # at saturation the float and exact part
    if rps:
        value = Fraction(lam, n) if rho < 1 else mu
    else:
        assume(rho < 1)
        value = rho / (1 - rho)
    exact = value * 1000
    assume(abs(exact - math.floor(exact) - Fraction(1, 2)) > Fraction(1, 10**6))
    sample = round(exact)
    ratio = Fraction(sample, target_m)
    band = Fraction(tolerance).limit_denominator(100)
    proposal = n if 1 - band <= ratio <= 1 + band else math.ceil(ratio * n)
    assume(abs(ratio - (1 + band)) > Fraction(1, 10**9) and abs(ratio - (1 - band)) > 1e-9)
    assert min(max(proposal, min_replicas), max_replicas) == n


# --- refusals ---------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unknown_pods_metric_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = scenario({"type": "constant", "rate": 50}, [pods_metric("rps", "10")], "10m")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = cli(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith("capsim: error: ")
    assert (
        "platforms.k8s.workloads.web.hpa.metrics[0].pods.metric.name: the Pods metrics "
        "capsim simulates are requests_in_flight, requests_per_second, gpu_utilization, "
        "kv_cache_usage, got 'rps'"
    ) in err
    assert not (tmp_path / "out").exists()


def test_a_pods_metric_needs_an_average_value(tmp_path: Path) -> None:
    data = scenario({"type": "constant", "rate": 50}, IN_FLIGHT, "10m")
    metric = data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["metrics"][0]
    metric["pods"]["target"] = {"type": "Value", "value": "5"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(capsim.ScenarioError, match=r"metrics\[0\]\.pods\.target\.type"):
        capsim.load_scenario(path)


def test_the_fast_path_leaves_pods_metrics_to_the_engine(tmp_path: Path) -> None:
    from capsim.fastpath.evaluate import _metric_limits
    from capsim.scenario import hpa_template

    data = scenario({"type": "constant", "rate": 50}, IN_FLIGHT, "10m")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    platform = capsim.load_scenario(path).platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    spec = hpa_template(platform.workloads["web"], tmp_path, "web")
    (reason,) = _metric_limits(spec)
    assert "Pods requests_in_flight" in reason


# --- the example and its report ----------------------------------------------------------


def test_the_example_scales_on_requests_in_flight(tmp_path: Path) -> None:
    result = run(capsim.load_scenario(EXAMPLE))
    made = decisions(result)
    assert not len(made[made.time_s == 0.0]), "a warm start at the settled size"
    scales = made[made.kind == "scale"]
    assert len(scales) >= 2
    assert scales.detail.str.contains("requests_in_flight: ").all()
    assert (scales["to"] > scales["from"]).any()

    from capsim.report.writer import write_report

    out = tmp_path / "report"
    write_report(result, out, formats=["md"])
    assert (out / "figures" / "requests_chat.png").stat().st_size > 0
    text = (out / "report.md").read_text()
    assert "![requests_chat](figures/requests_chat.png)" in text
    assert "scales chat on requests_in_flight with a target of 5 per pod" in text


def test_figure_targets_come_from_the_inline_hpa(step_run: RunResult) -> None:
    from capsim.report.figures import figures, hpa_pods_targets

    assert hpa_pods_targets(step_run) == {("k8s", "web"): 0.5}
    assert hpa_pods_targets(step_run, "requests_per_second") == {}
    drawn = figures(step_run)
    assert list(drawn)[:4] == ["load_web", "replicas_web", "latency_web", "requests_web"]
    ax = drawn["requests_web"].axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["k8s in flight", "k8s queued", "k8s HPA target 0.5"]
    assert list(np.asarray(ax.get_lines()[2].get_ydata())) == [0.5, 0.5]


def test_without_the_per_pod_columns_there_is_no_requests_figure(step_run: RunResult) -> None:
    from capsim.report.figures import figures

    old = dataclasses.replace(
        step_run, timeseries=step_run.timeseries.drop(columns=["in_flight_per_pod"])
    )
    assert "requests_web" not in figures(old)


def test_the_batched_controller_decides_the_same(
    tmp_path: Path, step_run: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever way the controller decides (compiled, which ``step_run`` took with
    Numba; one HPA at a time in Python; NumPy's batch form for many HPAs): the same
    decision log."""
    import capsim.engine.kubernetes.hpa_controller as controller

    load = {"type": "step", "before": 20, "after": 50, "at": "600s"}
    monkeypatch.setattr(controller, "COMPILED_HPA_ROWS", False)
    one_by_one = run_mapping(tmp_path, scenario(load, IN_FLIGHT))
    pd.testing.assert_frame_equal(one_by_one.events, step_run.events)
    monkeypatch.setattr(controller, "SCALAR_HPA_LIMIT", 0)  # NumPy's batch form
    numpy_batched = run_mapping(tmp_path, scenario(load, IN_FLIGHT))
    pd.testing.assert_frame_equal(numpy_batched.events, step_run.events)
