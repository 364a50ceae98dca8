"""Screenshots of the reports capsim writes, for the README (``reports/screenshots/``).

Runs ``capsim run web-diurnal``, ``capsim validate`` and ``capsim recommend`` on the
example HPA that hits its ceiling, and a small ``capsim sweep``, each into a temporary
folder, then loads each
``index.html`` in headless Chromium (``tests/browser.py``, installed by
``scripts/install-test-deps.sh``) and saves the top of the page as PNG. The page is the
real report: nothing is staged for the picture.

Run: ``.venv/bin/python scripts/screenshots.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import check_page  # noqa: E402

from capsim.cli.main import main  # noqa: E402

EXAMPLES = ROOT / "capsim" / "data" / "examples" / "validate"
NASA = ROOT / "capsim" / "data" / "scenarios" / "traces" / "nasa_http_1995-07_per_minute.csv"
SWEEP = ROOT / "capsim" / "data" / "scenarios" / "web-diurnal.yaml"
OUT = ROOT / "reports" / "screenshots"


def _reports(work: Path) -> dict[str, Path]:
    run, validate, sweep = work / "run", work / "validate", work / "sweep"
    assert main(["run", "web-diurnal", "--out", str(run), "--quiet", "--format", "html"]) == 0
    main(
        [
            "validate", "--hpa", str(EXAMPLES / "hpa-low-max.yaml"),
            "--deployment", str(EXAMPLES / "deployment.yaml"), "--trace", str(NASA),
            "--scale", "40", "--end", "2d", "--cpu-ms-per-request", "30",
            "--slo-p95-ms", "200", "--out", str(validate), "-o", "json",
        ]
    )  # fmt: skip
    recommend = work / "recommend"
    main(
        [
            "recommend", "--hpa", str(EXAMPLES / "hpa-low-max.yaml"),
            "--deployment", str(EXAMPLES / "deployment.yaml"), "--trace", str(NASA),
            "--scale", "40", "--end", "2d", "--cpu-ms-per-request", "30",
            "--slo-p95-ms", "200", "--out", str(recommend), "-o", "json",
        ]
    )  # fmt: skip
    assert main(
        [
            "sweep", str(SWEEP), "--set", "hpa.targetUtilization=50,70", "--seeds", "2",
            "--out", str(sweep), "--quiet",
        ]
    ) == 0  # fmt: skip
    return {"run": run, "validate": validate, "recommend": recommend, "sweep": sweep}


def main_() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, report in _reports(Path(folder)).items():
            page = check_page(report / "index.html", width=1280, height=1800)
            if page.console_errors:
                raise SystemExit(f"{name}: console errors: {page.console_errors}")
            (OUT / f"{name}.png").write_bytes(page.screenshot_png)
            print(f"{OUT / f'{name}.png'}: {page.title}")


if __name__ == "__main__":
    main_()
