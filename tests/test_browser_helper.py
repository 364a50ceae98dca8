"""The headless-browser helper in tests/browser.py sees what a person would: a page that renders,
an image that does not load, a script error and a blank page."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from browser import browser_available, check_page
from matplotlib.figure import Figure


@pytest.fixture(autouse=True)
def _need_browser() -> None:
    reason = browser_available()
    if reason is not None:
        pytest.skip(reason)


def write_page(tmp_path: Path, title: str, body: str) -> Path:
    page = tmp_path / "page.html"
    page.write_text(
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f'<body style="margin:0;background:#fff">\n{body}\n</body></html>\n',
        encoding="utf-8",
    )
    return page


def chart_png() -> bytes:
    fig = Figure(figsize=(4, 3), dpi=80)  # no pyplot: no global backend state
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [1, 3, 2, 4], color="tab:blue")
    ax.set_title("replicas")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_self_contained_page_renders(tmp_path: Path) -> None:
    data = base64.b64encode(chart_png()).decode("ascii")
    page = write_page(
        tmp_path,
        "Capacity report",
        f'<h1>Report</h1><img alt="chart" src="data:image/png;base64,{data}">',
    )
    check = check_page(page, width=800, height=600)
    assert check.title == "Capacity report"
    assert check.console_errors == []
    assert (check.images, check.images_loaded) == (1, 1)
    assert not check.blank()
    assert check.screenshot_png.startswith(b"\x89PNG")


def test_broken_image_is_reported(tmp_path: Path) -> None:
    page = write_page(tmp_path, "broken", '<img alt="gone" src="missing.png">')
    check = check_page(page, width=800, height=600)
    assert check.images == 1
    assert check.images_loaded < check.images


def test_console_error_is_reported(tmp_path: Path) -> None:
    page = write_page(tmp_path, "error", '<p>text</p><script>console.error("boom")</script>')
    check = check_page(page, width=800, height=600)
    assert any("boom" in message for message in check.console_errors), check.console_errors


def test_empty_white_page_is_blank(tmp_path: Path) -> None:
    page = write_page(tmp_path, "empty", "")
    check = check_page(page, width=800, height=600)
    assert check.blank()
    assert check.console_errors == []
    assert check.images == 0
