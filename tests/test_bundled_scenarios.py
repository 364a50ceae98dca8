"""The bundled scenarios (``scenarios/*.yaml``) load, run, and show what they are there for.

Every scenario found by the glob gets the generic checks: a description, a positive cost
on every platform, and every service serving more than 90 % of its arrivals on at least
one platform. The five showcase scenarios also get the qualitative facts that make their
point. Each scenario runs once per test session (cached); together they take about 25 s.
Run times are not asserted here: they belong in benchmarks.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import golden
import numpy as np
import pandas as pd
import pytest

import capsim
from capsim.data import SCENARIOS_DIR
from capsim.report.writer import write_report
from capsim.results.run_result import RunResult
from capsim.scenario import KubernetesPlatform, ServiceWorkload

SCENARIOS = SCENARIOS_DIR
PATHS = sorted(SCENARIOS.glob("*.yaml"))
NAMES = [path.stem for path in PATHS]


@functools.cache
def result(name: str) -> RunResult:
    """The run of ``scenarios/<name>.yaml`` at its own seed (once per session)."""
    return capsim.run(capsim.load_scenario(SCENARIOS / f"{name}.yaml"))


def write_full_report(name: str, out: Path) -> None:
    """The report of ``scenarios/<name>.yaml`` in every format, as ``capsim run`` writes it."""
    write_report(result(name), out, golden.FORMATS)


def platforms(name: str) -> dict[str, Any]:
    summary: dict[str, Any] = result(name).summary["platforms"]
    return summary


def workload(name: str, platform: str, workload_name: str) -> dict[str, Any]:
    summary: dict[str, Any] = platforms(name)[platform]["workloads"][workload_name]
    return summary


def nodes_over_time(name: str, platform: str) -> pd.Series:
    """Nodes (Kubernetes: the pools' nodes) or VMs (all groups) at each record time."""
    rows = result(name).timeseries
    rows = rows[rows["platform"] == platform]
    how = "sum" if platforms(name)[platform]["kind"] == "vm" else "max"
    nodes: pd.Series = rows.groupby("time_s", sort=True)["nodes"].agg(how)
    return nodes


# --- every bundled scenario ------------------------------------------------------------


def test_golden_comparison_by_value_under_other_numeric_libraries(tmp_path: Path) -> None:
    """Under other numpy/pandas versions the summary is compared to 1e-9, not by bytes."""
    recorded = dict(golden.load_recorded()["ml-serving"])
    recorded["versions"] = {**recorded["versions"], "numpy": "0.0"}
    summary = json.loads(json.dumps(recorded["summary"]))
    platform = next(iter(summary["platforms"].values()))
    platform["cost_usd"] *= 1 + 1e-12  # the last bits of another numpy
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert golden.mismatches(recorded, tmp_path) == []
    platform["cost_usd"] *= 1 + 1e-6  # a real change
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert [p.split(":")[0] for p in golden.mismatches(recorded, tmp_path)] == [
        f"summary.json.platforms.{next(iter(summary['platforms']))}.cost_usd"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_scenario_outputs_are_the_recorded_bytes(name: str, tmp_path: Path) -> None:
    """Same scenario, same seed: the same bytes as recorded in ``tests/golden`` (before
    the move into the ``capsim`` package; see ``tests/golden.py``)."""
    recorded = golden.load_recorded()
    assert name in recorded, f"{name}: no recorded outputs (python tests/golden.py --record)"
    write_full_report(name, tmp_path / name)
    assert golden.mismatches(recorded[name], tmp_path / name) == []


def test_the_five_showcase_scenarios_are_bundled() -> None:
    names = {path.stem for path in PATHS}
    assert {
        "web-diurnal",
        "ml-serving",
        "distributed-training",
        "batch-analytics",
        "llm-bursty",
    } <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_bundled_scenario_runs_and_serves(path: Path) -> None:
    scenario = capsim.load_scenario(path)
    assert scenario.description.strip(), f"{path.name}: no description"
    summary = result(path.stem).summary["platforms"]
    assert set(summary) == set(scenario.platforms)
    for name, platform in summary.items():
        assert platform["cost_usd"] > 0, f"{path.name}: {name} costs nothing"
    for service in (w for w in scenario.workloads if isinstance(w, ServiceWorkload)):
        served_share = [
            p["workloads"][service.name]["requests_served"]
            / p["workloads"][service.name]["requests_arrived"]
            for p in summary.values()
        ]
        assert max(served_share) > 0.9, f"{path.name}: {service.name} served {served_share}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_bundled_scenario_report_renders_in_a_browser(path: Path, tmp_path: Path) -> None:
    """Each bundled scenario's report opens in headless Chromium: no console errors, every
    figure loaded, not blank; its Markdown links only figures that exist."""
    from browser import browser_available, check_page

    out = tmp_path / path.stem
    write_report(result(path.stem), out, ["html", "md"])
    for line in (out / "report.md").read_text().splitlines():
        if line.startswith("!["):
            assert (out / line[line.index("(") + 1 : -1]).is_file(), line
    reason = browser_available()
    if reason is not None:
        pytest.skip(reason)
    page = check_page(out / "index.html")
    assert page.console_errors == []
    # PNGs without plotly, interactive figures with it (capsim.report.interactive)
    assert page.images + page.figures == len(list((out / "figures").iterdir())) > 0
    assert page.images_loaded == page.images
    assert page.figures_drawn == page.figures
    assert not page.blank()


# --- web-diurnal: the default scenario -------------------------------------------------


def test_web_diurnal_both_platforms_meet_the_slo_at_different_cost() -> None:
    summary = platforms("web-diurnal")
    assert set(summary) == {"vm", "kubernetes"}
    for name in summary:
        web = workload("web-diurnal", name, "web")
        assert web["slo_violation_time_pct"] < 5.0, name
        assert web["latency_p95_ms"] <= web["slo_p95_ms"], name
        assert web["dropped_pct"] < 0.1, name
        # A weekday peak needs about a dozen replicas, the launch-day surge more.
        assert 15 <= web["replicas_max"] <= 40, name
        assert web["replicas_min"] <= 3, name
    k8s, vm = summary["kubernetes"], summary["vm"]
    # Pods packed three to a node and half-full nodes the cluster autoscaler keeps:
    # Kubernetes uses a clearly smaller share of the CPU it buys.
    assert vm["cpu_utilization_pct"] - k8s["cpu_utilization_pct"] > 3.0
    assert k8s["cpu_allocation_pct"] < 75.0
    assert k8s["cost_usd"] != pytest.approx(vm["cost_usd"], rel=0.05)


# --- ml-serving: HPA targets 50 / 70 / 90 % --------------------------------------------


def test_ml_serving_higher_hpa_target_buys_less_and_waits_longer() -> None:
    summary = platforms("ml-serving")
    assert {"hpa-50", "hpa-70", "hpa-90"} <= set(summary)
    hpa = {t: workload("ml-serving", f"hpa-{t}", "inference") for t in (50, 70, 90)}
    # Replica-hours (mean ready replicas over the same day) fall as the target rises...
    assert hpa[50]["replicas_mean"] > hpa[70]["replicas_mean"] > hpa[90]["replicas_mean"]
    assert summary["hpa-90"]["cost_usd"] <= summary["hpa-50"]["cost_usd"]
    # ... and latency rises: 50 % meets the p95 target, 90 % does not.
    assert hpa[90]["latency_p95_ms"] > hpa[70]["latency_p95_ms"] > hpa[50]["latency_p95_ms"]
    assert hpa[50]["latency_p95_ms"] <= hpa[50]["slo_p95_ms"] < hpa[90]["latency_p95_ms"]
    assert hpa[90]["slo_violation_time_pct"] > hpa[50]["slo_violation_time_pct"]
    # The flash crowd makes every platform scale out well beyond its quiet size.
    for name in summary:
        inference = workload("ml-serving", name, "inference")
        assert inference["replicas_max"] >= 2 * inference["replicas_min"] + 4, name


# --- distributed-training: gangs on a GPU pool vs a VM per worker ----------------------


def test_distributed_training_gangs_start_and_the_gpu_pool_breathes() -> None:
    scenario = capsim.load_scenario(SCENARIOS / "distributed-training.yaml")
    run = result("distributed-training")
    jobs = run.jobs
    summary = platforms("distributed-training")
    assert set(summary) == {"kubernetes", "vm"}
    hours = scenario.duration_s / 3600.0
    waits: dict[str, float] = {}
    for name in summary:
        mine = jobs[jobs["platform"] == name]
        started = mine.dropna(subset=["start_s"])
        assert len(mine) > 20, name
        assert len(started) / len(mine) > 0.9, name
        wait = started["start_s"] - started["submit_s"]
        assert (wait >= 0).all(), name
        waits[name] = float(np.quantile(wait, 0.95))
        # Every worker holds one GPU and each node or VM has one: busy GPU-hours over
        # paid GPU-hours (jobs still running at the end count up to the end).
        busy = (mine["end_s"].fillna(scenario.duration_s) - mine["start_s"]) * mine["workers"]
        gpu_util = float(busy.sum()) / 3600.0 / (summary[name]["nodes_mean"] * hours)
        assert 0.5 < gpu_util <= 1.0, (name, gpu_util)
    # Both are held to the same GPU quota (16 nodes; max_batch_vms: 16): at bursts gangs
    # queue on both, for tens of minutes at the p95, and neither holds more than 16 GPUs.
    assert min(waits.values()) > 1800
    assert summary["kubernetes"]["nodes_max"] == summary["vm"]["nodes_max"] == 16
    # Every gang of 8 fits only on 8 nodes: the pool grows to that and shrinks again.
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    assert platform.node_pools[0].min_nodes == 0
    nodes = nodes_over_time("distributed-training", "kubernetes").to_numpy()
    peak = int(np.argmax(nodes))
    assert nodes[peak] >= 8
    assert nodes[peak:].min() <= nodes[peak] / 2


# --- batch-analytics: nightly tasks packed with a web service -------------------------


def test_batch_analytics_jobs_complete_and_packing_pays() -> None:
    jobs = result("batch-analytics").jobs
    summary = platforms("batch-analytics")
    assert set(summary) == {"kubernetes", "kubernetes-packed", "vm"}
    for name in summary:
        mine = jobs[jobs["platform"] == name]
        assert len(mine) == 49 + 16, name
        assert mine["end_s"].notna().all(), name
        assert workload("batch-analytics", name, "web")["dropped_pct"] < 0.1, name
    default, packed = summary["kubernetes"], summary["kubernetes-packed"]
    # Bin-packing and a quick scale-down hold fewer nodes through the night.
    assert packed["cost_usd"] < default["cost_usd"]
    assert packed["cpu_allocation_pct"] > default["cpu_allocation_pct"]
    assert packed["cpu_utilization_pct"] > default["cpu_utilization_pct"]
    # A 2-core executor fills its pod's request but strands half of an n2-standard-4.
    for name in ("kubernetes", "kubernetes-packed"):
        pod = workload("batch-analytics", name, "nightly-etl")["utilization_pct"]
        vm = workload("batch-analytics", "vm", "nightly-etl")["utilization_pct"]
        assert pod > 90.0 > 60.0 > vm, name
    # Nodes and VMs follow the night's burst and come back down by day.
    for name in summary:
        nodes = nodes_over_time("batch-analytics", name)
        night = nodes[(nodes.index > 3600) & (nodes.index <= 4 * 3600)]
        afternoon = nodes[(nodes.index > 13 * 3600) & (nodes.index <= 15 * 3600)]
        assert night.mean() > 2 * afternoon.mean(), name


# --- llm-bursty: the Azure conversation trace on GPU replicas -------------------------


def test_llm_bursty_replays_every_request_and_judges_tokens() -> None:
    """The conversation trace replayed request by request: as many arrivals as the file
    has within the looped 3 hours (counted here from the CSV), and TTFT/TPOT no faster
    than the preset's passes allow (hand bounds: a first token needs one pass with the
    prompt's prefill; every later token one pass of at least the base time)."""
    trace = pd.read_csv(SCENARIOS_DIR / "traces" / "azure_llm_inference_2023_conv_requests.csv")
    period = float(np.ceil(trace["time_s"].max()))
    laps = np.arange(4)[:, None] * period + trace["time_s"].to_numpy()[None, :]
    expected = int((laps < 3 * 3600.0).sum())
    summary = platforms("llm-bursty")
    assert set(summary) == {"hpa-in-flight", "keda-queue", "vm-fixed"}
    shortest_prompt = int(trace["prompt_tokens"].min())
    for name in summary:
        chat = workload("llm-bursty", name, "chat")
        assert chat["requests_arrived"] == expected, name
        assert chat["tpot_p50_ms"] >= 65.0, name  # the L4 preset's base pass
        assert chat["ttft_p50_ms"] >= 65.0 + 0.6 + 0.28 * shortest_prompt, name
        assert set(chat["slo"]) >= {"ttft", "tpot", "latency", "errors"}, name


def test_llm_bursty_gpu_utilization_misleads() -> None:
    """DCGM's GPU utilization (a kernel running) reads near 100 % on the fixed fleet while
    the tokens it emits are a fraction of what the batching curve allows: why LLM servers
    are scaled on requests or queues, not on GPU utilization."""
    vm = platforms("llm-bursty")["vm-fixed"]
    assert vm["gpu_utilization_pct"] > 95.0
    frame = result("llm-bursty").timeseries
    rows = frame[(frame["platform"] == "vm-fixed") & (frame["workload"] == "chat")]
    per_gpu = rows["output_tokens_per_s"] / rows["replicas_ready"]
    saturated = 1000.0 / 0.6  # tokens/s of an unbounded batch: 1 / per-sequence cost
    assert per_gpu.mean() < 0.5 * saturated


def test_llm_bursty_point() -> None:
    """The fixed fleet of eight meets the SLO; the HPA, sized at the trace's quiet first
    second and waiting minutes for GPU nodes while the load swells, misses TTFT windows;
    KEDA on the requests waiting scales to zero whenever nothing waits and then holds
    requests at the interceptor through a cold start of minutes: it misses more windows
    and fails more requests than the HPA on requests in flight."""
    summary = platforms("llm-bursty")
    verdict = {name: workload("llm-bursty", name, "chat")["slo"] for name in summary}
    assert verdict["vm-fixed"]["met"] is True
    ttft = {name: v["ttft"]["compliance_pct"] for name, v in verdict.items()}
    assert ttft["keda-queue"] < ttft["hpa-in-flight"] < ttft["vm-fixed"]
    errors = {name: v["errors"]["error_rate"] for name, v in verdict.items()}
    assert errors["vm-fixed"] <= errors["hpa-in-flight"] < errors["keda-queue"]
