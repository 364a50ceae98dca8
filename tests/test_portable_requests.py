"""A per-request trace travels with a portable run (``capsim sweep``/``recommend`` on
Dask workers open no file): read once at the edge, then replayed from memory."""

from __future__ import annotations

import shutil
from pathlib import Path

import capsim
from capsim.data import SCENARIOS_DIR
from capsim.scenario.load import requests as request_traces
from capsim.scenario.portable import make_portable, run_portable


def test_a_portable_run_replays_its_request_trace_without_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "scenario"
    (folder / "traces").mkdir(parents=True)
    shutil.copy(SCENARIOS_DIR / "llm-bursty.yaml", folder / "llm-bursty.yaml")
    name = "azure_llm_inference_2023_conv_requests.csv"
    shutil.copy(SCENARIOS_DIR / "traces" / name, folder / "traces" / name)
    text = (folder / "llm-bursty.yaml").read_text(encoding="utf-8")
    (folder / "llm-bursty.yaml").write_text(text.replace("duration: 3h", "duration: 20m"))
    scenario = capsim.load_scenario(folder / "llm-bursty.yaml")
    here = capsim.run(scenario).summary
    portable, shipped = make_portable(scenario)
    assert any(key.startswith("requests\0") for key in shipped)
    (folder / "traces" / name).unlink()  # a worker elsewhere has no such file
    request_traces._read.cache_clear()
    with run_portable(shipped):
        there = capsim.run(portable).summary
    assert there["platforms"] == here["platforms"]


def test_a_looped_trace_is_replayed_lap_by_lap_in_any_window() -> None:
    """Requests at 0.5 s and 1.5 s of a 2-s trace, looped: the window [1, 5) holds
    1.5, 2.5, 3.5, 4.5 (rows 1, 0, 1, 0); windows cut anywhere give the same instants."""
    import numpy as np

    trace = request_traces.RequestTrace(np.array([0.5, 1.5]), None, None, 2.0)
    times, rows = request_traces.replay_window(trace, 1.0, 5.0)
    assert times.tolist() == [1.5, 2.5, 3.5, 4.5]
    assert rows.tolist() == [1, 0, 1, 0]
    pieces = [
        request_traces.replay_window(trace, a, b)[0] for a, b in ((0, 0.5), (0.5, 3.7), (3.7, 9))
    ]
    whole = request_traces.replay_window(trace, 0.0, 9.0)[0]
    assert (
        np.concatenate(pieces).tolist()
        == whole.tolist()
        == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]
    )
