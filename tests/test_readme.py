"""The README stays true: its console sample is the real output, its code runs."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_console_sample_is_real_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    block = re.search(r"```console\n\$ capsim (.+?)\n(.*?)```", README, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(block.group(1))) == 0
    assert capsys.readouterr().out == block.group(2)


def test_python_example_runs_and_prints_what_it_says() -> None:
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    code = block.group(1)
    expected = re.search(r"print\(.*\)\s+# (.+)", code)
    assert expected is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().strip() == expected.group(1).strip()


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == "make test"
    assert "make test" in README
    assert "make demo" in README
