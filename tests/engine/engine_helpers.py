"""Helpers shared by the engine tests: build a scenario from a mapping and run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import simulator
from simulator.engine import run
from simulator.result import RunResult

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "scenarios" / "traces"


def run_mapping(tmp_path: Path, data: dict[str, Any], seed: int | None = None) -> RunResult:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return run(simulator.load_scenario(path), seed=seed)
