"""The README stays true: its console sample is the real output, its code runs."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from capsim.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


CONSOLE_BLOCKS = re.findall(r"```console\n\$ capsim (.+?)\n(.*?)```", README, re.S)


@pytest.mark.parametrize(("command", "output"), CONSOLE_BLOCKS, ids=lambda x: x[:30])
def test_console_sample_is_real_output(
    command: str,
    output: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Run from a folder that sees the repository's example files as the README names
    them, so reports land there."""
    (tmp_path / "capsim").symlink_to(ROOT / "capsim")
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)) == 0
    assert capsys.readouterr().out == output


def test_the_readme_shows_every_command_it_promises() -> None:
    assert len(CONSOLE_BLOCKS) == 3
    assert [c.split()[0] for c, _ in CONSOLE_BLOCKS] == ["run", "hpa", "deploy"]
    assert "(reports/example/figures/replicas_web.png)" in README
    assert (ROOT / "reports/example/figures/replicas_web.png").is_file()


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


def test_importing_the_engine_stays_light() -> None:
    """What the README promises: the engine alone pulls no heavy optional library."""
    import subprocess
    import sys

    code = (
        "import sys, capsim; capsim.run, capsim.RunResult, capsim.load_scenario; "
        "heavy = ('matplotlib', 'distributed', 'dask', 'kubernetes', "
        "'scipy', 'tqdm', 'numba'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_path_the_readme_names_exists() -> None:
    """Repository paths in backticks (``capsim/...``, ``tests/...``, …) are real."""
    pattern = r"`((?:capsim|tests|benchmarks|scripts|reports/example)/[^`\s]*)`"
    paths = set(re.findall(pattern, README))
    assert len(paths) > 20
    missing = [p for p in sorted(paths) if not list(ROOT.glob(p.rstrip("/")))]
    assert missing == []


def test_every_capsim_module_is_in_the_layout() -> None:
    """The layout section names every sub-package of capsim."""
    layout = README.split("## Layout", 1)[1].split("## Development", 1)[0]
    packages = sorted(p.parent.name for p in (ROOT / "capsim").glob("*/__init__.py"))
    assert packages, "no sub-packages found"
    for package in packages:
        assert f"  {package}/" in layout, package


def test_every_file_the_readme_links_is_in_the_repository() -> None:
    """Markdown links and images to repository files (``](reports/…)``) point at files
    git tracks: a clean clone has them, not only the machine that wrote them."""
    targets = {
        t.split("#")[0]
        for t in re.findall(r"\]\(([^)\s]+)\)", README)
        if not t.startswith(("http://", "https://", "#", "mailto:"))
    }
    assert len(targets) > 5
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files are tracked")
    tracked = subprocess.run(
        ["git", "ls-files", "--", *sorted(targets)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    folders = {t for t in targets if (ROOT / t).is_dir()}
    missing = [t for t in sorted(targets - folders) if t not in tracked]
    assert missing == []
