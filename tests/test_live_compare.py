"""Calibration (`capsim live compare`): hand-computed figures, a cluster that behaves
exactly like the simulation (error 0, lag 0), a cluster that reacts later (the lag found),
and the scenario written from a pulled trace."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import capsim
from capsim.analysis.calibrate import calibrate, observed_levels
from capsim.analysis.live_scenario import scenario_from_trace
from capsim.cli import main as cli

STEP_S = 60.0


def test_hand_computed_figures() -> None:
    observed = pd.DataFrame(
        {"time_s": [0.0, 60, 120, 180], "replicas": [1.0, 2, 3, 3], "utilization_pct": np.nan}
    )
    simulated = pd.DataFrame(
        {"time_s": [0.0, 30, 150], "replicas": [1.0, 2, 2], "utilization_pct": np.nan}
    )
    # Sampled at 0, 60, 120, 180: 1, 2, 2, 2 (the last record at or before each time).
    result = calibrate(observed, simulated, STEP_S, max_lag_s=0)
    assert result.samples == 4
    assert result.replicas_mae == pytest.approx((0 + 0 + 1 + 1) / 4)
    assert result.replicas_equal_pct == pytest.approx(50.0)
    assert result.replicas_simulated_mean == pytest.approx(7 / 4)
    assert result.utilization_mae_pp is None


def test_lag_is_the_best_whole_step_shift() -> None:
    t = np.arange(200) * STEP_S
    wave = np.rint(5 + 3 * np.sin(2 * math.pi * t / (100 * STEP_S)))
    simulated = pd.DataFrame({"time_s": t, "replicas": wave, "utilization_pct": np.nan})
    later = np.concatenate([np.full(3, wave[0]), wave[:-3]])  # the cluster 3 steps behind
    observed = pd.DataFrame({"time_s": t, "replicas": later, "utilization_pct": np.nan})
    result = calibrate(observed, simulated, STEP_S)
    assert result.lag_s == -3 * STEP_S  # the simulation reacts 180 s earlier
    assert "180 s earlier" in result.lines()[1]
    same = calibrate(simulated, simulated, STEP_S)
    assert same.lag_s == 0.0
    assert same.replicas_mae == 0.0


def synthetic_trace(rows: int = 6 * 60) -> pd.DataFrame:
    """Six hours at 1-minute steps: a request wave, the CPU it costs, an HPA's settings."""
    t = np.arange(rows) * STEP_S
    rps = 300 + 250 * np.sin(2 * math.pi * t / (3 * 3600)) ** 2
    stamps = pd.date_range("2026-11-20T00:00:00Z", periods=rows, freq="60s")
    return pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "requests_per_s": rps,
            "cpu_cores": rps * 0.03,
            "replicas_ready": 2.0,
            "cpu_request_cores": 0.5,
            "memory_request_bytes": 536870912.0,
            "hpa_min_replicas": 2.0,
            "hpa_max_replicas": 40.0,
            "hpa_target_cpu_utilization": 60.0,
        }
    )


def write_scenario(folder: Path, frame: pd.DataFrame) -> tuple[Path, Path]:
    trace, scenario_path = folder / "pulled.csv", folder / "scenario.yaml"
    frame.to_csv(trace, index=False)
    scenario, notes = scenario_from_trace(
        frame,
        trace_path=trace,
        scenario_path=scenario_path,
        namespace="shop",
        deployment="web",
        step_s=STEP_S,
        source="http://prometheus:9090",
    )
    scenario_path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    assert any("30.0 ms of CPU per request" in n for n in notes)
    return trace, scenario_path


def test_scenario_from_a_pulled_trace_describes_the_workload(tmp_path: Path) -> None:
    frame = synthetic_trace()
    _, path = write_scenario(tmp_path, frame)
    scenario = capsim.load_scenario(path)
    (service,) = scenario.workloads
    assert isinstance(service, capsim.scenario.ServiceWorkload)
    assert service.cpu_ms_per_request == pytest.approx(30.0)
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, capsim.scenario.KubernetesPlatform)
    config = platform.workloads["web"]
    assert config.pod is not None
    assert config.hpa is not None
    assert config.pod.cpu_request_millicores == 500
    assert config.hpa.max_replicas == 40
    assert config.hpa.metrics[0].target.average_utilization == 60
    assert scenario.duration_s == (len(frame) - 1) * STEP_S


def simulated_levels(scenario_path: Path) -> pd.DataFrame:
    result = capsim.run(capsim.load_scenario(scenario_path))
    rows = result.timeseries
    return rows[rows["workload"] == "web"]


def test_a_cluster_that_did_what_the_simulation_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observed = the simulation itself: every replica equal, no lag, utilization alike."""
    frame = synthetic_trace()
    _, scenario_path = write_scenario(tmp_path, frame)
    rows = simulated_levels(scenario_path)
    t = np.arange(len(frame)) * STEP_S
    index = np.searchsorted(rows["time_s"].to_numpy(), t, side="right") - 1
    frame["replicas_ready"] = rows["replicas_ready"].to_numpy()[index]
    frame["cpu_cores"] = rows["cpu_used_cores"].to_numpy()[index]
    trace = tmp_path / "pulled.csv"
    frame.to_csv(trace, index=False)
    out = tmp_path / "report"
    code = cli.main(
        ["live", "compare", "--trace", str(trace), "--scenario", str(scenario_path),
         "--out", str(out), "--json"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["replicas_equal_pct"] == 100.0
    assert result["replicas_mae"] == 0.0
    assert result["lag_s"] == 0.0
    assert result["replicas_observed_mean"] > 5  # the HPA did scale
    assert result["utilization_mae_pp"] < 5.0
    assert (out / "calibration.png").stat().st_size > 10_000
    assert json.loads((out / "calibration.json").read_text()) == result
    # A cluster that scaled two minutes later than the simulation.
    frame["replicas_ready"] = np.concatenate(
        [np.full(2, frame["replicas_ready"].iloc[0]), frame["replicas_ready"].to_numpy()[:-2]]
    )
    frame.to_csv(trace, index=False)
    code = cli.main(
        ["live", "compare", "--trace", str(trace), "--scenario", str(scenario_path),
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "lag: the simulated HPA reacts 120 s earlier than the real one" in printed
    assert observed_levels(frame)["replicas"].iloc[-1] == frame["replicas_ready"].iloc[-1]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "not a CSV capsim can read"),
        ("timestamp,replicas_ready\n", "no rows"),
        ("time,replicas\n2026-01-01T00:00:00Z,1\n", "timestamp: no such column"),
        ("timestamp,replicas_ready\nyesterday,1\n", "timestamp: not a date and time"),
        (
            "timestamp,replicas_ready\n2026-01-01T00:01:00Z,1\n2026-01-01T00:00:00Z,1\n",
            "timestamp: row 2: missing, repeated or out of order",
        ),
        ("timestamp,replicas_ready\n2026-01-01T00:00:00Z,many\n", "replicas_ready: row 1"),
        ("timestamp,replicas_ready\n2026-01-01T00:00:00Z,-2\n", "replicas_ready: row 1"),
        ("timestamp,replicas_ready\n2026-01-01T00:00:00Z,inf\n", "replicas_ready: row 1"),
        ('timestamp,replicas_ready\n"2026-01-01,1\n', "not a CSV capsim can read"),
    ],
)
def test_a_trace_that_is_not_a_pulled_trace_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    _, scenario_path = write_scenario(tmp_path, synthetic_trace(30))
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "report"
    code = cli.main(
        ["live", "compare", "--trace", str(bad), "--scenario", str(scenario_path),
         "--out", str(out)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"--trace {bad}: {expected}" in err
    assert not out.exists()


def test_compare_refuses_a_users_folder_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trace, scenario_path = write_scenario(tmp_path, synthetic_trace(30))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "calibration.json").write_text("my own notes")

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(capsim, "run", no_run)
    code = cli.main(
        ["live", "compare", "--trace", str(trace), "--scenario", str(scenario_path),
         "--out", str(mine)]
    )  # fmt: skip
    assert code == 2
    assert "a folder capsim did not write" in capsys.readouterr().err
    assert (mine / "calibration.json").read_text() == "my own notes"
