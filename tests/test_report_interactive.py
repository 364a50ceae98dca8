"""Interactive report figures (capsim.report.interactive, plotly) from the small runs of
test_plots: the same figures as the PNGs, one trace per platform in its colour, the axes,
the SLO line, scale-event markers, a deterministic self-contained page, and the PNG
fallback (with a line saying how to get interactive figures) without plotly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import golden
import numpy as np
import pytest
from test_plots import SCENARIOS, Runs, simulate

import capsim
from capsim.report import figures as png_figures
from capsim.report import interactive, writer
from capsim.report.figures import platform_colors

pytest.importorskip("plotly")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("scenarios"))


def traces(figure: Any) -> list[Any]:
    return list(figure.data)


def named(figure: Any, name: str) -> Any:
    found = [t for t in figure.data if t.name == name]
    assert len(found) == 1, [t.name for t in figure.data]
    return found[0]


# --- the figures -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["scaling", "mixed", "batch"])
def test_the_same_figures_as_the_pngs(runs: Runs, name: str) -> None:
    assert list(interactive.interactive_figures(runs[name])) == list(
        png_figures.figures(runs[name])
    )


def test_one_trace_per_platform_in_its_colour(runs: Runs) -> None:
    drawn = interactive.interactive_figures(runs["scaling"])
    colors = platform_colors(["k8s", "vm"])
    for key in ("utilization", "nodes", "cost"):
        assert [(t.name, t.line.color) for t in traces(drawn[key])] == [
            ("k8s", colors["k8s"]),
            ("vm", colors["vm"]),
        ]
    load = drawn["load_web"]
    lines = [t.name for t in traces(load) if t.yaxis in (None, "y")]
    assert lines == ["arrival rate", "k8s served", "vm served"]  # the served lines on top
    assert named(load, "arrival rate").line.dash == "dash"
    assert named(load, "k8s served").line.width > named(load, "arrival rate").line.width
    for platform in ("k8s", "vm"):
        assert named(drawn["replicas_web"], f"{platform} ready").line.color == colors[platform]
        assert named(drawn["replicas_web"], f"{platform} desired").line.dash == "dash"


def test_axes_elapsed_time_steps_and_units(runs: Runs) -> None:
    drawn = interactive.interactive_figures(runs["scaling"])
    for key, figure in drawn.items():
        axis = figure.layout.xaxis
        assert axis.title.text == "time since start (min)", key
        assert axis.type in (None, "linear"), key  # no clock time: the run records none
        assert tuple(axis.range) == (0.0, 120.0), key
    day = interactive.interactive_figures(runs["day"])
    assert day["load_web"].layout.xaxis.title.text == "time since start (h)"
    served = named(drawn["load_web"], "k8s served")
    assert served.line.shape == "vh"  # held over the interval the row describes
    assert served.x0 == 0.0  # the record grid as x0/dx: the page carries no x arrays
    assert served.dx == pytest.approx(runs["scaling"].summary["record_every_s"] / 60)
    assert drawn["utilization"].layout.yaxis.range == (0.0, 100.0)
    assert drawn["nodes"].layout.yaxis.title.text == "nodes / VMs (count)"


def test_latency_slo_line_and_axis_rule(runs: Runs) -> None:
    for name in ("mixed", "saturated"):
        figure = interactive.interactive_figures(runs[name])["latency_web"]
        slo = named(figure, "SLO p95 1000 ms")
        assert slo.line.dash == "dash"
        assert slo.line.color == "black"
        assert list(slo.y) == [1000.0, 1000.0]
        # one convention, the PNG figure's: a log axis over the same range
        assert figure.layout.yaxis.type == "log", name
        png = png_figures.figures(runs[name])["latency_web"].axes[0]
        assert png.get_yscale() == "log", name
        low, high = (10.0**v for v in figure.layout.yaxis.range)
        assert (low, high) == pytest.approx(png.get_ylim()), name


def test_violations_are_shaded_on_their_own_axis(runs: Runs) -> None:
    figure = interactive.interactive_figures(runs["saturated"])["load_web"]
    shade = named(figure, "vm: SLO violated")
    assert shade.fill == "toself"
    assert shade.yaxis == "y2"
    assert figure.layout.yaxis2.range == (0, 1)
    assert figure.layout.yaxis2.visible is False


def test_scale_events_as_markers_up_to_the_limit(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runs["scaling"]
    figure = interactive.interactive_figures(result)["replicas_web"]
    events = result.events
    scales = events[(events["kind"] == "scale") & (events["platform"] == "k8s")]
    ups = scales[scales["to"] > scales["from"]]
    marker = named(figure, "k8s scale up")
    assert marker.mode == "markers"
    assert marker.marker.symbol == "triangle-up"
    assert len(marker.x) == len(ups) > 0
    monkeypatch.setattr(interactive, "MAX_SCALE_MARKERS", 0)
    figure = interactive.interactive_figures(result)["replicas_web"]
    names = [t.name for t in traces(figure)]
    assert "k8s scale up" not in names
    assert f"k8s: {len(scales):,} scale events, not marked" in names


def test_batch_figures(runs: Runs) -> None:
    drawn = interactive.interactive_figures(runs["mixed"])
    queue = drawn["batch_queue"]
    assert {t.name for t in traces(queue)} >= {"k8s running", "k8s queued"}
    assert queue.layout.xaxis2.title.text == "time since start (min)"
    waits = drawn["batch_waits"]
    assert waits.layout.yaxis.range == (0.0, 100.0)
    assert all(t.line.shape == "hv" for t in traces(waits))


# --- the page ----------------------------------------------------------------------------


def _page(result: capsim.RunResult, out: Path) -> str:
    writer.write_report(result, out, ["html"])
    return (out / "index.html").read_text(encoding="utf-8")


def test_the_page_is_self_contained_and_deterministic(runs: Runs, tmp_path: Path) -> None:
    result = runs["mixed"]
    first, second = _page(result, tmp_path / "a"), _page(result, tmp_path / "b")
    assert first == second
    again = simulate(tmp_path, SCENARIOS["mixed"])  # a new run of the same scenario
    assert _page(again, tmp_path / "c") == first
    assert first.count(f'<script id="{interactive.PLOTLY_JS_ID}">') == 1
    assert not re.search(r"<script[^>]* src=", first)  # nothing loaded from elsewhere
    assert "<img" not in first
    ids = re.findall(r'<div id="([^"]+)" class="capsim-figure"', first)
    assert ids == [f"capsim-figure-{key}" for key in png_figures.figures(result)]
    for div_id in ids:
        data = re.search(rf'id="{div_id}-data">(.*?)</script>', first, re.DOTALL)
        assert data is not None
        assert json.loads(data.group(1))["data"]


def test_the_golden_digest_strips_plotly(runs: Runs, tmp_path: Path) -> None:
    """index.html#data does not depend on plotly: its code and the figure JSON are cut."""
    page = _page(runs["mixed"], tmp_path / "a").encode()
    stripped = golden._html_without_images(page)
    assert b"plotly.js v" not in stripped
    assert b'"bdata"' not in stripped
    assert b'"layout"' not in stripped
    assert stripped.count(b"capsim-figure-data") == page.count(b"capsim-figure-data") > 0
    assert len(stripped) < 100_000 < len(page)


def test_without_plotly_the_page_keeps_pngs_and_says_how(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interactive, "plotly_available", lambda: False)
    page = _page(runs["mixed"], tmp_path / "a")
    assert page.count("data:image/png;base64,") == len(png_figures.figures(runs["mixed"]))
    assert "capsim-figure" not in page
    assert page.count(interactive.INSTALL_HINT.replace("'", "&#x27;")) == 1


def test_float32_values_keep_the_numbers(runs: Runs) -> None:
    figure = interactive.interactive_figures(runs["scaling"])["nodes"]
    rows = runs["scaling"].timeseries
    k8s = rows[rows["platform"] == "k8s"].groupby("time_s")["nodes"].max().to_numpy()
    assert np.array_equal(np.asarray(named(figure, "k8s").y)[1:], k8s)
