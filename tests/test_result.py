"""Run results (``capsim.results.run_result``): summaries by hand, the pooled latency law against
independent references, and the result folder.

* A hand-made recording (a Kubernetes platform with a service and a batch workload, a VM
  platform with the same service, a short last record interval, a tick with no replica)
  → every summary number computed by hand here: time-weighted utilization, replicas and
  nodes, costs, drops, SLO time and request shares, pooled latency, job percentiles.
* :class:`LatencyMixture` against one-component closed forms (M/M/1 is ``Exp(μ − λ)``,
  ``θ = μ`` is a Gamma(2), a fixed wait shifts), M/M/c from ``capsim.models.queueing``, the
  bisection reference ``pooled_response_time_quantile_s`` on large random mixtures,
  Monte-Carlo sampling of the mixture, and hypothesis properties.
* The folder: load gives back an equal result (dtypes too, Parquet and CSV), two saves
  are byte-identical, a failure mid-save leaves a good folder untouched, no NaN in JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from capsim.engine import recording
from capsim.engine.recording import LatencyComponents, Recording
from capsim.models import queueing
from capsim.models.queueing import ResponseTimeDistribution
from capsim.results import run_result
from capsim.results import summary as res
from capsim.results.files import OutputError
from capsim.results.latency import LatencyMixture
from capsim.results.run_result import RunResult
from capsim.scenario.workloads import Slo

MU = 5.0 * math.log(2.0)  # service rate whose tail at 0.2 s is exactly 1/2
TIMES = (60.0, 120.0, 150.0)  # record intervals of 60, 60 and 30 s

# --- the hand-made recording -----------------------------------------------------------


def rows(platform: str, workload: str, **columns: tuple[float, ...]) -> list[dict[str, Any]]:
    """Three time-series rows; columns not given are 0 (latencies NaN)."""
    out = []
    for k, time_s in enumerate(TIMES):
        row: dict[str, Any] = dict.fromkeys(recording.TIMESERIES_COLUMNS, 0.0)
        row.update(time_s=time_s, platform=platform, workload=workload)
        row.update(latency_mean_ms=math.nan, latency_p95_ms=math.nan, latency_p99_ms=math.nan)
        row.update({name: values[k] for name, values in columns.items()})
        for name in ("replicas_desired", "replicas_ready", "replicas_total"):
            row[name] = int(row[name])
        out.append(row)
    return out


def law(served: list[float], fixed: list[float]) -> LatencyComponents:
    """Ticks without wait: ``T = fixed + Exp(MU)``; NaN law where nothing was served."""
    s = np.array(served)
    nan_if_idle = np.where(s > 0, 1.0, np.nan)
    return LatencyComponents(
        served=s,
        fixed_wait_s=np.array(fixed) * nan_if_idle,
        wait_probability=np.zeros(5) * nan_if_idle,
        wait_rate_per_s=np.full(5, MU) * nan_if_idle,
        service_rate_per_s=np.full(5, MU) * nan_if_idle,
    )


def make_recording(**overrides: Any) -> Recording:
    k8s = {"nodes": (2, 2, 3), "cost_usd": (0.1, 0.2, 0.3)}
    timeseries = pd.DataFrame(
        rows(
            "k8s",
            "web",
            **k8s,
            arrival_rate=(10, 20, 40),
            served_rate=(10, 20, 30),
            dropped_rate=(0, 0, 10),
            latency_p95_ms=(100, 300, 150),
            replicas_desired=(2, 4, 4),
            replicas_ready=(2, 2, 4),
            replicas_total=(2, 4, 4),
            cpu_used_cores=(1, 2, 3),
            cpu_requested_cores=(2, 2, 2),
            cpu_capacity_cores=(4, 4, 4),
        )
        + rows(
            "k8s",
            "train",
            **k8s,
            replicas_ready=(4, 4, 0),
            cpu_used_cores=(4, 4, 0),
            cpu_requested_cores=(4, 4, 0),
            cpu_capacity_cores=(4, 4, 0),
            jobs_queued=(1, 0, 0),
            jobs_running=(2, 2, 0),
        )
        + rows(
            "vms",
            "web",
            arrival_rate=(10, 20, 40),
            served_rate=(0, 20, 40),
            dropped_rate=(10, 0, 0),
            latency_p95_ms=(math.nan, 100, 100),
            replicas_ready=(0, 1, 2),
            cpu_used_cores=(0, 1, 2),
            cpu_capacity_cores=(0, 2, 4),
            nodes=(1, 1, 2),
            cost_usd=(0.5, 1.0, 1.25),
        )
    )
    events = pd.DataFrame(
        [
            (30.0, "k8s", "web", "scale", 2, 4, "ScaleUp", 'cpu 90% > 70%, "quoted"'),
            (60.0, "k8s", "web", "pod_ready", None, None, "", ""),
            (90.0, "k8s", "web", "scale", 4, 2, "ScaleDownStabilized", "NA"),
            (120.0, "k8s", "web", "scale", 2, 4, "ScaleUp", "multi\nline"),
            (100.0, "vms", "web", "scale", 1, 2, "TargetTracking", "nan"),
            (140.0, "k8s", "", "node", None, None, "NodeAdded", None),
        ],
        columns=list(recording.EVENT_COLUMNS),
    )
    nan = math.nan
    jobs = pd.DataFrame(
        {
            "platform": ["k8s"] * 4,
            "workload": ["train"] * 4,
            "job": [1, 2, 3, 4],
            "submit_s": [0.0, 10.0, 20.0, 30.0],
            "start_s": [5.0, 10.0, 50.0, nan],
            "end_s": [65.0, 40.0, 110.0, nan],
            "workers": [4, 2, 2, 1],
        }
    )
    base: dict[str, Any] = {
        "scenario_name": "demo",
        "seed": 7,
        "duration_s": 150.0,
        "tick_s": 30.0,
        "record_every_s": 60.0,
        "timeseries": timeseries,
        "events": events,
        "latency": {
            ("k8s", "web"): law([300, 300, 600, 600, 900], [0, 0, 0, 0, 0.25]),
            ("vms", "web"): law([0, 0, 600, 600, 1200], [0, 0, 0, 0, 0]),
        },
        # windows of 60 s (two ticks): ticks 1-2, 3-4 and 5
        "slo": {
            "web": Slo.model_validate(
                {"p95_latency_ms": 200.0, "max_error_rate": 0.05, "window": "60s"}
            )
        },
        "platform_kinds": {"k8s": "kubernetes", "vms": "vm"},
        "workload_kinds": {"web": "service", "train": "batch"},
        "jobs": jobs,
        "scenario": {"name": "demo", "nested": {"pair": (1, 2), "ratio": 0.5}},
    }
    return Recording(**(base | overrides))


@pytest.fixture(scope="module")
def result() -> RunResult:
    return RunResult.from_recording(make_recording())


def check(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
            assert actual[key] == value, key
            assert type(actual[key]) is type(value), key
        else:
            assert actual[key] == pytest.approx(value, rel=1e-11, abs=1e-12), key


# --- the summary by hand ---------------------------------------------------------------


def test_summary_top_level_and_platforms(result: RunResult) -> None:
    s = result.summary
    check(s, {"scenario": "demo", "seed": 7, "duration_s": 150.0, "tick_s": 30.0})
    assert s["scenario_as_run"] == {"name": "demo", "nested": {"pair": [1, 2], "ratio": 0.5}}
    assert set(s["platforms"]) == {"k8s", "vms"}
    k8s, vms = s["platforms"]["k8s"], s["platforms"]["vms"]
    assert set(k8s["workloads"]) == {"web", "train"}
    # Kubernetes rows repeat the pool's nodes (2, 2, 3); VM rows count their VMs (1, 1, 2).
    check(k8s, {"kind": "kubernetes", "cost_usd": 0.3, "cost_per_hour_usd": 0.3 / (150 / 3600)})
    check(k8s, {"nodes_mean": (2 * 60 + 2 * 60 + 3 * 30) / 150, "nodes_max": 3.0})
    check(vms, {"kind": "vm", "cost_usd": 1.25, "cost_per_hour_usd": 30.0})
    check(vms, {"nodes_mean": (60 + 60 + 2 * 30) / 150, "nodes_max": 2.0})


def test_summary_service_on_kubernetes(result: RunResult) -> None:
    web = result.summary["platforms"]["k8s"]["workloads"]["web"]
    # Ticks 1-4 (1800 requests): Exp(MU); tick 5 (900): 0.25 s + Exp(MU). Above 0.25 s the
    # pooled tail is e^{-MU t} (1800 + 900 e^{0.25 MU}) / 2700.
    head = 1800 + 900 * math.exp(0.25 * MU)

    def pooled_ms(q: float) -> float:
        return 1000 * math.log(head / (2700 * (1 - q))) / MU

    check(
        web,
        {
            "kind": "service",
            "requests_arrived": 10.0 * 60 + 20 * 60 + 40 * 30,
            "requests_served": 2700.0,
            "requests_dropped": 300.0,
            "dropped_pct": 10.0,
            "latency_mean_ms": 1000 * (1 / MU + 0.25 * 900 / 2700),
            "latency_p50_ms": pooled_ms(0.50),
            "latency_p95_ms": pooled_ms(0.95),
            "latency_p99_ms": pooled_ms(0.99),
            "slo_p95_ms": 200.0,
            "slo_max_error_rate": 0.05,
            # interval 2: p95 300 > 200; interval 3: errors 10 / (30 + 10) > 0.05 → 90 of 150 s
            "slo_violation_time_pct": 60.0,
            # late: half of ticks 1-4, all of tick 5; plus 300 dropped, of 2700 + 300
            "slo_violation_requests_pct": 100 * (900 + 900 + 300) / 3000,
            "utilization_pct": 100 * (1 * 60 + 2 * 60 + 3 * 30) / (4 * 150),
            "cpu_used_core_hours": 270 / 3600,
            "cpu_capacity_core_hours": 600 / 3600,
            "allocation_efficiency_pct": 50.0,
            "replicas_min": 2,
            "replicas_mean": (2 * 60 + 2 * 60 + 4 * 30) / 150,
            "replicas_max": 4,
            "scale_events": 3,
            "scale_events_per_hour": 72.0,
        },
    )
    assert pooled_ms(0.5) > 250  # the closed form holds only above the fixed wait
    # The SLO: half of ticks 1-4 are over 200 ms and all of tick 5 (its fixed 250 ms wait):
    # every window has far more than 5 % late, so 0 of 3 windows are within; 99 % of 3
    # allow 0.03 bad windows: 3 / 0.03 = 10,000 % of the budget. Errors: nothing failed.
    slo = web["slo"]
    assert slo["latency"] == {
        "rule": "p95 ≤ 200 ms in ≥ 99 % of 1-minute windows",
        "threshold_ms": 200.0,
        "percentile": 95.0,
        "window_s": 60.0,
        "objective_pct": 99.0,
        "windows": 3,
        "good_windows": 0,
        "compliance_pct": 0.0,
        "budget_used_pct": pytest.approx(10_000.0),
        "met": False,
    }
    assert slo["errors"]["requests_arrived"] == 3000.0
    assert slo["errors"]["requests_failed"] == 0.0
    assert slo["errors"]["met"] is True
    assert slo["met"] is False


def test_summary_service_on_vms_with_an_idle_start(result: RunResult) -> None:
    web = result.summary["platforms"]["vms"]["workloads"]["web"]
    check(
        web,
        {
            "requests_arrived": 3000.0,
            "requests_served": 2400.0,
            "requests_dropped": 600.0,
            "dropped_pct": 20.0,
            "latency_mean_ms": 1000 / MU,
            "latency_p50_ms": 1000 * math.log(2) / MU,
            "latency_p95_ms": -1000 * math.log(0.05) / MU,
            "latency_p99_ms": -1000 * math.log(0.01) / MU,
            "slo_violation_time_pct": 40.0,  # interval 1 dropped everything
            "slo_violation_requests_pct": 100 * (1200 + 600) / (2400 + 600),
            "utilization_pct": 100 * (1 * 60 + 2 * 30) / (2 * 60 + 4 * 30),
            "allocation_efficiency_pct": None,  # nothing requested on VMs
            "replicas_min": 0,
            "replicas_mean": (0 + 1 * 60 + 2 * 30) / 150,
            "replicas_max": 2,
            "scale_events": 1,
            "scale_events_per_hour": 24.0,
        },
    )


def test_slo_windows_that_served_nothing_are_not_counted(result: RunResult) -> None:
    """VMs served nothing in ticks 1-2 (no window there), then half late in each tick."""
    latency = result.summary["platforms"]["vms"]["workloads"]["web"]["slo"]["latency"]
    assert (latency["windows"], latency["good_windows"]) == (2, 0)


def test_summary_batch(result: RunResult) -> None:
    train = result.summary["platforms"]["k8s"]["workloads"]["train"]
    assert "latency_p95_ms" not in train
    # waits 5, 0, 30 (job 4 never started); completions 65, 30, 90 (type-7 percentiles)
    check(
        train,
        {
            "kind": "batch",
            "jobs_submitted": 4,
            "jobs_completed": 3,
            "wait_p50_s": 5.0,
            "wait_p95_s": 5 + 0.9 * 25,
            "completion_p50_s": 65.0,
            "completion_p95_s": 65 + 0.9 * 25,
            "makespan_s": 110.0,
            "utilization_pct": 100.0,
            "allocation_efficiency_pct": 100.0,
            "replicas_min": 0,
            "replicas_mean": (4 * 60 + 4 * 60) / 150,
            "replicas_max": 4,
            "scale_events": 0,
        },
    )


def test_summary_without_slo_or_latency() -> None:
    rec = make_recording(slo={}, latency={})
    web = RunResult.from_recording(rec).summary["platforms"]["k8s"]["workloads"]["web"]
    for key in ("slo_p95_ms", "slo_violation_time_pct", "slo_violation_requests_pct", "slo"):
        assert web[key] is None
    assert web["latency_p95_ms"] is None
    assert web["requests_dropped"] == 300.0


def test_frames_follow_the_schema(result: RunResult) -> None:
    for frame, schema in (
        (result.timeseries, recording.TIMESERIES_COLUMNS),
        (result.events, recording.EVENT_COLUMNS),
        (result.jobs, recording.JOB_COLUMNS),
    ):
        assert list(frame.columns) == list(schema)
        for column, dtype in schema.items():
            expected = pd.Series(["x"]).astype(str).dtype if dtype == "str" else dtype
            assert frame[column].dtype == expected, column
    assert result.events["from"].tolist()[:1] + result.events["from"].tolist()[2:5] == [
        2.0,
        4.0,
        2.0,
        1.0,
    ]
    assert result.events["from"].isna().tolist() == [False, True, False, False, False, True]
    assert list(result.jobs["job"]) == ["1", "2", "3", "4"]


def test_conform_names_bad_columns() -> None:
    broken = make_recording().timeseries.drop(columns=["nodes", "cost_usd"])
    with pytest.raises(ValueError, match=r"timeseries: missing columns \['nodes', 'cost_usd'\]"):
        RunResult.from_recording(make_recording(timeseries=broken))
    jobs = make_recording().jobs.assign(workers=[1.0, math.nan, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"jobs\.workers: cannot be read as int64"):
        RunResult.from_recording(make_recording(jobs=jobs))
    empty = RunResult.from_recording(make_recording(jobs=pd.DataFrame())).jobs
    assert list(empty.columns) == list(recording.JOB_COLUMNS)
    assert len(empty) == 0


def test_small_metrics() -> None:
    assert list(res.interval_lengths_s([60, 120, 150])) == [60, 60, 30]
    assert res.utilization_pct([1, 2], [0, 0], [1, 1]) == 0.0
    assert list(res.interval_error_rate([0, 3, 0], [0, 1, 2])) == [0.0, 0.25, 1.0]
    assert math.isnan(res.empirical_quantile([], 0.5))
    assert math.isnan(res.share_pct(1.0, 0.0))
    assert math.isnan(res.slo_violation_time_pct([1], [1], [0], None, None))
    stats_ = res.job_stats([0.0], [math.nan], [math.nan])
    assert stats_["jobs_completed"] == 0
    assert math.isnan(stats_["makespan_s"])


# --- the pooled latency law ------------------------------------------------------------


def mixture(f: Any, c: Any, theta: Any, mu: Any, w: Any = 1.0) -> LatencyMixture:
    *law_, weights = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, float)) for x in (f, c, theta, mu, w))
    )
    return LatencyMixture.of(ResponseTimeDistribution(*law_), weights)


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99, 0.999])
def test_one_component_closed_forms(q: float) -> None:
    # M/M/1 with λ = 6, μ = 10: C = ρ and the response time is Exp(μ − λ).
    mm1 = mixture(0.0, 0.6, 4.0, 10.0)
    assert mm1.quantile_s(q) == pytest.approx(-math.log(1 - q) / 4.0, rel=1e-10)
    assert mm1.tail(0.3) == pytest.approx(math.exp(-4.0 * 0.3), rel=1e-12)
    assert mm1.mean_s() == pytest.approx(0.25, rel=1e-14)
    # Always waiting with θ = μ = 3: Gamma(2, 3), shifted by a fixed wait of 0.7 s.
    gamma = mixture(0.7, 1.0, 3.0, 3.0)
    reference = 0.7 + stats.gamma(a=2, scale=1 / 3).ppf(q)
    assert gamma.quantile_s(q) == pytest.approx(reference, rel=1e-10)
    # No wait, fixed 0.1 s: 0.1 + Exp(5).
    assert mixture(0.1, 0.0, 5.0, 5.0).quantile_s(q) == pytest.approx(
        0.1 - math.log(1 - q) / 5, rel=1e-12
    )


@pytest.mark.parametrize("relative_gap", [0.0, 1e-7, 1e-4, 2e-3, 0.05, -0.5, 3.0])
def test_hypoexponential_on_both_sides_of_the_near_threshold(relative_gap: float) -> None:
    c, mu, fixed = 0.4, 8.0, 0.05
    theta = mu * (1 + relative_gap)

    def tail(t: float) -> float:
        x = t - fixed
        if theta == mu:
            hypo = math.exp(-mu * x) * (1 + mu * x)
        else:
            hypo = (theta * math.exp(-mu * x) - mu * math.exp(-theta * x)) / (theta - mu)
        return (1 - c) * math.exp(-mu * x) + c * hypo

    one = mixture(fixed, c, theta, mu)
    tol = 1e-8 if 0 < abs(relative_gap) < 1e-3 else 1e-11  # the reference itself cancels
    for q in (0.5, 0.99):
        reference = optimize.brentq(lambda t, q=q: tail(t) - (1 - q), fixed, 10.0, xtol=1e-15)
        assert one.quantile_s(q) == pytest.approx(reference, rel=tol)
    assert one.tail(0.4) == pytest.approx(tail(0.4), rel=tol)


@pytest.mark.parametrize("servers", [1, 3, 16])
def test_mmc_against_queueing(servers: int) -> None:
    lam, mu = 0.8 * servers * 5.0, 5.0
    c = float(queueing.erlang_c(servers, lam / mu))
    one = mixture(0.0, c, servers * mu - lam, mu)
    for q in (0.5, 0.95, 0.99):
        expected = float(queueing.mmc_response_quantile_s(q, lam, mu, servers))
        assert one.quantile_s(q) == pytest.approx(expected, rel=1e-10)
    assert one.mean_s() == pytest.approx(float(queueing.mmc_mean_response_s(lam, mu, servers)))


def random_law(rng: np.random.Generator, n: int) -> tuple[ResponseTimeDistribution, np.ndarray]:
    """Waits and no waits, fixed waits in blocks, some θ ≈ μ, idle ticks with a NaN law."""
    mu = rng.uniform(2.0, 60.0, n)
    c = np.where(rng.random(n) < 0.25, 0.0, rng.uniform(0.0, 1.0, n))
    theta = np.where(rng.random(n) < 0.05, mu * (1 + rng.uniform(-1e-4, 1e-4, n)), mu)
    theta = np.where(rng.random(n) < 0.9, rng.uniform(0.5, 80.0, n), theta)
    fixed = np.where((np.arange(n) // 50) % 7 == 3, rng.uniform(0.0, 2.0, n), 0.0)
    served = np.where(rng.random(n) < 0.03, 0.0, rng.uniform(0.0, 500.0, n))
    idle = served == 0
    fixed[idle] = mu[idle] = np.nan
    return ResponseTimeDistribution(fixed, c, theta, mu), served


@pytest.mark.parametrize("n", [3, 2_000, 30_000])
def test_against_the_bisection_reference(n: int) -> None:
    law_, served = random_law(np.random.default_rng(n), n)
    mix = LatencyMixture.of(law_, served)
    for q in (0.5, 0.95, 0.99):
        expected = queueing.pooled_response_time_quantile_s(law_, served, q)
        assert mix.quantile_s(q) == pytest.approx(expected, rel=1e-9)
    keep = served > 0
    for t in (0.01, 0.3, 2.5):
        tails = queueing.response_time_tail(law_, t)[keep]
        expected = float(served[keep] @ tails) / served[keep].sum()
        assert mix.tail(t) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    f, c, theta, mu = (np.asarray(x)[keep] for x in dataclasses.astuple(law_)[:4])
    direct = LatencyMixture(f, c, theta, mu, served[keep])  # fixed waits not sorted first
    assert direct.quantile_s(0.95) == pytest.approx(mix.quantile_s(0.95), rel=1e-12)
    means = queueing.response_time_mean_s(law_)[keep]
    assert mix.mean_s() == pytest.approx(float(served[keep] @ means) / served[keep].sum())


def test_against_sampling() -> None:
    rng = np.random.default_rng(11)
    law_, served = random_law(rng, 40)
    mix = LatencyMixture.of(law_, served)
    keep = served > 0
    f, c, theta, mu = (np.asarray(x)[keep] for x in dataclasses.astuple(law_)[:4])
    n = 400_000
    i = rng.choice(keep.sum(), size=n, p=served[keep] / served[keep].sum())
    waits = np.where(rng.random(n) < c[i], rng.exponential(1 / theta[i]), 0.0)
    samples = f[i] + waits + rng.exponential(1 / mu[i])
    for q in (0.5, 0.95, 0.99):
        above = float(np.mean(samples > mix.quantile_s(q)))
        sigma = math.sqrt(q * (1 - q) / n)
        assert abs(above - (1 - q)) < 5 * sigma, q
    assert mix.mean_s() == pytest.approx(samples.mean(), rel=5 * samples.std() / math.sqrt(n))


component = st.tuples(
    st.sampled_from([0.0, 0.0, 0.05, 1.0]),
    st.floats(0.0, 1.0),
    st.floats(0.1, 100.0),
    st.floats(0.1, 100.0),
    st.floats(1e-3, 1e3),
)


@settings(max_examples=60)
@given(st.lists(component, min_size=1, max_size=8), st.floats(0.01, 0.995))
def test_quantile_inverts_the_tail(parts: list[tuple[float, ...]], q: float) -> None:
    mix = mixture(*zip(*parts, strict=True))
    t = mix.quantile_s(q)
    assert mix.tail(t) == pytest.approx(1 - q, rel=1e-7)
    assert mix.quantile_s(min(q + 0.004, 0.999)) >= t
    assert t >= min(p[0] for p in parts)


def test_empty_and_invalid_mixtures() -> None:
    nan_law = ResponseTimeDistribution(*(np.full(3, np.nan) for _ in range(4)))
    empty = LatencyMixture.of(nan_law, np.zeros(3))
    assert math.isnan(empty.quantile_s(0.5))
    assert math.isnan(empty.mean_s())
    assert math.isnan(empty.tail(1.0))
    assert empty.total_weight == 0.0
    with pytest.raises(ValueError, match="must be in"):
        mixture(0, 0, 1, 1).quantile_s(1.0)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        mixture(0, 0, 1, 1, [1.0, -1.0])
    with pytest.raises(ValueError, match=r"fixed_s\[0\]: must be >= 0 and finite, got nan"):
        LatencyMixture.of(nan_law, np.ones(3))
    with pytest.raises(ValueError, match=r"wait_probability\[0\]: must be <= 1"):
        mixture(0, 1.5, 1, 1)


# --- the result folder -----------------------------------------------------------------


def folder_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def assert_results_equal(a: RunResult, b: RunResult) -> None:
    assert a.summary == b.summary
    for name in ("timeseries", "events", "jobs"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a == b


def test_round_trip(result: RunResult, tmp_path: Path) -> None:
    path = result.save(tmp_path / "out" / "run")
    assert sorted(p.name for p in path.iterdir()) == [
        ".capsim-output",
        "events.csv",
        "jobs.csv",
        "summary.json",
        "timeseries.parquet",
    ]
    assert_results_equal(RunResult.load(path), result)
    assert list(RunResult.load(path).events["detail"])[1:3] == ["", "NA"]


def test_round_trip_without_pyarrow(
    result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_result, "_parquet_available", lambda: False)
    path = result.save(tmp_path / "run")
    assert (path / "timeseries.csv").exists()
    assert not (path / "timeseries.parquet").exists()
    assert_results_equal(RunResult.load(path), result)


def test_saves_are_byte_identical(result: RunResult, tmp_path: Path) -> None:
    first = folder_bytes(result.save(tmp_path / "a"))
    assert first == folder_bytes(result.save(tmp_path / "b"))
    again = RunResult.from_recording(make_recording())
    assert first == folder_bytes(again.save(tmp_path / "c"))
    assert first == folder_bytes(RunResult.load(tmp_path / "a").save(tmp_path / "d"))


def test_json_has_no_nan(result: RunResult, tmp_path: Path) -> None:
    text = (result.save(tmp_path / "run") / "summary.json").read_text()

    def refuse(token: str) -> None:
        raise AssertionError(f"non-JSON constant {token}")

    json.loads(text, parse_constant=refuse)
    vms_web = json.loads(text)["platforms"]["vms"]["workloads"]["web"]
    assert vms_web["allocation_efficiency_pct"] is None


def test_failed_save_leaves_the_good_folder(
    result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = result.save(tmp_path / "run")
    before = folder_bytes(good)
    other = dataclasses.replace(result, summary={**result.summary, "seed": 8})

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:  # fails after summary.json and the time series
        patch.setattr(pd.DataFrame, "to_csv", disk_full)
        with pytest.raises(OutputError, match=f"directory {good}: cannot write: disk full"):
            other.save(good)
    assert folder_bytes(good) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

    renames: list[Path] = []
    real_rename = Path.rename

    def second_rename_fails(self: Path, target: Any) -> Path:
        renames.append(self)
        if len(renames) == 2:  # the new folder into place, after the old one moved aside
            raise OSError("rename failed")
        return real_rename(self, target)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "rename", second_rename_fails)
        with pytest.raises(OutputError, match="rename failed"):
            other.save(good)
    assert folder_bytes(good) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

    other.save(good)  # and a save that works replaces it
    assert RunResult.load(good).summary["seed"] == 8
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_save_refuses_a_file(result: RunResult, tmp_path: Path) -> None:
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        result.save(tmp_path / "run")
    assert (tmp_path / "run").read_text() == "not a folder"
