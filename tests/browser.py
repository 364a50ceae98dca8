"""Load an HTML file in headless Chromium (Debian's chromium + chromium-driver, installed by
scripts/install-test-deps.sh) and report what a person would see: console errors, images that
did or did not load, the title and a screenshot.

Tests import it as ``from browser import browser_available, check_page`` and skip with the
reason that ``browser_available()`` gives when there is no browser. Selenium is told the
driver's and the browser's paths, so Selenium Manager never runs and nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOAD_TIMEOUT_S = 10.0
POLL_S = 0.05

# The network is closed: without the background-networking flags Chromium keeps trying to
# reach Google's services and misbehaves. --disable-dev-shm-usage: /dev/shm may be small in
# containers (Debian's launcher only adds it when /dev/shm has < 3.8 GB free).
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)

_IMAGES_SETTLED_JS = "return Array.from(document.images).every((img) => img.complete);"
# Interactive report figures (capsim.report.interactive): each div.capsim-figure gets an
# svg.main-svg once plotly has drawn it.
_FIGURES_SETTLED_JS = """
return Array.from(document.querySelectorAll('div.capsim-figure'))
    .every((div) => div.querySelector('svg.main-svg') !== null);
"""
_FIGURE_COUNTS_JS = """
const divs = Array.from(document.querySelectorAll('div.capsim-figure'));
return [divs.length, divs.filter((div) => div.querySelector('svg.main-svg') !== null).length];
"""
_IMAGE_COUNTS_JS = """
const images = Array.from(document.images);
return [images.length, images.filter((img) => img.complete && img.naturalWidth > 0).length];
"""


@dataclass(frozen=True)
class PageCheck:
    """What a page showed once loaded."""

    console_errors: list[str]  # SEVERE browser console entries
    images: int  # <img> elements
    images_loaded: int  # complete and naturalWidth > 0
    screenshot_png: bytes
    title: str
    figures: int = 0  # interactive figures (div.capsim-figure)
    figures_drawn: int = 0  # of which plotly drew an svg.main-svg
    script_result: Any = None  # what the optional script passed to its callback

    def blank(self, tolerance: float = 1e-5) -> bool:
        """True when the screenshot is (almost) one colour: at most ``tolerance`` of its pixels
        differ from the most common colour (1e-5 of 1280x2000 is 25 pixels: less than a letter)."""
        pixels = screenshot_pixels(self.screenshot_png)
        flat = pixels.reshape(-1, pixels.shape[-1])
        colours, counts = np.unique(flat, axis=0, return_counts=True)
        if len(colours) <= 1:
            return True
        return bool(flat.shape[0] - counts.max() <= tolerance * flat.shape[0])


def screenshot_pixels(png: bytes) -> np.ndarray:
    """The PNG as a (height, width, channels) array of uint8."""
    from matplotlib import image as mpimg

    pixels = np.asarray(mpimg.imread(io.BytesIO(png), format="png"))
    if pixels.dtype != np.uint8:
        pixels = np.rint(pixels * 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return pixels


def browser_available() -> str | None:
    """None when check_page can run, else the reason it cannot."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"headless browser not installed ({', '.join(missing)} missing): "
            "run `bash scripts/install-test-deps.sh` (apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed: pip install -e '.[dev]'"
    return None


def check_page(
    path: Path, width: int = 1280, height: int = 2000, script: str | None = None
) -> PageCheck:
    """Load file://path in headless Chromium, wait for the document, its images and its
    interactive figures to finish loading (up to ~10 s), then collect console errors, image
    and figure counts, title and a screenshot of the window (width x height CSS pixels).
    ``script``, when given, then runs as an asynchronous script (Selenium's
    ``execute_async_script``: it ends by calling ``arguments[arguments.length - 1](value)``)
    and ``value`` is kept as ``script_result``. The browser is always shut down."""
    reason = browser_available()
    if reason is not None:
        raise RuntimeError(reason)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.command import Command

    # Only read by Selenium Manager, which the explicit paths below already keep from running.
    os.environ.setdefault("SE_OFFLINE", "true")

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    profile = tempfile.mkdtemp(prefix="capsim-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    try:
        driver = webdriver.Chrome(
            options=options, service=Service(executable_path=str(CHROMEDRIVER))
        )
        try:
            driver.set_page_load_timeout(LOAD_TIMEOUT_S)
            # Headless windows get the requested outer size; make the viewport exact.
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            driver.get(Path(path).resolve().as_uri())
            deadline = time.monotonic() + LOAD_TIMEOUT_S
            while time.monotonic() < deadline:
                ready = driver.execute_script("return document.readyState;") == "complete"
                if (
                    ready
                    and driver.execute_script(_IMAGES_SETTLED_JS)
                    and driver.execute_script(_FIGURES_SETTLED_JS)
                ):
                    break
                time.sleep(POLL_S)
            images, loaded = driver.execute_script(_IMAGE_COUNTS_JS)
            figures, drawn = driver.execute_script(_FIGURE_COUNTS_JS)
            script_result = None
            if script is not None:
                driver.set_script_timeout(LOAD_TIMEOUT_S)
                script_result = driver.execute_async_script(script)
            title = driver.title
            screenshot = driver.get_screenshot_as_png()
            # driver.get_log("browser"), which selenium leaves untyped.
            entries: list[dict[str, Any]] = driver.execute(Command.GET_LOG, {"type": "browser"})[
                "value"
            ]
            errors = [
                str(entry.get("message", "")) for entry in entries if entry.get("level") == "SEVERE"
            ]
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return PageCheck(
        console_errors=errors,
        images=int(images),
        images_loaded=int(loaded),
        screenshot_png=screenshot,
        title=str(title),
        figures=int(figures),
        figures_drawn=int(drawn),
        script_result=script_result,
    )
