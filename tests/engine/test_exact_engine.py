"""``service_model: exact`` in the engine: what the switch guarantees besides agreeing with
the references (``test_exact_mode_reference.py``): conservation at every recorded row,
determinism, independence from how the engine blocks its ticks, common random numbers
across platforms, the measured columns, the confidence interval's honesty against the
M/M/1 closed form, and the edges (refusals, limits)."""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import run_mapping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capsim.results.latency import EmpiricalLatency
from capsim.scenario import ScenarioError

ROUTINGS = ("random", "round_robin", "pooled", "least_request", "join_shortest_queue")


def scenario(
    service: dict[str, Any] | None = None,
    *,
    replicas: int = 1,
    cores: float = 1.0,
    routing: str = "random",
    duration: str = "2h",
    record_every: str = "1m",
    hpa: dict[str, Any] | None = None,
    platforms: int = 1,
    seed: int = 3,
) -> dict[str, Any]:
    """One service on Kubernetes (one big node, fixed replicas unless ``hpa``)."""
    body: dict[str, Any] = {
        "kind": "service",
        "name": "api",
        "cpu_ms_per_request": 100,
        "concurrency": 1,
        "timeout": "1h",
        "load": {"type": "constant", "rate": 8},
    }
    body.update(service or {})
    workload: dict[str, Any] = {
        "routing": routing,
        "pod": {"cpu_request": cores, "cpu_limit": cores, "memory_request": "1Gi"},
    }
    if hpa is not None:
        workload["hpa"] = hpa
    else:
        workload["replicas"] = replicas
    platform = {
        "kind": "kubernetes",
        "node_pools": [
            {
                "name": "p",
                "vcpu": 256,
                "memory": "1Ti",
                "price_per_hour": 1.0,
                "min_nodes": 1,
                "max_nodes": 1,
            }
        ],
        "workloads": {"api": workload},
    }
    return {
        "name": "exact",
        "seed": seed,
        "duration": duration,
        "tick": "1s",
        "record_every": record_every,
        "service_model": "exact",
        "workloads": [body],
        "platforms": {f"k{i}": copy.deepcopy(platform) for i in range(platforms)},
    }


def cpu_hpa(max_replicas: int, target_pct: int, scale_down_window_s: int) -> dict[str, Any]:
    """An ``autoscaling/v2`` HPA spec on CPU utilization, from 1 replica."""
    return {
        "minReplicas": 1,
        "maxReplicas": max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target_pct},
                },
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": scale_down_window_s}},
    }


def api(result: Any, platform: str = "k0") -> dict[str, Any]:
    summary: dict[str, Any] = result.summary["platforms"][platform]["workloads"]["api"]
    return summary


def test_mm1_against_the_closed_form_and_honest_intervals(tmp_path: Path) -> None:
    """M/M/1 at ρ 0.8 (λ 8/s, μ 10/s): response ~ Exp(μ − λ), so mean 0.5 s, p95 ln 20 / 2,
    p99 ln 100 / 2. Over 12 seeds the 95 % intervals must cover the truth about 95 % of
    the time (at least 9 of 12 for each statistic: P(fewer) < 0.2 % for a true 95 %
    interval), and the pooled estimate is within 4 % (a model 5 % off would fail it:
    the pooled standard error is about 1 %)."""
    truth = {"mean": 0.5, "p95": math.log(20) / 2, "p99": math.log(100) / 2}
    covered = dict.fromkeys(truth, 0)
    estimates: dict[str, list[float]] = {k: [] for k in truth}
    for seed in range(12):
        s = api(run_mapping(tmp_path, scenario(seed=seed)))
        for key, true_s in truth.items():
            got = s[f"latency_{key}_ms"] / 1000.0
            half = s[f"latency_{key}_ci95_ms"] / 1000.0
            assert math.isfinite(half)
            assert half > 0
            covered[key] += abs(got - true_s) <= half
            estimates[key].append(got)
    for key, true_s in truth.items():
        assert covered[key] >= 9, (key, covered[key])
        assert float(np.mean(estimates[key])) == pytest.approx(true_s, rel=0.04), key


def test_same_seed_same_bytes_other_seed_other_requests(tmp_path: Path) -> None:
    data = scenario({"service_time": {"distribution": "lognormal", "cv": 2}}, duration="20m")
    a = run_mapping(tmp_path, data)
    b = run_mapping(tmp_path, data)
    c = run_mapping(tmp_path, data, seed=99)
    assert a.timeseries.equals(b.timeseries)
    assert api(a) == api(b)
    assert api(a)["requests_arrived"] != api(c)["requests_arrived"]


def test_blocking_does_not_change_the_requests(tmp_path: Path) -> None:
    """Record rows cut the engine's tick blocks: every 10 s or every 5 min, the same
    requests are simulated (the same completions, hence the same run percentiles)."""
    base = {"service_time": {"distribution": "gamma", "cv": 3}, "load": {
        "type": "spike", "base": 6, "start": 300, "height": 6, "decay": 120}}  # fmt: skip
    fine = api(run_mapping(tmp_path, scenario(base, record_every="10s", duration="30m")))
    coarse = api(run_mapping(tmp_path, scenario(base, record_every="5m", duration="30m")))
    for key in ("requests_arrived", "requests_served", "requests_in_system_at_end"):
        assert fine[key] == coarse[key], key
    for key in ("latency_mean_ms", "latency_p95_ms", "latency_p99_ms", "latency_p99_ci95_ms"):
        assert fine[key] == coarse[key], key


def test_platforms_see_the_same_requests(tmp_path: Path) -> None:
    """Two identical platforms with pooled routing (no routing draws) serve the same
    requests the same way; random routing draws per platform."""
    pooled = run_mapping(tmp_path, scenario(replicas=2, routing="pooled", platforms=2))
    assert api(pooled, "k0") == api(pooled, "k1")
    spread = run_mapping(tmp_path, scenario(replicas=2, routing="random", platforms=2))
    assert api(spread, "k0")["requests_arrived"] == api(spread, "k1")["requests_arrived"]
    assert api(spread, "k0")["latency_mean_ms"] != api(spread, "k1")["latency_mean_ms"]


def test_no_queueing_gives_the_work_itself(tmp_path: Path) -> None:
    """Deterministic work of 100 ms on as many cores as slots, far from full: no request
    waits or shares a core, so every row's mean, p95 and p99 are the work, 100 ms (to
    single precision), and the CPU used is λ × 0.1 core-s."""
    data = scenario(
        {"service_time": {"distribution": "deterministic"}, "concurrency": 64}, cores=64.0
    )
    result = run_mapping(tmp_path, data)
    rows = result.timeseries
    for column in ("latency_mean_ms", "latency_p95_ms", "latency_p99_ms"):
        assert np.allclose(rows[column], 100.0, rtol=1e-6), column
    used = float(rows.cpu_used_cores.mean())
    assert used == pytest.approx(float(rows.served_rate.mean()) * 0.1, rel=0.01)


def conserved(result: Any, platform: str = "k0") -> None:
    """arrived + in system at start = served + dropped (incl. abandoned) + in system, at
    every recorded row (the rows' rates × their interval lengths are whole requests)."""
    rows = result.timeseries[result.timeseries.platform == platform].sort_values("time_s")
    s = api(result, platform)
    dt = np.diff(np.concatenate([[0.0], rows.time_s.to_numpy()]))
    arrived = np.cumsum(rows.arrival_rate.to_numpy() * dt)
    settled = np.cumsum((rows.served_rate.to_numpy() + rows.dropped_rate.to_numpy()) * dt)
    in_system = rows.in_system.to_numpy()
    start = s["requests_in_system_at_start"]
    assert np.allclose(arrived + start, settled + in_system, rtol=0, atol=1e-6)
    assert np.allclose(arrived, np.round(arrived), atol=1e-6)
    assert (rows.served_rate >= 0).all()
    assert (rows.dropped_rate >= rows.abandoned_rate).all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    routing=st.sampled_from(ROUTINGS),
    slots=st.integers(1, 4),
    cores=st.sampled_from([0.5, 1.0, 2.0]),
    timeout_s=st.sampled_from([0.3, 2.0, 60.0]),
    queue_limit=st.one_of(st.none(), st.integers(0, 5)),
    dispersion=st.sampled_from([0.0, 0.5, 1.0, 4.0]),
    cv=st.sampled_from([0.5, 1.0, 2.5]),
    height=st.floats(0.0, 60.0),
    seed=st.integers(0, 2**16),
)
def test_conservation_under_scaling_and_overload(
    tmp_path_factory: pytest.TempPathFactory,
    routing: str,
    slots: int,
    cores: float,
    timeout_s: float,
    queue_limit: int | None,
    dispersion: float,
    cv: float,
    height: float,
    seed: int,
) -> None:
    """Any routing, slots, cores, timeout, queue limit, burstiness and work, under a
    spike that makes the HPA scale up and back down (replicas leave mid-backlog):
    requests are conserved at every row, and a run-level p99 exists where requests were
    served."""
    service: dict[str, Any] = {
        "concurrency": slots,
        "timeout": timeout_s,
        "service_time": {"distribution": "lognormal", "cv": cv},
        "arrivals": {"dispersion_index": dispersion},
        "load": {"type": "spike", "base": 4, "start": 120, "height": height, "decay": 90},
    }
    if queue_limit is not None:
        service["queue_limit"] = queue_limit
    hpa = cpu_hpa(max_replicas=6, target_pct=50, scale_down_window_s=30)
    data = scenario(
        service, routing=routing, cores=cores, duration="12m", record_every="30s", hpa=hpa,
        seed=seed,
    )  # fmt: skip
    result = run_mapping(tmp_path_factory.mktemp("exact"), data)
    conserved(result)
    s = api(result)
    assert s["requests_served"] > 0
    assert math.isfinite(s["latency_p99_ms"])


def test_replicas_leaving_finish_within_the_grace(tmp_path: Path) -> None:
    """A scale-down mid-backlog: the replicas that leave keep what they hold for up to
    30 s; nothing is lost without being counted (conservation holds at every row)."""
    hpa = cpu_hpa(max_replicas=8, target_pct=40, scale_down_window_s=0)
    service = {
        "concurrency": 2,
        "timeout": "5m",
        "load": {"type": "spike", "base": 3, "start": 60, "height": 40, "decay": 60},
    }
    result = run_mapping(tmp_path, scenario(service, hpa=hpa, duration="15m", record_every="10s"))
    conserved(result)
    ready = result.timeseries.replicas_ready.to_numpy()
    assert ready.max() > ready[-1]  # it scaled down again


def test_expected_model_refuses_cv_above_one_and_exact_refuses_retries(tmp_path: Path) -> None:
    data = scenario({"service_time": {"distribution": "lognormal", "cv": 2}})
    data["service_model"] = "expected"
    with pytest.raises(ScenarioError, match=r"service_time\.cv.*service_model: exact"):
        run_mapping(tmp_path, data)
    retrying = scenario({"retries": {"max": 2}})
    with pytest.raises(ScenarioError, match=r"retries.*service_model: exact"):
        run_mapping(tmp_path, retrying)
    wrong = scenario()
    wrong["service_model"] = "sampled"
    with pytest.raises(ScenarioError, match="service_model"):
        run_mapping(tmp_path, wrong)


def test_a_run_too_large_is_refused_before_it_starts(tmp_path: Path) -> None:
    """1,000 req/s for 3 days on 2 platforms is 5.2e8 requests: over the limit."""
    data = scenario({"load": {"type": "constant", "rate": 1000}}, duration="3d", platforms=2)
    with pytest.raises(ScenarioError, match=r"service_model: exact would simulate about 5\.2"):
        run_mapping(tmp_path, data)


def test_expected_model_reports_no_interval(tmp_path: Path) -> None:
    """The expected model has no sampling noise: no confidence interval is printed."""
    data = scenario(duration="10m")
    data["service_model"] = "expected"
    s = api(run_mapping(tmp_path, data))
    assert not [key for key in s if "ci95" in key]


def test_empirical_quantiles_and_intervals_by_hand() -> None:
    """The inverse of the empirical distribution (the smallest value with a share q at or
    below it), and the batch-means half-width t(0.975, 19) · sd / √20 by hand."""
    law = EmpiricalLatency(np.array([4.0, 1.0, 3.0, 2.0]))
    assert law.quantile_s(0.5) == 2.0
    assert law.quantile_s(0.75) == 3.0
    assert law.quantile_s(0.76) == 4.0
    assert law.tail(2.5) == 0.5
    assert law.mean_s() == 2.5
    values = np.arange(1, 101, dtype=np.float64)  # 1..100
    assert EmpiricalLatency(values).quantile_s(0.95) == 95.0  # q·n is 95.00000000000001
    assert math.isnan(law.ci95_half_width_s(None))  # 20 batches need ≥ 10 requests each
    rng = np.random.default_rng(5)
    data = rng.exponential(1.0, 20 * 500)
    batches = data.reshape(20, 500).mean(axis=1)
    by_hand = 2.093024054408263 * batches.std(ddof=1) / math.sqrt(20)
    assert EmpiricalLatency(data).ci95_half_width_s(None) == pytest.approx(by_hand, rel=1e-12)
    assert math.isnan(EmpiricalLatency(data).ci95_half_width_s(0.99))  # 500 · 0.01 < 10


def test_a_leaving_replica_serves_for_the_grace_then_drops_the_rest() -> None:
    """The bank directly: one replica (deterministic 100 ms, one slot) fed 50 req/s for
    60 s holds a backlog of ~2,400; then no replica is ready and no load comes. The
    leaving replica serves for 30 s (300 requests, one every 100 ms), and what it holds
    at the deadline is dropped, in the tick the deadline falls in."""
    from capsim.engine.exact import TERMINATION_GRACE_S, ExactServiceBank
    from capsim.models import service as sv
    from capsim.scenario import ServiceWorkload

    workload = ServiceWorkload.model_validate(
        {
            "kind": "service",
            "name": "api",
            "cpu_ms_per_request": 100,
            "timeout": "1h",
            "service_time": {"distribution": "deterministic"},
            "load": {"type": "constant", "rate": 50},
        }
    )
    seeds = tuple(np.random.SeedSequence(1, spawn_key=(k,)) for k in range(3))
    bank = ExactServiceBank([workload], [1.0], ["random"], 1.0, [seeds], Path("."))  # type: ignore[list-item]
    bank.warm(np.array([0.0]), np.array([1.0]))
    bank.step(np.full((60, 1), 50.0), np.array([1.0]))
    held = float(bank.in_system()[0])
    assert held > 2000
    out = bank.step(np.zeros((60, 1)), np.array([0.0]))
    served = out[:, 0, sv.O_SERVED]
    dropped = out[:, 0, sv.O_DROPPED]
    grace = int(TERMINATION_GRACE_S)
    assert served[:grace].sum() in (300, 301)
    assert served[grace:].sum() == 0
    assert dropped.sum() == held - served.sum()
    assert dropped[grace - 1] + dropped[grace] == dropped.sum()  # at the deadline (tick edge)
    assert bank.in_system()[0] == 0


def test_a_latency_winner_only_beyond_the_intervals(tmp_path: Path) -> None:
    """The comparison marks a platform better on p95 only when the two 95 % intervals
    do not overlap: 1 replica against 3 at 8 req/s (p95 about 1.5 s against about
    0.3 s) has a winner; two identical platforms of 3 replicas with random routing (the
    same requests, routed by each platform's own draws: the same law, other noise) do
    not, though their p95 differ."""
    from capsim.analysis.compare import compare

    def p95_rows(data: dict[str, Any]) -> list[Any]:
        rows = compare(run_mapping(tmp_path, data)).rows
        return [r for r in rows if r.label.startswith("api: p95 latency")]

    far = scenario(platforms=2, duration="30m")
    far["platforms"]["k1"]["workloads"]["api"]["replicas"] = 3
    latency, half = p95_rows(far)
    assert latency.winner == "k1"
    assert latency.values["k0"] - latency.values["k1"] > half.values["k0"] + half.values["k1"]
    near = scenario(replicas=3, platforms=2, duration="30m")
    latency, half = p95_rows(near)
    assert latency.values["k0"] != latency.values["k1"]
    assert abs(latency.values["k0"] - latency.values["k1"]) <= math.hypot(*half.values.values())
    assert latency.winner is None


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 9), st.floats(0.0, 50.0, width=32)), min_size=0, max_size=80
    ),
    cuts=st.sets(st.integers(1, 9), max_size=5),
)
def test_row_percentiles_are_the_rows_empirical_quantiles(
    data: list[tuple[int, float]], cuts: set[int]
) -> None:
    """Each row's mean, p95 and p99 are those of the completions in its ticks: NumPy's
    ``inverted_cdf`` quantiles (the smallest value with a share q at or below it); NaN
    for a row without one."""
    from capsim.engine.recorder import PlatformRecorder

    data.sort(key=lambda x: x[0])  # completions come in tick order
    ticks = np.array([t for t, _ in data], dtype=np.int32)
    response = np.array([r for _, r in data], dtype=np.float32)
    edges = [0, *sorted(cuts), 10]
    recorder = PlatformRecorder("p", ["api"], [0], 10, 1.0, np.zeros((10, 1)), np.ones(1))
    recorder._intervals = list(itertools.pairwise(edges))
    recorder.samples = [(response, ticks)]
    mean, p95, p99 = recorder._measured_columns()
    for row, (first, last) in enumerate(recorder._intervals):
        mine = response[(ticks >= first) & (ticks < last)].astype(np.float64)
        if not mine.size:
            assert np.isnan(mean[row, 0])
            continue
        assert mean[row, 0] == pytest.approx(1000 * mine.mean(), rel=1e-12, abs=1e-9)
        for got, q in ((p95, 0.95), (p99, 0.99)):
            assert got[row, 0] == 1000 * np.quantile(mine, q, method="inverted_cdf")


def counts_trace(tmp_path: Path, counts: list[float]) -> dict[str, Any]:
    """A per-second trace of request counts, as a load."""
    path = tmp_path / "counts.csv"
    lines = ["timestamp,requests_per_s"] + [f"{i},{c:g}" for i, c in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    return {"type": "trace", "path": str(path), "column": "requests_per_s"}


def test_exact_counts_are_replayed(tmp_path: Path) -> None:
    """``arrivals.exact_counts``: the exact mode gets each second's count exactly (the
    rows' arrivals are the trace's sums); the expected model takes them as Poisson (the
    same result as without the flag); a count that is not whole is refused."""
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 20, 600).astype(float).tolist()
    service = {
        "load": counts_trace(tmp_path, counts),
        "arrivals": {"exact_counts": True},
        "concurrency": 2,
    }
    data = scenario(service, duration="10m", record_every="1m", cores=2.0)
    rows = run_mapping(tmp_path, data).timeseries
    per_row = np.add.reduceat(np.array(counts), np.arange(0, 600, 60))
    assert np.array_equal(rows.arrival_rate.to_numpy() * 60.0, per_row)
    data["service_model"] = "expected"
    flagged = run_mapping(tmp_path, data).timeseries
    del data["workloads"][0]["arrivals"]
    plain = run_mapping(tmp_path, data).timeseries
    assert flagged.equals(plain)
    counts[7] = 2.5
    bad = scenario(
        {**service, "load": counts_trace(tmp_path, counts)}, duration="10m", record_every="1m"
    )
    with pytest.raises(ScenarioError, match=r"arrivals\.exact_counts.*2\.5 requests.*at 7 s"):
        run_mapping(tmp_path, bad)


def test_the_cli_switch_overrides_the_scenario(tmp_path: Path) -> None:
    """``capsim run --service-model exact`` on a scenario that says nothing: the summary
    then carries the intervals; ``expected`` on an exact scenario drops them; an
    expected-model scenario with cv 2 work is refused (exit 2) unless switched."""
    import json

    import yaml

    from capsim.cli import main as cli

    data = scenario(duration="10m")
    del data["service_model"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))

    def summary(*flags: str) -> dict[str, Any]:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        code = cli.main(
            ["run", str(path), "--out", str(out), "--format", "json", "--quiet", *flags]
        )
        assert code == 0
        loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
        mine: dict[str, Any] = loaded["platforms"]["k0"]["workloads"]["api"]
        return mine

    assert "latency_p95_ci95_ms" not in summary()
    assert "latency_p95_ci95_ms" in summary("--service-model", "exact")
    data["service_model"] = "exact"
    path.write_text(yaml.safe_dump(data))
    assert "latency_p95_ci95_ms" not in summary("--service-model", "expected")
    data["workloads"][0]["service_time"] = {"distribution": "lognormal", "cv": 2}
    data["service_model"] = "expected"
    path.write_text(yaml.safe_dump(data))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "latency_p95_ci95_ms" in summary("--service-model", "exact")
