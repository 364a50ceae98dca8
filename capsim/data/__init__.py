"""The bundled scenarios, traces and example manifests (package data).

``scenarios/*.yaml`` are ready-to-run scenarios; ``scenarios/traces/`` holds the real
recorded load they replay, with its attribution (``README.md``, ``NOTICE-*.txt``);
``examples/`` holds HPA and Deployment manifests for ``capsim hpa explain`` and
``capsim validate``. They are found with :mod:`importlib.resources`, so they work from a
checkout, an editable install and a wheel alike. capsim is installed as files (pip
unpacks wheels); a zipped install is not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

__all__ = [
    "DATA_DIR",
    "EXAMPLES_DIR",
    "SCENARIOS_DIR",
    "TRACES_DIR",
    "BundledScenario",
    "bundled_scenarios",
    "resolve_scenario",
]

DATA_DIR = Path(str(resources.files(__name__)))
SCENARIOS_DIR = DATA_DIR / "scenarios"
TRACES_DIR = SCENARIOS_DIR / "traces"
EXAMPLES_DIR = DATA_DIR / "examples"


@dataclass(frozen=True)
class BundledScenario:
    """One bundled scenario: its name (the file's stem), file and first sentence."""

    name: str
    path: Path
    summary: str


def _first_sentence(path: Path) -> str:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    text = " ".join(str(data.get("description", "")).split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def bundled_scenarios() -> list[BundledScenario]:
    """Every bundled scenario, by name."""
    return [
        BundledScenario(path.stem, path, _first_sentence(path))
        for path in sorted(SCENARIOS_DIR.glob("*.yaml"))
    ]


def resolve_scenario(name_or_path: str | Path) -> Path:
    """A scenario file: ``name_or_path`` itself when it is a file or has a folder part
    (``dir/x.yaml``), else the bundled scenario of that name (``web-diurnal`` or
    ``web-diurnal.yaml``; a folder of that name in the working directory, such as a
    report, does not hide it). Anything else is returned unchanged."""
    path = Path(name_or_path)
    if path.is_file() or path.parent != Path("."):
        return path
    bundled = SCENARIOS_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    return bundled if bundled.is_file() else path
