"""Clock time on the report's x axis where the trace has timestamps.

A run's ``clock_start`` (the summary) is the UTC time of simulated second 0: the trace's
first timestamp plus its window's ``start``, hand-computed here from the trace file.
Figures then draw clock time (matplotlib date numbers in the PNGs, a plotly ``date`` axis
in ``index.html``); without one (numbers as timestamps, a compressed replay, a loop past
the end, traces that disagree) they count time since the start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib import dates as mdates

import capsim
from capsim.report import figures as png_figures
from capsim.results.run_result import RunResult

FIRST = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def date_number(moment: datetime) -> float:
    """matplotlib's date number: days since its epoch (1970-01-01 UTC by default)."""
    epoch = datetime.fromisoformat(str(mdates.get_epoch()) + "+00:00")  # type: ignore[no-untyped-call]
    return (moment - epoch).total_seconds() / 86400.0


def write_trace(path: Path, *, iso: bool, rows: int = 180, first: datetime = FIRST) -> None:
    """One row a minute, 20 req/s; ISO 8601 timestamps (with a +02:00 offset, to check
    the conversion to UTC) or seconds."""
    lines = ["timestamp,requests_per_s"]
    for i in range(rows):
        moment = first + timedelta(minutes=i)
        stamp = moment.astimezone(PLUS_TWO).isoformat() if iso else str(60 * i)
        lines.append(f"{stamp},20")
    path.write_text("\n".join(lines) + "\n")


def service(name: str, load: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "service",
        "name": name,
        "load": load,
        "cpu_ms_per_request": 20,
        "concurrency": 2,
        "slo": {"p95_latency_ms": 500},
    }


def run(tmp_path: Path, loads: dict[str, dict[str, Any]], duration: str = "1h") -> RunResult:
    pod = {"pod": {"cpu_request": "500m", "memory_request": "256Mi"}, "replicas": 2}
    data = {
        "name": "clock",
        "seed": 3,
        "duration": duration,
        "tick": "60s",
        "workloads": [service(name, load) for name, load in loads.items()],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 4,
                        "memory": "16Gi",
                        "price_per_hour": 0.2,
                        "max_nodes": 4,
                    }
                ],
                "workloads": dict.fromkeys(loads, pod),
            }
        },
    }
    path = tmp_path / "clock.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.run(capsim.load_scenario(path))


def trace(path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "trace", "path": path, "column": "requests_per_s", **extra}


def test_clock_start_is_the_first_timestamp_plus_the_window_start(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.csv", iso=True)
    result = run(tmp_path, {"web": trace("t.csv", start="2024-03-01T01:30:00Z")})
    assert result.summary["clock_start"] == "2024-03-01T01:30:00Z"
    # without a window: the first row's time, converted from +02:00 to UTC
    result = run(tmp_path, {"web": trace("t.csv")})
    assert result.summary["clock_start"] == "2024-03-01T00:00:00Z"
    # a window start given as seconds from the trace start
    result = run(tmp_path, {"web": trace("t.csv", start=600.0)})
    assert result.summary["clock_start"] == "2024-03-01T00:10:00Z"


@pytest.mark.parametrize(
    ("case", "loads", "duration"),
    [
        ("numeric timestamps", {"web": trace("n.csv")}, "1h"),
        ("synthetic", {"web": {"type": "constant", "rate": 20}}, "1h"),
        ("compressed replay", {"web": trace("t.csv", time_scale=0.5)}, "1h"),
        ("looped past its end", {"web": trace("t.csv", loop=True)}, "4h"),
        ("traces that disagree", {"a": trace("t.csv"), "b": trace("t.csv", start=60.0)}, "1h"),
    ],
)
def test_no_clock_time_when_the_run_has_none(
    tmp_path: Path, case: str, loads: dict[str, dict[str, Any]], duration: str
) -> None:
    write_trace(tmp_path / "t.csv", iso=True)
    write_trace(tmp_path / "n.csv", iso=False)
    result = run(tmp_path, loads, duration)
    assert result.summary["clock_start"] is None, case
    ax = png_figures.figures(result)["load_" + next(iter(loads))].axes[0]
    assert ax.get_xlabel().startswith("time since start"), case
    assert ax.get_xlim()[0] == 0.0, case


def test_looped_within_its_span_and_agreeing_traces_keep_the_clock(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.csv", iso=True)
    loads = {"a": trace("t.csv", loop=True), "b": trace("t.csv", scale=2.0)}
    result = run(tmp_path, loads, "3h")
    assert result.summary["clock_start"] == "2024-03-01T00:00:00Z"


def test_png_figures_draw_clock_time(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.csv", iso=True)
    result = run(tmp_path, {"web": trace("t.csv", start="2024-03-01T01:30:00Z")})
    start = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    drawn = png_figures.figures(result)
    for key in ("load_web", "replicas_web", "latency_web", "utilization", "cost"):
        ax = drawn[key].axes[0]
        assert ax.get_xlabel() == "time (UTC)", key
        expected = (date_number(start), date_number(start + timedelta(hours=1)))
        assert ax.get_xlim() == pytest.approx(expected, abs=1e-9), key
    ax = drawn["load_web"].axes[0]
    ax.get_figure().canvas.draw()  # type: ignore[union-attr]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "02:00" in labels, labels  # a clock label, not minutes since the start
    served = next(line for line in ax.get_lines() if line.get_label() == "k8s served")
    first_x = float(np.asarray(served.get_xdata(), dtype=float)[0])
    assert first_x == pytest.approx(date_number(start), abs=1e-9)


def test_interactive_figures_draw_clock_time(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    from capsim.report.interactive import interactive_figures

    write_trace(tmp_path / "t.csv", iso=True)
    result = run(tmp_path, {"web": trace("t.csv", start="2024-03-01T01:30:00Z")})
    start_ms = datetime(2024, 3, 1, 1, 30, tzinfo=UTC).timestamp() * 1000.0
    for key, figure in interactive_figures(result).items():
        axis = figure.layout.xaxis
        assert axis.type == "date", key
        assert axis.title.text == "time (UTC)", key
        assert tuple(axis.range) == pytest.approx((start_ms, start_ms + 3_600_000.0)), key
    load = interactive_figures(result)["load_web"]
    served = next(t for t in load.data if t.name == "k8s served")
    assert served.x0 == pytest.approx(start_ms)
    assert served.dx == pytest.approx(60_000.0)  # the one-minute record interval in ms


def test_clock_start_survives_save_and_load(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.csv", iso=True)
    result = run(tmp_path, {"web": trace("t.csv", start="2024-03-01T01:30:00Z")})
    result.save(tmp_path / "saved")
    loaded = RunResult.load(tmp_path / "saved")
    assert loaded.summary["clock_start"] == "2024-03-01T01:30:00Z"
