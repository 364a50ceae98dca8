"""Comparison, report writing and the `capsim run / compare / scenarios` commands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

import capsim
from capsim.analysis.compare import compare, compare_runs
from capsim.cli import main as cli
from capsim.data import bundled_scenarios
from capsim.report import writer as report


def two_sizes() -> dict[str, Any]:
    """λ = 8/s of 100 ms requests; M/M/1 replicas (μ = 10/s). One replica: p95 = ln 20 / 2
    = 1.5 s, over the 500 ms SLO all the time; two: ln 20 / 6 = 0.499 s, within it.
    VMs at $0.10/h for one hour: $0.10 and $0.20."""
    vm = {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1}
    return {
        "name": "two-sizes",
        "description": "One VM or two for a steady service.",
        "duration": "1h",
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
            "one": {"kind": "vm", "instance": vm, "workloads": {"web": {"instances": 1}}},
            "two": {"kind": "vm", "instance": vm, "workloads": {"web": {"instances": 2}}},
        },
    }


def scenario_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> capsim.RunResult:
    path = scenario_file(tmp_path_factory.mktemp("run"), two_sizes())
    return capsim.run(capsim.load_scenario(path))


def test_comparison_by_hand(result: capsim.RunResult) -> None:
    comparison = compare(result)
    assert comparison.columns == ["one", "two"]
    rows = {r.label: r for r in comparison.rows}
    cost = rows["Cost"]
    assert cost.values["one"] == pytest.approx(0.1)
    assert cost.values["two"] == pytest.approx(0.2)
    assert cost.winner == "one"
    assert rows["web: p95 latency"].values["one"] == pytest.approx(1000 * math.log(20) / 2)
    assert rows["web: p95 latency"].winner == "two"
    assert rows["web: time over the SLO"].values["one"] == pytest.approx(100.0)
    assert rows["Nodes or VMs, at most"].winner is None  # no better direction
    # Fixed sizes, warm from the start: no reversals, every wanted replica ready.
    assert rows["web: direction reversals per hour"].values == {"one": 0.0, "two": 0.0}
    assert rows["web: replica-minutes not ready"].values == {"one": 0.0, "two": 0.0}
    # 12 windows of 5 minutes; 99 % of them may be over: a budget of 0.12 windows. One
    # VM is over in all 12 (100 × 12 / 0.12 = 10,000 % of the budget), two in none.
    assert comparison.verdict == [
        "two meets every SLO at $4.80/day.",
        "one · web: latency p95 ≤ 500 ms in ≥ 99 % of 5-minute windows: 0 % of 12 windows "
        "(12 over; 10,000 % of the error budget used): MISSED.",
        "two · web: latency p95 ≤ 500 ms in ≥ 99 % of 5-minute windows: 100 % of 12 windows "
        "(0 over; 0.0 % of the error budget used): met.",
        "two vs one: 100 % higher cost; web: two meets the SLO, one does not (windows over "
        "the latency threshold 0.00 % vs 100.0 %, error budget used 0.0 % vs 10,000 %).",
    ]


def test_comparing_two_runs_prefixes_columns(result: capsim.RunResult) -> None:
    both = compare_runs(result, result, ("base", "new"))
    assert both.columns == ["base/one", "base/two", "new/one", "new/two"]
    rows = {r.label: r for r in both.rows}
    assert rows["Cost"].winner is None  # base/one and new/one tie
    with pytest.raises(ValueError, match="different labels"):
        compare_runs(result, result, ("x", "x"))


def test_report_files_and_content(result: capsim.RunResult, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report.write_report(result, out)
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "report.md", "figures", "summary.json", "events.csv"} <= names
    page = (out / "index.html").read_text()
    assert "two meets every SLO at $4.80/day." in page
    drawn = page.count('<img alt="') + page.count('class="capsim-figure"')  # PNG | plotly
    assert drawn == len(list((out / "figures").iterdir()))
    assert "Scenario as run" in page
    assert "cpu_ms_per_request: 100" in page
    markdown = (out / "report.md").read_text()
    for link in (line for line in markdown.splitlines() if line.startswith("![")):
        target = link[link.index("(") + 1 : -1]
        assert (out / target).is_file(), target
    assert "| Cost (USD) | $0.10 | $0.20 |" in markdown.replace("**", "")
    reloaded = capsim.RunResult.load(out)
    assert reloaded.summary == result.summary


def test_a_failed_report_leaves_the_old_one(
    result: capsim.RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    report.write_report(result, out, ["json", "md"])
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*_: object, **__: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "render_html", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        report.write_report(result, out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging left behind
    with pytest.raises(ValueError, match="unknown"):
        report.write_report(result, out, ["pdf"])


def test_format_value() -> None:
    assert report.format_value(float("nan")) == "—"
    assert report.format_value(1234.5, "USD") == "$1,234.50"
    assert report.format_value(3.0) == "3"
    assert report.format_value(0.012345) == "0.0123"
    assert report.format_value(152.7) == "153"


# --- the commands ------------------------------------------------------------------------


def test_capsim_run_writes_the_report_and_prints_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, two_sizes())
    out = tmp_path / "out"
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("two meets every SLO at $4.80/day.")
    assert "Cost (USD)" in printed
    assert "$0.10 *" in printed
    assert f"report: {out / 'index.html'}" in printed
    assert (out / "index.html").is_file()
    # The same seed gives byte-identical data files.
    again = tmp_path / "again"
    assert cli.main(["run", str(path), "--out", str(again), "--quiet", "--format", "json"]) == 0
    for name in ("summary.json", "events.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes()
    assert not (again / "index.html").exists()


def test_capsim_compare_two_saved_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, two_sizes())
    for seed, folder in ((1, "a"), (2, "b")):
        cli.main(
            ["run", str(path), "--out", str(tmp_path / folder), "--quiet", "--seed", str(seed)]
        )
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "A/two meets every SLO" in printed
    assert "B/one" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "{tmp}/missing.yaml"], "missing.yaml"),
        (["run", "{tmp}/bad.yaml"], "bad.yaml: duration"),
        (["run", "{tmp}/two-sizes.yaml", "--format", "pdf"], "--format: unknown ['pdf']"),
        (["compare", "{tmp}", "{tmp}"], "not a saved run"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    scenario_file(tmp_path, two_sizes())
    bad = two_sizes() | {"name": "bad", "duration": "-1h"}
    scenario_file(tmp_path, bad)
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main([*args, "--out", str(tmp_path / "o")] if argv[0] == "run" else args) == 2
    err = capsys.readouterr().err
    assert err.startswith("capsim: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_capsim_scenarios_lists_the_bundled_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenarios"]) == 0
    printed = capsys.readouterr().out
    for scenario in bundled_scenarios():
        assert scenario.name in printed
        assert scenario.summary


def test_time_at_the_replica_ceiling(tmp_path: Path) -> None:
    # "one" may autoscale but only up to 1 VM, which the load needs more than: at its
    # ceiling all the time. "two" has a fixed size: no ceiling to report.
    data = two_sizes()
    data["platforms"]["one"]["workloads"]["web"] = {
        "autoscaling": {"target_pct": 50, "min": 1, "max": 1}
    }
    result = capsim.run(capsim.load_scenario(scenario_file(tmp_path, data)))
    row = next(r for r in compare(result).rows if r.label == "web: time at the replica ceiling")
    assert row.values["one"] == 100.0
    assert math.isnan(row.values["two"])
