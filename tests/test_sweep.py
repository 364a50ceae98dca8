"""Scenario sweeps: settings applied where they belong, every combination × seed run on
a process pool or a real Dask LocalCluster with the same results, intervals by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import capsim
from capsim.analysis.sweep import (
    Setting,
    apply_setting,
    combinations,
    parse_setting,
    summarize_runs,
    sweep,
)
from capsim.cli import main as cli


def small() -> dict[str, Any]:
    """Two hours of a noisy diurnal web load under an HPA, and a VM group."""
    return {
        "name": "sw",
        "seed": 3,
        "duration": "2h",
        "tick": "10s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {
                    "type": "diurnal",
                    "base": 20,
                    "peak": 120,
                    "period": "2h",
                    "poisson": True,
                },
                "cpu_ms_per_request": 40,
                "slo": {"p95_latency_ms": 200},
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
                        "max_nodes": 10,
                    }
                ],
                "workloads": {
                    "web": {
                        "pod": {"cpu_request": "500m", "cpu_limit": 1, "memory_request": "256Mi"},
                        "hpa": {
                            "minReplicas": 1,
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
                "workloads": {"web": {"autoscaling": {"target_pct": 50, "min": 1, "max": 10}}},
            },
        },
    }


def test_settings_land_where_they_belong() -> None:
    data = small()
    target = apply_setting(data, "hpa.targetUtilization", 80)
    hpa = target["platforms"]["k8s"]["workloads"]["web"]["hpa"]
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert (
        data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["metrics"][0]["resource"]["target"][
            "averageUtilization"
        ]
        == 60
    )  # the original is untouched
    assert (
        apply_setting(data, "hpa.maxReplicas", 5)["platforms"]["k8s"]["workloads"]["web"]["hpa"][
            "maxReplicas"
        ]
        == 5
    )
    pod = apply_setting(data, "pod.cpu_request", "1")["platforms"]["k8s"]["workloads"]["web"]
    assert pod["pod"]["cpu_request"] == "1"
    vm = apply_setting(data, "vm.target_pct", 70)["platforms"]["vm"]["workloads"]["web"]
    assert vm["autoscaling"]["target_pct"] == 70
    path = apply_setting(data, "workloads[0].cpu_ms_per_request", 25)
    assert path["workloads"][0]["cpu_ms_per_request"] == 25
    pool = apply_setting(data, "platforms.k8s.node_pools[0].max_nodes", 3)
    assert pool["platforms"]["k8s"]["node_pools"][0]["max_nodes"] == 3


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("pod.cpu_request", None),
        (r"workloads[3].cpu_ms_per_request", r"the scenario has no workloads\[3\]"),
        ("platforms.gke.node_pools", "the scenario has no platforms.gke"),
        ("vm.nothing", None),
    ],
)
def test_bad_keys_are_named(key: str, message: str | None) -> None:
    data = small()
    if key == "pod.cpu_request":  # no pod anywhere: nothing to set
        del data["platforms"]["k8s"]
        message = "--set pod.cpu_request: no workload of the scenario has that to set"
    if key == "vm.nothing":
        data["platforms"]["vm"]["workloads"]["web"] = {"instances": 2}
        message = "--set vm.nothing: no workload"
    with pytest.raises(ValueError, match=message):
        apply_setting(data, key, 1)


def test_parse_and_combine() -> None:
    a = parse_setting("hpa.targetUtilization=50,70")
    b = parse_setting("pod.cpu_request=500m,1")
    assert a == Setting("hpa.targetUtilization", (50, 70))
    assert b.values == ("500m", 1)
    assert combinations([a, b]) == [
        {"hpa.targetUtilization": 50, "pod.cpu_request": "500m"},
        {"hpa.targetUtilization": 50, "pod.cpu_request": 1},
        {"hpa.targetUtilization": 70, "pod.cpu_request": "500m"},
        {"hpa.targetUtilization": 70, "pod.cpu_request": 1},
    ]
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_setting("hpa.targetUtilization")


def test_confidence_intervals_by_hand() -> None:
    runs = pd.DataFrame(
        {
            "combination": ["a"] * 3 + ["b"],
            "platform": ["k"] * 4,
            "seed": [0, 1, 2, 0],
            "cost_usd": [1.0, 2.0, 3.0, 5.0],
            "web.latency_p95_ms": [10.0, 10.0, 10.0, 7.0],
        }
    )
    summary = summarize_runs(runs).set_index("combination")
    # n = 3: mean 2, s = 1, t(0.975, 2) = 4.302653: half-width 4.302653 / √3.
    assert summary.loc["a", "cost_usd"] == 2.0
    assert summary.loc["a", "cost_usd_ci95"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert summary.loc["a", "web.latency_p95_ms_ci95"] == 0.0
    assert summary["cost_usd_ci95"].isna()["b"]  # one seed: no interval
    assert summary.loc["b", "seeds"] == 1


def test_a_sweep_run_is_the_engine_run(tmp_path: Path) -> None:
    runs = sweep(small(), tmp_path, [Setting("hpa.targetUtilization", (40, 80))], seeds=2)
    assert len(runs) == 2 * 2 * 2  # combinations × seeds × platforms
    assert sorted(set(runs["seed"])) == [3, 4]
    direct_data = apply_setting(small(), "hpa.targetUtilization", 80)
    path = tmp_path / "direct.yaml"
    path.write_text(yaml.safe_dump(direct_data))
    direct = capsim.run(capsim.load_scenario(path), seed=4)
    row = runs[(runs["set:hpa.targetUtilization"] == 80) & (runs["seed"] == 4)]
    k8s = row[row["platform"] == "k8s"].iloc[0]
    assert k8s["cost_usd"] == direct.summary["platforms"]["k8s"]["cost_usd"]
    assert (
        k8s["web.latency_p95_ms"]
        == direct.summary["platforms"]["k8s"]["workloads"]["web"]["latency_p95_ms"]
    )
    # A lower target buys more replicas.
    means = runs[runs["platform"] == "k8s"].groupby("set:hpa.targetUtilization")["cost_usd"].mean()
    assert means[40] > means[80]


def test_a_dask_local_cluster_gives_the_same_runs(tmp_path: Path) -> None:
    settings = [Setting("vm.target_pct", (40, 70))]
    local = sweep(small(), tmp_path, settings, seeds=1, processes=2)
    dask = sweep(small(), tmp_path, settings, seeds=1, workers=2)
    pd.testing.assert_frame_equal(local, dask)


def test_capsim_sweep_writes_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump(small()))
    out = tmp_path / "report"
    argv = ["sweep", str(path), "--set", "hpa.targetUtilization=40,80", "--seeds", "2"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| hpa.targetUtilization=40 | k8s | 2 |" in printed
    assert " ± " in printed
    assert {p.name for p in out.iterdir()} >= {"index.html", "report.md", "runs.csv"}
    assert (out / "figures" / "cost_vs_slo.png").read_bytes().startswith(b"\x89PNG")
    assert cli.main([*argv[:2], "--set", "hpa.nope=1", "--out", str(out)]) == 2
    assert "hpa.nope" in capsys.readouterr().err
