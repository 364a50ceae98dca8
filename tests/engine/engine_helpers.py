"""Helpers shared by the engine tests: build a scenario from a mapping and run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import capsim
from capsim.data import TRACES_DIR
from capsim.results.run_result import RunResult
from capsim.results.simulate import run

ROOT = Path(__file__).resolve().parents[2]
TRACES = TRACES_DIR


def run_mapping(tmp_path: Path, data: dict[str, Any], seed: int | None = None) -> RunResult:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return run(capsim.load_scenario(path), seed=seed)
