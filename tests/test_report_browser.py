"""Reports rendered in a real headless Chromium: no console errors, every figure loaded,
a page that is not blank. Skipped, with the reason, only where no browser can be
installed (see scripts/install-test-deps.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser_available, check_page

import capsim
from capsim.data import SCENARIOS_DIR
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
    assert page.images == 9  # load, replicas, latency, requests, utilization, nodes, cost, 2 batch
    assert page.images_loaded == page.images
    assert not page.blank()
    assert page.title == "capsim report: web-and-training"


def test_a_broken_figure_is_caught(tmp_path: Path) -> None:
    """The check can fail: a report whose figure data is cut short does not load it."""
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-and-training.yaml")
    result = capsim.run(scenario)
    out = tmp_path / "report"
    write_report(result, out, ["html"])
    html = (out / "index.html").read_text()
    start = html.index("base64,") + len("base64,")
    (out / "index.html").write_text(html[:start] + "AAAA" + html[start + 4000 :])
    page = check_page(out / "index.html")
    assert page.images_loaded == page.images - 1
