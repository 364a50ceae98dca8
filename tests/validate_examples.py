"""Shared by the validate and recommend tests: the bundled examples and their inputs."""

from __future__ import annotations

from pathlib import Path

from capsim.data import EXAMPLES_DIR, TRACES_DIR

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = EXAMPLES_DIR / "validate"
NASA = TRACES_DIR / "nasa_http_1995-07_per_minute.csv"


def example_inputs(hpa: str) -> list[str]:
    """Inputs for `capsim validate` / `recommend` with ``scenarios/examples/validate/<hpa>``:
    two days of the NASA trace ×40, 30 ms of CPU per request, a 200 ms p95 SLO."""
    return [
        "--hpa",
        str(EXAMPLES / hpa),
        "--deployment",
        str(EXAMPLES / "deployment.yaml"),
        "--trace",
        str(NASA),
        "--scale",
        "40",
        "--end",
        "2d",
        "--cpu-ms-per-request",
        "30",
        "--slo-p95-ms",
        "200",
    ]
