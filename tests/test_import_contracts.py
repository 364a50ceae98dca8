"""The layer contracts (import-linter, ``[tool.importlinter]`` in ``pyproject.toml``) hold
for the code, and each one fails when a forbidden import is added to a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``capsim`` package under ``root`` (found first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("capsim/hpa/types.py", "import capsim.engine.run", "Layers:"),
        ("capsim/engine/run.py", "import capsim.report.writer", "Layers:"),
        ("capsim/fastpath/evaluate.py", "import capsim.engine.run", "Layers:"),
        ("capsim/scenario/workloads.py", "import capsim.scenario.schema", "No import cycles"),
        ("capsim/engine/platform.py", "import capsim.kube.client", "Edges to real clusters"),
        ("capsim/kube/emit.py", "import capsim.engine.run", "The cluster edges import no"),
        ("capsim/analysis/metrics.py", "import kubernetes", "Kubernetes client"),
        ("capsim/models/queueing.py", "import pandas", "are pure"),
        ("capsim/engine/vm.py", "import capsim.engine.kubernetes", "do not import each other"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    shutil.copytree(ROOT / "capsim", tmp_path / "capsim", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0, result.stdout
    # The section after the summary names the broken contract (names may wrap: join lines).
    broken_section = " ".join(result.stdout.split("Broken contracts", 1)[1].split())
    assert contract in broken_section, result.stdout
