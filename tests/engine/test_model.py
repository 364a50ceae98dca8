"""The engine against independent references and invariants: M/M/c, conservation,
determinism, the cluster autoscaler, every bundled trace, and bad runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from engine_helpers import TRACES, run_mapping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capsim
from capsim.scenario import KubernetesPlatform


def mmc_reference(lam: float, mu: float, c: int) -> tuple[float, float]:
    """Mean and p95 response time (s) of a stationary M/M/c, straight from the textbook."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    wait_p = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    theta = c * mu - lam
    mean = 1 / mu + wait_p / theta

    def tail(t: float) -> float:
        hypo = (mu * math.exp(-theta * t) - theta * math.exp(-mu * t)) / (mu - theta)
        return (1 - wait_p) * math.exp(-mu * t) + wait_p * hypo

    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tail(mid) > 0.05 else (lo, mid)
    return mean, (lo + hi) / 2


def fixed_service(
    rate: float, c: int, cpu_ms: float, limit: float, replicas: int, **platform: Any
) -> dict[str, Any]:
    return {
        "name": "mmc",
        "seed": 1,
        "duration": "10m",
        "tick": "1s",
        "workloads": [
            {
                "kind": "service",
                "name": "api",
                "cpu_ms_per_request": cpu_ms,
                "concurrency": c,
                "timeout": "30s",
                "load": {"type": "constant", "rate": rate},
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 16,
                        "memory": "64Gi",
                        "price_per_hour": 1.0,
                        "min_nodes": 1,
                        "max_nodes": 8,
                    }
                ],
                "workloads": {
                    "api": {
                        "replicas": replicas,
                        "pod": {"cpu_request": limit, "cpu_limit": limit, "memory_request": "1Gi"},
                    }
                },
            },
        },
    }


@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (2, 0.9), (8, 0.7), (4, 0.3)])
def test_fixed_replicas_match_mmc(tmp_path: Path, c: int, rho: float) -> None:
    # 4 replicas, c slots each on c cores (limit c), 100 ms CPU per request: each
    # replica an M/M/c with μ = 10/s per slot.
    mu, replicas = 10.0, 4
    rate = rho * c * mu * replicas
    result = run_mapping(tmp_path, fixed_service(rate, c, 100.0, c, replicas))
    summary = result.summary["platforms"]["k8s"]["workloads"]["api"]
    mean, p95 = mmc_reference(rate / replicas, mu, c)
    assert summary["latency_mean_ms"] == pytest.approx(1000 * mean, rel=0.02)
    assert summary["latency_p95_ms"] == pytest.approx(1000 * p95, rel=0.02)
    assert summary["requests_dropped"] == 0
    assert summary["utilization_pct"] == pytest.approx(100 * rho, rel=0.01)


@pytest.mark.parametrize(("c", "rho"), [(2, 0.5), (4, 0.8), (8, 0.6)])
def test_slots_above_the_cpu_limit_share_it(tmp_path: Path, c: int, rho: float) -> None:
    """c slots on c/2 cores (processor sharing): the number in a replica is that of an
    M/M/(c/2) with μ = 20/s (50 ms at a full core), so the mean response is its mean by
    Little's law — not c slow servers at 0.5 core each (the model before issue 15)."""
    replicas, cores = 4, c // 2
    rate = rho * cores * 20.0 * replicas
    result = run_mapping(tmp_path, fixed_service(rate, c, 50.0, cores, replicas))
    summary = result.summary["platforms"]["k8s"]["workloads"]["api"]
    mean, _ = mmc_reference(rate / replicas, 20.0, cores)
    assert summary["latency_mean_ms"] == pytest.approx(1000 * mean, rel=0.02)


def noisy_day(hours: int = 2) -> dict[str, Any]:
    return {
        "name": "noisy",
        "seed": 11,
        "duration": f"{hours}h",
        "tick": "5s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "cpu_ms_per_request": 20,
                "concurrency": 2,
                "timeout": "10s",
                "load": {
                    "type": "diurnal",
                    "base": 20,
                    "peak": 200,
                    "period": "2h",
                    "poisson": True,
                },
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 4,
                        "memory": "16Gi",
                        "price_per_hour": 0.2,
                        "min_nodes": 1,
                        "max_nodes": 10,
                    }
                ],
                "workloads": {
                    "web": {
                        "pod": {"cpu_request": "500m", "cpu_limit": 1, "memory_request": "512Mi"},
                        "hpa": {
                            "minReplicas": 2,
                            "maxReplicas": 20,
                            "metrics": [
                                {
                                    "type": "Resource",
                                    "resource": {
                                        "name": "cpu",
                                        "target": {"type": "Utilization", "averageUtilization": 60},
                                    },
                                }
                            ],
                        },
                    }
                },
            },
            "vm": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1},
                "workloads": {"web": {"autoscaling": {"target_pct": 50, "min": 1, "max": 20}}},
            },
        },
    }


def test_same_seed_same_result_different_seed_differs(tmp_path: Path) -> None:
    first = run_mapping(tmp_path, noisy_day())
    second = run_mapping(tmp_path, noisy_day())
    pd.testing.assert_frame_equal(first.timeseries, second.timeseries)
    pd.testing.assert_frame_equal(first.events, second.events)
    assert first.summary == second.summary
    other = run_mapping(tmp_path, noisy_day(), seed=12)
    # `poisson: true` draws no counts (the model takes the rate), so the load is the same
    # for every seed; the seed still draws the pods' start-up delays.
    np.testing.assert_array_equal(first.timeseries.arrival_rate, other.timeseries.arrival_rate)
    assert not first.events.equals(other.events)


def test_platforms_see_the_same_load(tmp_path: Path) -> None:
    ts = run_mapping(tmp_path, noisy_day()).timeseries
    k8s = ts[ts.platform == "k8s"].arrival_rate.to_numpy()
    vm = ts[ts.platform == "vm"].arrival_rate.to_numpy()
    assert np.array_equal(k8s, vm)


def check_invariants(result: Any, data: dict[str, Any]) -> None:
    ts = result.timeseries
    numeric = ts.select_dtypes("number")
    assert (numeric.fillna(0) >= -1e-9).all().all(), "nothing negative"
    for platform, rows in ts.groupby("platform"):
        dt = np.diff(np.concatenate([[0.0], rows.time_s.to_numpy()]))
        arrived = float(np.sum(rows.arrival_rate * dt))
        served = float(np.sum(rows.served_rate * dt))
        dropped = float(np.sum(rows.dropped_rate * dt))
        web = result.summary["platforms"][platform]["workloads"]["web"]
        start, end = web["requests_in_system_at_start"], float(rows.in_system.iloc[-1])
        assert end == web["requests_in_system_at_end"]
        assert arrived + start == pytest.approx(served + dropped + end, rel=1e-9, abs=1e-6)
        assert (rows.cpu_used_cores <= rows.cpu_capacity_cores * (1 + 1e-9) + 1e-9).all()
        assert (rows.utilization_pct <= 100 + 1e-6).all()
        assert (np.diff(rows.cost_usd.to_numpy()) >= -1e-12).all(), "cost is monotone"
        config = data["platforms"][platform]["workloads"]["web"]
        bounds = (
            (config["hpa"]["minReplicas"], config["hpa"]["maxReplicas"])
            if "hpa" in config
            else (config["autoscaling"]["min"], config["autoscaling"]["max"])
        )
        assert rows.replicas_desired.between(*bounds).all()


LOADS = st.one_of(
    st.builds(lambda r: {"type": "constant", "rate": r}, st.floats(1, 400)),
    st.builds(
        lambda b, p: {"type": "diurnal", "base": b, "peak": b + p, "period": "30m"},
        st.floats(0, 100),
        st.floats(0, 400),
    ),
    st.builds(
        lambda a, b, t: {"type": "step", "before": a, "after": b, "at": f"{t}s"},
        st.floats(0, 300),
        st.floats(0, 600),
        st.integers(0, 1800),
    ),
    st.builds(
        lambda h: {
            "type": "spike",
            "base": 5,
            "start": "10m",
            "rise": "30s",
            "height": h,
            "decay": "3m",
        },
        st.floats(0, 1500),
    ),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    load=LOADS,
    poisson=st.booleans(),
    target=st.integers(20, 95),
    hi=st.integers(2, 30),
    vm_target=st.integers(20, 90),
    concurrency=st.integers(1, 8),
    seed=st.integers(0, 1000),
)
def test_invariants_over_random_scenarios(
    tmp_path_factory: pytest.TempPathFactory,
    load: dict[str, Any],
    poisson: bool,
    target: int,
    hi: int,
    vm_target: int,
    concurrency: int,
    seed: int,
) -> None:
    data = noisy_day()
    data["duration"] = "40m"
    data["seed"] = seed
    data["workloads"][0]["load"] = {**load, "poisson": poisson}
    data["workloads"][0]["concurrency"] = concurrency
    hpa = data["platforms"]["k8s"]["workloads"]["web"]["hpa"]
    hpa["maxReplicas"] = hi
    hpa["metrics"][0]["resource"]["target"]["averageUtilization"] = target
    scaling = data["platforms"]["vm"]["workloads"]["web"]["autoscaling"]
    scaling["target_pct"], scaling["max"] = vm_target, hi
    result = run_mapping(tmp_path_factory.mktemp("inv"), data)
    check_invariants(result, data)


def test_cluster_autoscaler_adds_and_removes_nodes(tmp_path: Path) -> None:
    # 4 req/s, then 60 req/s from 5 to 25 min, then 4 again; each pod (1 core) serves
    # 10 req/s and nodes hold 3 pods (3.92 cores allocatable).
    trace = tmp_path / "load.csv"
    rows = ["timestamp,requests_per_s"] + [
        f"{60 * m},{60.0 if 5 <= m < 25 else 4.0}" for m in range(60)
    ]
    trace.write_text("\n".join(rows) + "\n")
    data = {
        "name": "ca",
        "seed": 3,
        "duration": "60m",
        "tick": "5s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "cpu_ms_per_request": 100,
                "load": {"type": "trace", "path": str(trace)},
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 4,
                        "memory": "16Gi",
                        "price_per_hour": 0.2,
                        "min_nodes": 1,
                        "max_nodes": 6,
                        "provision": "60s",
                    }
                ],
                "cluster_autoscaler": {
                    "scale_down_unneeded": "5m",
                    "scale_down_delay_after_add": "5m",
                },
                "workloads": {
                    "web": {
                        "pod": {
                            "cpu_request": 1,
                            "cpu_limit": 1,
                            "memory_request": "1Gi",
                            "container_start": "2s",
                            "readiness_delay": "5s",
                        },
                        "hpa": {
                            "minReplicas": 1,
                            "maxReplicas": 15,
                            "metrics": [
                                {
                                    "type": "Resource",
                                    "resource": {
                                        "name": "cpu",
                                        "target": {"type": "Utilization", "averageUtilization": 60},
                                    },
                                }
                            ],
                        },
                    }
                },
            }
        },
    }
    result = run_mapping(tmp_path, data)
    events = result.events
    requested = events[events.kind == "node_requested"]
    ready = events[events.kind == "node_ready"]
    removed = events[events.kind == "node_removed"]
    assert len(requested) >= 2
    # Every node is ready exactly its provisioning delay after it was requested.
    assert sorted(ready.time_s) == sorted(requested.time_s + 60.0)
    # Pods were Pending while nodes came: more pods than ready pods for a while.
    ts = result.timeseries
    assert (ts.replicas_total > ts.replicas_ready).any()
    assert ts.nodes.max() <= 6
    # A node goes only once it has been unneeded for 5 min: after some scale-down of the
    # pods at least 300 s before (the HPA settles 15 → 10 pods under load, freeing a node;
    # the load drop at 25 min frees the rest). At the end only the minimum is left.
    scaled_down = events[(events.kind == "scale") & (events.to < events["from"])].time_s
    assert len(removed) >= 2
    for when in removed.time_s:
        assert (scaled_down <= when - 300).any()
    assert removed.time_s.max() >= 25 * 60 + 300
    assert ts.nodes.iloc[-1] == 1


@pytest.mark.parametrize(
    ("trace", "column", "scale", "window"),
    [
        ("nasa_http_1995-07_per_minute.csv", "requests_per_s", 100, {"start": "12d"}),
        ("nasa_http_1995-07-13_per_second.csv", "requests_per_s", 5, {"start": "13h"}),
        ("worldcup98_per_minute.csv", "requests_per_s", 0.2, {"start": "60d"}),
        ("worldcup98_peak_week_per_minute.csv", "requests_per_s", 0.05, {}),
        ("azure_llm_inference_2023_code_per_second.csv", "requests_per_s", 1, {}),
        ("azure_llm_inference_2023_conv_per_second.csv", "requests_per_s", 4, {}),
        ("azure_vm2019_fleet_cpu_5min.csv", "cpu_cores", 0.0005, {}),
    ],
)
def test_every_bundled_trace_runs(
    tmp_path: Path, trace: str, column: str, scale: float, window: dict[str, str]
) -> None:
    data = noisy_day(hours=1)
    data["duration"] = "30m"
    del data["tick"]
    data["workloads"][0]["load"] = {
        "type": "trace",
        "path": str(TRACES / trace),
        "column": column,
        "scale": scale,
        **window,
    }
    result = run_mapping(tmp_path, data)
    check_invariants(result, data)
    assert result.summary["platforms"]["k8s"]["workloads"]["web"]["requests_arrived"] > 0


def test_scalar_and_batched_hpa_paths_run_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HPA controller's three ways to decide (with Numba one compiled call per sync;
    without it one HPA at a time in Python or all in one NumPy call): same replicas, same
    metrics, and the same decision log word for word (so the log does not depend on how
    many HPAs a platform has, nor on the install)."""
    from capsim.engine.kubernetes import hpa_controller

    data = noisy_day()
    data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["behavior"] = {
        "scaleDown": {
            "stabilizationWindowSeconds": 120,
            "policies": [{"type": "Percent", "value": 20, "periodSeconds": 60}],
        }
    }
    compiled = run_mapping(tmp_path, data)  # with Numba: the compiled sync
    monkeypatch.setattr(hpa_controller, "COMPILED_HPA_ROWS", False)
    monkeypatch.setattr(hpa_controller, "SCALAR_HPA_LIMIT", 0)
    batched = run_mapping(tmp_path, data)  # NumPy's batch form
    monkeypatch.setattr(hpa_controller, "SCALAR_HPA_LIMIT", 64)
    scalar = run_mapping(tmp_path, data)  # plain Python, one HPA at a time
    for other in (compiled, batched):
        pd.testing.assert_frame_equal(scalar.timeseries, other.timeseries)
        pd.testing.assert_frame_equal(scalar.events, other.events)
    events = scalar.events
    hpa_events = events[(events["kind"] == "scale") & (events["platform"] == "k8s")]["detail"]
    assert hpa_events.str.contains(r"cpu: \d+ % of request vs target 60 %").all()
    holds = events[events["kind"] == "hpa_hold"]
    assert len(holds), "the scale-down policy should hold some syncs back"


def test_pod_counters_match_the_pods(tmp_path: Path) -> None:
    """The engine's running counts of live, ready and scheduled pods never drift from the
    pods."""
    from capsim.engine.kubernetes import KubernetesSim
    from capsim.scenario.inputs import prepare_inputs

    data = noisy_day()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    scenario = capsim.load_scenario(path)
    platform = scenario.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    sim = KubernetesSim("k8s", platform, prepare_inputs(scenario), np.random.default_rng(0))
    stepped = 0
    original = sim._step_block

    def checking_step(first: int, last: int) -> None:
        nonlocal stepped
        counters = sim.cluster.pods
        for w, pods in enumerate(counters.by_workload):
            assert counters.ready[w] == sum(1 for p in pods if p.ready_s is not None)
            assert counters.bound[w] == sum(1 for p in pods if p.node is not None)
            assert counters.settled[w] + len(counters.unsettled[w]) == len(pods)
            assert counters.count[w] == len(pods)
            assert all(not p.settled for p in counters.unsettled[w])
        original(first, last)
        stepped += sim.next_tick - first

    sim._step_block = checking_step  # type: ignore[method-assign]
    sim.run()
    assert stepped == 2 * 3600 // 5  # every tick stepped exactly once


@pytest.mark.parametrize(
    ("periods", "end"),
    [
        ((("record", 60.0), ("scrape", 15.0), ("sync", 15.0), ("autoscale", 10.0)), 600.0),
        ((("record", 0.3), ("tick", 0.1), ("alarm", 0.7)), 7.0),
        ((("a", 2.5),), 10.0),
    ],
)
def test_periodic_times_in_order(periods: tuple[tuple[str, float], ...], end: float) -> None:
    """Every k × period before the end, equal instants merged in the order given; against
    exact rational arithmetic."""
    from fractions import Fraction

    from capsim.models.schedule import Periodic

    expected: dict[Fraction, list[str]] = {}
    for name, period in periods:
        step = Fraction(str(period))
        k = 0
        while k * step < Fraction(str(end)):
            expected.setdefault(k * step, []).append(name)
            k += 1
    got = list(Periodic(list(periods), end))
    assert [now for now, _ in got] == pytest.approx([float(t) for t in sorted(expected)])
    assert [due for _, due in got] == [expected[t] for t in sorted(expected)]


def test_progress_is_reported_per_platform_in_simulated_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(noisy_day(hours=1)))
    scenario = capsim.load_scenario(path)
    calls: list[tuple[str, float, float]] = []
    capsim.run(scenario, progress=lambda *args: calls.append(args))
    for platform in ("k8s", "vm"):
        done = [d for p, d, total in calls if p == platform and total == 3600.0]
        assert done == [60.0 * k for k in range(1, 61)]  # every record row, to the end
    quiet = capsim.run(scenario)
    shown = capsim.run(scenario, progress=True)
    assert "capsim k8s" in capsys.readouterr().err
    pd.testing.assert_frame_equal(quiet.timeseries, shown.timeseries)  # display only


def test_skipping_idle_autoscaler_instants_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instants where only an idle cluster autoscaler is due (10 s scans between 15 s HPA
    syncs and 60 s ticks) are skipped; the run is the same as one that visits them all,
    to the bit, nodes coming and going included."""
    from capsim.engine.platform import PlatformSim

    data = noisy_day(hours=6)
    data["tick"] = "60s"
    skipped: list[float] = []
    original = PlatformSim._idle

    def counting(self: PlatformSim, due: Any, now: float) -> bool:
        idle = original(self, due, now)
        if idle:
            skipped.append(now)
        return idle

    monkeypatch.setattr(PlatformSim, "_idle", counting)
    fast = run_mapping(tmp_path, data)
    assert len(skipped) > 1000  # most of the 10 s scans between syncs
    monkeypatch.setattr(PlatformSim, "_idle", lambda self, due, now: False)
    every = run_mapping(tmp_path, data)
    assert fast == every
    nodes = every.events[every.events["kind"].str.startswith("node_")]
    assert len(nodes) >= 2, "the pool should scale in this run"
