"""Scenario sweeps: settings applied where they belong, every combination × seed run on
a process pool or a real Dask LocalCluster with the same results, intervals by hand."""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
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
    assert re.search(r"^\d+\s+hpa\.targetUtilization=40\s+k8s\s+2\s", printed, re.M)  # aligned
    assert " ± " in printed
    assert {p.name for p in out.iterdir()} >= {"index.html", "report.md", "runs.csv"}
    assert (out / "figures" / "cost_vs_slo.png").read_bytes().startswith(b"\x89PNG")
    # a verdict by the stated rule, checked against the summary's own numbers
    summary = pd.read_csv(out / "summary.csv")
    met = summary[summary["web.slo_met"] >= 1.0]
    report = (out / "report.md").read_text()
    assert "every service's SLO" in report  # the rule is stated
    if len(met):
        best = met.sort_values("cost_usd").iloc[0]
        line = f"> {best['combination']} on {best['platform']} is the cheapest that meets"
        assert line in report
    else:
        assert "> No combination meets every SLO in every seed" in report
    # the assumptions, in both pages: the settings varied, the seeds, the service model
    runs = pd.read_csv(out / "runs.csv")
    seeds = sorted(set(runs["seed"]))
    assert seeds == [small()["seed"], small()["seed"] + 1]
    page = (out / "index.html").read_text()
    for text in (
        "--set hpa.targetUtilization=40,80",
        f"seeds {seeds[0]} to {seeds[1]} for every combination",
        "service model: expected",
    ):
        assert text in report.split("## Assumptions")[1], text
        assert html.escape(text) in page.split("<h2>Assumptions</h2>")[1], text
    # index.html: the interactive figure (one point per row, hover naming row and
    # combination) where plotly is installed, else the PNG
    if importlib.util.find_spec("plotly") is not None:
        data = re.search(
            r'<script type="application/json" class="capsim-figure-data" '
            r'id="capsim-figure-cost_vs_slo-data">(.*?)</script>',
            page,
            re.S,
        )
        assert data is not None
        figure = json.loads(data.group(1))
        points = [t for t in figure["data"] if t.get("mode") == "markers"]
        assert sum(len(t["y"]) for t in points) == len(summary)
        hovers = [text for t in points for text in t["text"]]
        assert "#1 hpa.targetUtilization=40 on k8s" in hovers
        assert '<img alt="cost against SLO"' not in page
    assert cli.main([*argv[:2], "--set", "hpa.nope=1", "--out", str(out)]) == 2
    assert "hpa.nope" in capsys.readouterr().err


# --- Portable runs, limits and strict settings (issue 14) ------------------------------

HPA_MANIFEST = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 20
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
"""


def folder_scenario(duration: str = "2h") -> dict[str, Any]:
    """A scenario that names one file of each kind, by relative path: a trace (inside a
    sum), a batch workload's arrival times and an HPA manifest."""
    return {
        "name": "portable",
        "seed": 7,
        "duration": duration,
        "tick": "10s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {
                    "type": "sum",
                    "parts": [
                        {
                            "type": "trace",
                            "path": "traces/load.csv",
                            "column": "requests_per_s",
                            "scale": 2,
                        },
                        {"type": "constant", "rate": 5},
                    ],
                    "poisson": True,
                },
                "cpu_ms_per_request": 40,
            },
            {
                "kind": "batch",
                "name": "etl",
                "arrivals": {"path": "arrivals/jobs.csv"},
                "workers": 3,
                "cpu": "1",
                "memory": "2Gi",
                "duration": {"distribution": "lognormal", "median": "3m", "p99": "10m"},
            },
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
                        "max_nodes": 20,
                    }
                ],
                "workloads": {
                    "web": {
                        "pod": {"cpu_request": "500m", "cpu_limit": 1, "memory_request": "256Mi"},
                        "hpa_manifest": "manifests/hpa.yaml",
                    },
                    "etl": {},
                },
            },
            "vm": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "8Gi", "price_per_hour": 0.1},
                "workloads": {
                    "web": {"autoscaling": {"target_pct": 50, "min": 1, "max": 20}},
                    "etl": {},
                },
            },
        },
    }


def write_folder_scenario(folder: Path, duration: str = "2h") -> Path:
    """:func:`folder_scenario` and its files (a 3 h trace at 1 min) in ``folder``; the
    scenario file's path."""
    (folder / "traces").mkdir(parents=True)
    (folder / "arrivals").mkdir()
    (folder / "manifests").mkdir()
    seconds = range(0, 3 * 3600, 60)
    rates = [30 + 25 * math.sin(t / 7200 * 2 * math.pi) ** 2 for t in seconds]
    (folder / "traces" / "load.csv").write_text(
        "timestamp,requests_per_s\n"
        + "".join(f"{t},{r:.3f}\n" for t, r in zip(seconds, rates, strict=True))
    )
    (folder / "arrivals" / "jobs.csv").write_text("submit_s\n300\n900\n1800\n2400\n4000\n6000\n")
    (folder / "manifests" / "hpa.yaml").write_text(HPA_MANIFEST)
    path = folder / "scen.yaml"
    path.write_text(yaml.safe_dump(folder_scenario(duration)))
    return path


def test_a_portable_run_opens_no_file_and_equals_the_run_from_files(tmp_path: Path) -> None:
    from capsim.analysis.sweep import _flatten, run_one
    from capsim.scenario import BatchWorkload, KubernetesWorkload
    from capsim.scenario.portable import make_portable

    path = write_folder_scenario(tmp_path / "scen")
    direct = _flatten(capsim.run(capsim.load_scenario(path), seed=11).summary)
    scenario, traces = make_portable(capsim.load_scenario(path))
    assert len(traces) == 1  # the one trace, read once
    k8s_web = scenario.platforms["k8s"].workloads["web"]
    assert isinstance(k8s_web, KubernetesWorkload)
    assert k8s_web.hpa_manifest is None
    assert k8s_web.hpa is not None
    assert k8s_web.hpa.max_replicas == 20
    etl = scenario.workloads[1]
    assert isinstance(etl, BatchWorkload)
    assert etl.arrivals.path is None
    assert etl.arrivals.times_s == (300, 900, 1800, 2400, 4000, 6000)
    # Every file gone, the scenario's folder included: the run needs none of them.
    (tmp_path / "scen").rename(tmp_path / "elsewhere")
    assert run_one((scenario, 11), traces) == direct


def test_a_trace_not_shipped_is_a_bug_not_a_file_read(tmp_path: Path) -> None:
    from capsim.analysis.sweep import run_one
    from capsim.scenario.portable import make_portable

    scenario, _ = make_portable(capsim.load_scenario(write_folder_scenario(tmp_path)))
    with pytest.raises(LookupError, match=r"traces/load\.csv: this trace was not read at the edge"):
        run_one((scenario, 1), {})  # the file is there, and is not opened


def test_a_grid_beyond_the_limit_is_refused_before_any_work() -> None:
    from capsim.analysis.sweep import MAX_RUNS, grid_size
    from capsim.scenario import ScenarioError

    # Keys that exist nowhere: any work on a combination would fail on them first.
    settings = [Setting("nowhere.a", tuple(range(200))), Setting("nowhere.b", tuple(range(25)))]
    assert grid_size(settings, seeds=3) == 15_000 > MAX_RUNS == 10_000
    with pytest.raises(
        ScenarioError,
        match=r"^sw.yaml: --set × --seeds: at most 10,000 runs per sweep, got 15,000 "
        r"\(200 × 25 values × 3 seeds\)",
    ):
        sweep(small(), Path(), settings, seeds=3, source="sw.yaml")
    with pytest.raises(ScenarioError, match=r"--set k: at most 10,000 values, got 10,001"):
        parse_setting("k=" + ",".join("1" * 10_001))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hpa.minReplicas=[1", r"--set hpa.minReplicas: cannot read '\[1' as a YAML value"),
        ("pod.x=a: 1\na: 2", r"--set pod.x: cannot read .* key 'a' given twice"),
        (
            "pod.x=a: &a\n - x\n - x\n"
            + "".join(
                f"b{i}: &b{i}\n - *{p}\n - *{p}\n"
                for i, p in enumerate(["a"] + [f"b{i}" for i in range(24)])
            ),
            r"--set pod.x: cannot read .* expands to more than 1,000,000 values",
        ),
    ],
)
def test_setting_values_are_read_strictly(text: str, message: str) -> None:
    from capsim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=message):
        parse_setting(text)


def test_a_setting_on_a_malformed_scenario_is_named_not_a_crash() -> None:
    from capsim.scenario import ScenarioError

    for data in ({"platforms": [1]}, {"platforms": {"k": {"kind": "kubernetes", "workloads": 5}}}):
        with pytest.raises(ScenarioError, match=r"--set pod\.cpu_request: no workload"):
            apply_setting(data, "pod.cpu_request", 1)
    hpa = {"kind": "kubernetes", "workloads": {"w": {"hpa": {"metrics": [7, {"resource": 1}]}}}}
    with pytest.raises(ScenarioError, match=r"--set hpa\.targetUtilization: no workload"):
        apply_setting({"platforms": {"k": hpa}}, "hpa.targetUtilization", 50)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "argument --workers: must be 1 to 256, got '0'"),
        (["--workers", "-3"], "argument --workers: must be 1 to 256, got '-3'"),
        (["--workers", "100000"], "argument --workers: must be 1 to 256, got '100000'"),
        (["--workers", "two"], "argument --workers: not a whole number: 'two'"),
        (["--seeds", "0"], "argument --seeds: must be 1 to 10,000, got '0'"),
        (["--timeout", "0s"], "argument --timeout: must be a duration > 0, got '0s'"),
        (["--connect-timeout", "0"], "argument --connect-timeout: must be a duration > 0"),
        (["--scheduler", "http://h:1"], "expected a Dask scheduler address tcp://HOST:PORT"),
        (["--scheduler", "tcp://h:99999"], "expected a Dask scheduler address"),
        (["--scheduler", "tcp://u:secret@h:1"], "expected a Dask scheduler address"),
    ],
)
def test_sweep_arguments_are_checked_by_the_parser(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["sweep", "web-diurnal", "--set", "a=1", *argv])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_sweep_with_a_bad_setting_value_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump(small()))
    code = cli.main(
        ["sweep", str(path), "--set", "hpa.minReplicas=[1", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--set hpa.minReplicas: cannot read '[1'" in err
