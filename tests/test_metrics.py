"""capsim.analysis.metrics against hand-computed small cases, closed forms and invariants."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import capsim
from capsim.analysis import metrics


def test_elasticity_by_hand() -> None:
    # Four minutes. Demand 2, 4, 4, 2; supply 2, 2, 4, 4 (a late scale-up, a late scale-down).
    e = metrics.elasticity([60, 120, 180, 240], [2, 4, 4, 2], [2, 2, 4, 4])
    assert e.under_accuracy_pct == pytest.approx(100 / 240 * (2 / 4) * 60)  # 12.5
    assert e.over_accuracy_pct == pytest.approx(100 / 240 * (2 / 2) * 60)  # 25
    assert (e.under_time_pct, e.over_time_pct) == (25.0, 25.0)
    # Moves: supply 0, 0, +, 0; demand 0, +, 0, −: three minutes out of step.
    assert e.instability_pct == pytest.approx(75.0)
    # One supply change, two demand changes, over four minutes.
    assert e.jitter_per_min == pytest.approx(-0.25)
    assert (e.under_unit_s, e.over_unit_s) == (120.0, 120.0)


def test_perfect_supply_is_perfectly_elastic() -> None:
    demand = [1, 3, 5, 5, 2]
    e = metrics.elasticity([10, 20, 30, 40, 50], demand, demand)
    assert e.as_dict() == dict.fromkeys(e.as_dict(), 0.0)


@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30),
    st.lists(st.floats(0.5, 600), min_size=30, max_size=30),
)
def test_elasticity_invariants(pairs: list[tuple[int, int]], gaps: list[float]) -> None:
    demand, supply = zip(*pairs, strict=True)
    time_s = np.cumsum(gaps[: len(pairs)])
    e = metrics.elasticity(time_s, demand, supply)
    for value in (e.under_accuracy_pct, e.over_accuracy_pct, e.instability_pct):
        assert value >= 0
    assert e.under_accuracy_pct <= 100 + 1e-9  # a share of demand, at most all of it
    assert e.under_time_pct + e.over_time_pct <= 100 + 1e-9
    swapped = metrics.elasticity(time_s, supply, demand)
    assert swapped.under_time_pct == pytest.approx(e.over_time_pct)
    assert swapped.under_unit_s == pytest.approx(e.over_unit_s)


def test_elastic_speedup_is_the_geometric_mean_of_ratios() -> None:
    a = metrics.Elasticity(20, 10, 40, 20, 30, 0, 0, 0)
    b = metrics.Elasticity(10, 10, 10, 20, 30, 0, 0, 0)
    assert metrics.elastic_speedup(a, b) == pytest.approx((2 * 1 * 4 * 1 * 1) ** (1 / 5))
    assert metrics.elastic_speedup(a, a) == pytest.approx(1.0)


def test_demand_units_by_hand_for_mm1() -> None:
    # M/M/1 replicas: T ~ Exp(μ − λ/n), p95 = ln 20 / (μ − λ/n). λ = 8, μ = 10, target
    # 0.5 s: one replica gives 1.50 s; two give ln 20 / 6 = 0.499 s.
    units = metrics.demand_units([0.0, 8.0], 10.0, 1, 0.5)
    assert units.tolist() == [0, 2]


@given(lam=st.floats(0.1, 500), mu=st.floats(1, 50), target=st.floats(0.05, 5))
def test_demand_units_match_the_mm1_closed_form(lam: float, mu: float, target: float) -> None:
    needed = math.log(20) / target  # the service rate left over must be at least this
    if mu <= needed * (1 + 1e-9):
        assert metrics.demand_units([lam], mu, 1, target, max_units=50)[0] == 51
        return
    exact = math.ceil(lam / (mu - needed) - 1e-9)
    got = int(metrics.demand_units([lam], mu, 1, target, max_units=10**6)[0])
    assert got in (exact, exact + 1)  # the boundary itself is a floating-point tie
    assert math.log(20) / (mu - lam / got) <= target * (1 + 1e-9)
    if got > 1 and lam / (got - 1) < mu:
        assert math.log(20) / (mu - lam / (got - 1)) > target * (1 - 1e-9)


def test_under_provisioned_episodes_are_the_times_to_capacity() -> None:
    # Short over (10, 30] while supply catches up, then never again.
    spells = metrics.under_provisioned_episodes(
        [10, 20, 30, 40, 50], [1, 3, 3, 1, 3], [1, 1, 2, 3, 3]
    )
    assert spells.tolist() == [20.0]
    still_short = metrics.under_provisioned_episodes([10, 20], [1, 2], [1, 1])
    assert still_short.tolist() == [10.0]


def test_scale_reversals_count_flapping() -> None:
    events = pd.DataFrame(
        {
            "time_s": [10.0, 20.0, 30.0, 40.0, 5.0],
            "platform": ["k", "k", "k", "k", "v"],
            "workload": ["w", "w", "w", "w", "w"],
            "kind": ["scale"] * 5,
            "from": [2.0, 4.0, 8.0, 6.0, 1.0],
            "to": [4.0, 8.0, 6.0, 7.0, 2.0],
        }
    )
    table = metrics.scale_reversals(events).set_index("platform")
    assert table.loc["k", "scale_events"] == 4
    assert table.loc["k", "reversals"] == 2  # up, up, down, up
    assert table.loc["v", "reversals"] == 0


def test_time_at_level_and_cost_per_million() -> None:
    assert metrics.time_at_level_pct([10, 20, 30, 40], [1, 5, 5, 2], 5) == 50.0
    assert metrics.per_million_requests(3.0, 1_500_000) == pytest.approx(2.0)
    assert math.isnan(metrics.per_million_requests(3.0, 0))


def test_opencost_split_by_hand() -> None:
    # $10 bought 100 core-hours and 400 GB-hours: list price 3.1611 + 1.6948 = 4.8559.
    split = metrics.opencost_split(10.0, 100, 400, {"web": 20, "db": 30}, {"web": 50, "db": 100})
    per_list_dollar = 10.0 / 4.8559
    assert split.workloads_usd["web"] == pytest.approx(
        (20 * 0.031611 + 50 * 0.004237) * per_list_dollar
    )
    assert split.workloads_usd["db"] == pytest.approx(
        (30 * 0.031611 + 100 * 0.004237) * per_list_dollar
    )
    assert split.idle_usd == pytest.approx(10.0 - sum(split.workloads_usd.values()))
    everything = metrics.opencost_split(10.0, 100, 400, {"all": 100}, {"all": 400})
    assert everything.idle_usd == pytest.approx(0.0, abs=1e-12)
    assert split.idle_pct == pytest.approx(100 * split.idle_usd / 10.0)


def test_series_must_line_up() -> None:
    with pytest.raises(ValueError, match="shape of time_s"):
        metrics.elasticity([1, 2], [1], [1, 2])
    with pytest.raises(ValueError, match="increasing"):
        metrics.elasticity([2, 1], [1, 1], [1, 1])


def test_service_elasticity_of_a_run_by_hand(tmp_path: Path) -> None:
    # λ = 8/s, 100 ms of CPU per request, one request at a time, a full core per replica:
    # μ = 10/s, M/M/1 replicas; a 500 ms p95 needs 2 of them (see the M/M/1 case above).
    # Three fixed replicas on both platforms: 50 % over demand, all the time.
    data = {
        "name": "fixed",
        "duration": "30m",
        "tick": "10s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "constant", "rate": 8},
                "cpu_ms_per_request": 100,
                "slo": {"p95_latency_ms": 500},
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "price_per_hour": 0.4,
                        "max_nodes": 2,
                    }
                ],
                "workloads": {
                    "web": {"pod": {"cpu_request": 1, "memory_request": "1Gi"}, "replicas": 3}
                },
            },
            "vm": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1},
                "workloads": {"web": {"instances": 3}},
            },
        },
    }
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(data))
    result = capsim.run(capsim.load_scenario(path))
    scenario = result.summary["scenario_as_run"]
    assert metrics.replica_cpu_limit_cores(scenario, "k8s", "web") == 1.0
    assert metrics.replica_cpu_limit_cores(scenario, "vm", "web") == pytest.approx(1.86)
    table = metrics.service_elasticity(result).set_index("platform")
    for platform in ("k8s", "vm"):
        row = table.loc[platform]
        assert (row["demand_mean"], row["supply_mean"]) == (2.0, 3.0)
        assert row["over_accuracy_pct"] == pytest.approx(50.0)
        assert row["over_time_pct"] == pytest.approx(100.0)
        assert row["under_time_pct"] == 0.0
        assert row["instability_pct"] == 0.0
        assert row["jitter_per_min"] == 0.0
        assert row["over_unit_s"] == pytest.approx(1 * 1800)


def test_platform_cost_split_of_a_run_by_hand(tmp_path: Path) -> None:
    # Two 4-vCPU, 16 GiB VMs at $0.36/h for an hour, one replica each. On VMs a replica
    # requests its VM's 4 vCPUs and uses 0.8 cores: max(request, usage) = 4 cores, so all
    # the CPU is attributed; memory used is 256 MiB per replica of the 16 GiB bought.
    vm = {"vcpu": 4, "memory": "16Gi", "price_per_hour": 0.36}
    data = {
        "name": "split",
        "duration": "1h",
        "tick": "10s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "constant", "rate": 16},
                "cpu_ms_per_request": 100,
                "memory_mib": 256,
            }
        ],
        "platforms": {"vm": {"kind": "vm", "instance": vm, "workloads": {"web": {"instances": 2}}}},
    }
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump(data))
    result = capsim.run(capsim.load_scenario(path))
    split = metrics.platform_cost_split(result, "vm")
    assert split.total_usd == pytest.approx(0.72)
    bought_gb_h = 2 * 16 * 2**30 / 1e9
    used_gb_h = 2 * 256 * 2**20 / 1e9
    list_price = 8 * 0.031611 + bought_gb_h * 0.004237
    expected_web = 0.72 * (8 * 0.031611 + used_gb_h * 0.004237) / list_price
    assert split.workloads_usd["web"] == pytest.approx(expected_web, rel=1e-6)
    assert split.idle_usd == pytest.approx(0.72 - expected_web, rel=1e-6)
