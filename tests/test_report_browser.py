"""Reports rendered in a real headless Chromium: no console errors, every figure loaded
(PNGs, or the interactive plotly figures when plotly is installed: drawn, zoomable, not
overlapping), a page that is not blank. Skipped, with the reason, only where no browser
can be installed (see scripts/install-test-deps.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser_available, check_page

import capsim
from capsim.data import SCENARIOS_DIR
from capsim.report import interactive
from capsim.report.writer import write_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _need_browser() -> None:
    reason = browser_available()
    if reason is not None:
        pytest.skip(reason)


def test_a_report_with_services_and_batch_jobs_renders(tmp_path: Path) -> None:
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-and-training.yaml")
    result = capsim.run(scenario)
    out = tmp_path / "report"
    write_report(result, out, ["html"])
    page = check_page(out / "index.html")
    assert page.console_errors == []
    # load, replicas, latency, requests, utilization, nodes, cost, 2 batch
    if interactive.plotly_available():
        assert (page.images, page.figures, page.figures_drawn) == (0, 9, 9)
    else:
        assert (page.images, page.figures) == (9, 0)
    assert page.images_loaded == page.images
    assert not page.blank()
    assert page.title == "capsim report: web-and-training"


def test_a_broken_figure_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a report whose figure data is cut short does not load it."""
    monkeypatch.setattr(interactive, "plotly_available", lambda: False)  # the PNG page
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-and-training.yaml")
    result = capsim.run(scenario)
    out = tmp_path / "report"
    write_report(result, out, ["html"])
    html = (out / "index.html").read_text()
    start = html.index("base64,") + len("base64,")
    (out / "index.html").write_text(html[:start] + "AAAA" + html[start + 4000 :])
    page = check_page(out / "index.html")
    assert page.images_loaded == page.images - 1


# --- interactive figures (plotly) ------------------------------------------------------

# Zoom the first figure's time axis, then report every figure's box, its legend's box and
# its plot areas' boxes (page coordinates), and the zoomed axis range read back.
_ZOOM_AND_MEASURE_JS = """
const done = arguments[arguments.length - 1];
const box = (el) => {
    const r = el.getBoundingClientRect();
    return [r.left + window.scrollX, r.top + window.scrollY,
            r.right + window.scrollX, r.bottom + window.scrollY];
};
const divs = Array.from(document.querySelectorAll('div.capsim-figure'));
const first = divs[0];
Plotly.relayout(first, {'xaxis.range': [1, 2]}).then(() => {
    done({
        range: first._fullLayout.xaxis.range,
        autorange: first._fullLayout.xaxis.autorange,
        figures: divs.map((div) => ({
            id: div.id,
            box: box(div),
            legend: div.querySelector('g.legend') ? box(div.querySelector('g.legend')) : null,
            plots: Array.from(div.querySelectorAll('.draglayer .nsewdrag')).map(box),
            traces: div.querySelectorAll('g.trace').length,
        })),
    });
}).catch((error) => done({error: String(error)}));
"""


def _overlap(a: list[float], b: list[float], slack: float = 0.5) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def test_interactive_figures_render_zoom_and_keep_apart(tmp_path: Path) -> None:
    """A short run of a scenario with services, scale events and batch jobs: every plotly
    figure drawn, no console error, the first figure zooms to the range asked, no two
    figures overlap, and each legend sits inside its figure beside the plot area."""
    pytest.importorskip("plotly")
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-and-training.yaml")
    result = capsim.run(scenario)
    out = tmp_path / "report"
    write_report(result, out, ["html"])
    page = check_page(out / "index.html", script=_ZOOM_AND_MEASURE_JS)
    assert page.console_errors == []
    assert page.figures == page.figures_drawn == 9
    assert not page.blank()
    measured = page.script_result
    assert "error" not in measured, measured
    assert measured["range"] == [1, 2]
    assert measured["autorange"] is False
    figures = measured["figures"]
    assert len(figures) == 9
    for i, figure in enumerate(figures):
        assert figure["traces"] > 0, figure["id"]
        assert figure["plots"], figure["id"]
        for other in figures[i + 1 :]:
            assert not _overlap(figure["box"], other["box"]), (figure["id"], other["id"])
        legend = figure["legend"]
        assert legend is not None, figure["id"]
        left, top, right, bottom = figure["box"]
        assert left - 1 <= legend[0], figure["id"]
        assert legend[2] <= right + 1, figure["id"]
        assert top - 1 <= legend[1], figure["id"]
        assert legend[3] <= bottom + 1, figure["id"]
        for plot in figure["plots"]:
            assert not _overlap(legend, plot), figure["id"]


# Zoom the first figure to one day of clock time; read back the axis type, its range and
# the tick labels drawn.
_ZOOM_CLOCK_JS = """
const done = arguments[arguments.length - 1];
const first = document.querySelector('div.capsim-figure');
Plotly.relayout(first, {'xaxis.range': ['1995-07-08 00:00', '1995-07-09 00:00']}).then(() => {
    done({
        type: first._fullLayout.xaxis.type,
        range: first._fullLayout.xaxis.range,
        ticks: Array.from(first.querySelectorAll('.xtick text')).map((t) => t.textContent),
    });
}).catch((error) => done({error: String(error)}));
"""


def test_clock_time_axes_render_as_dates_and_zoom(tmp_path: Path) -> None:
    """web-diurnal replays a timestamped NASA trace: the figures' x axis is a date axis
    starting at the window's start (1995-07-06 21:00 UTC), zoomable to a day, labelled in
    clock time."""
    pytest.importorskip("plotly")
    result = capsim.run(capsim.load_scenario(SCENARIOS_DIR / "web-diurnal.yaml"))
    assert result.summary["clock_start"] == "1995-07-06T21:00:00Z"
    out = tmp_path / "report"
    write_report(result, out, ["html"])
    page = check_page(out / "index.html", script=_ZOOM_CLOCK_JS)
    assert page.console_errors == []
    assert page.figures == page.figures_drawn
    measured = page.script_result
    assert "error" not in measured, measured
    assert measured["type"] == "date"
    assert [r[:16] for r in measured["range"]] == ["1995-07-08 00:00", "1995-07-09 00:00"]
    assert any(":00" in tick for tick in measured["ticks"]), measured["ticks"]  # hours


def test_a_sweep_report_renders(tmp_path: Path) -> None:
    """The sweep page: its cost-against-SLO figure drawn (interactive with plotly, else
    the PNG), no console error."""
    from capsim.cli import main as cli

    out = tmp_path / "sweep"
    argv = ["sweep", "web-diurnal", "--set", "hpa.targetUtilization=50,70", "--out", str(out)]
    assert cli.main([*argv, "--quiet"]) == 0
    page = check_page(out / "index.html")
    assert page.console_errors == []
    if interactive.plotly_available():
        assert (page.images, page.figures, page.figures_drawn) == (0, 1, 1)
    else:
        assert (page.images, page.images_loaded, page.figures) == (1, 1, 0)
    assert not page.blank()
