"""The wheel is what users install. Built from this tree and installed into a fresh virtual
environment with the core dependencies only (no extras), it gives a working ``capsim``:
the bundled scenarios and traces come with it, ``capsim run web-diurnal`` writes the same
summary as recorded in ``tests/golden``, ``python -m capsim`` and ``import capsim`` work,
and a command that needs an extra says which one and how to install it.

Installing needs the package index (or pip's cache), as ``make test`` does anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import golden
import pytest

from capsim.data import bundled_scenarios

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "outputs.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Venv:
    root: Path
    work: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a program of the venv in an empty folder, as a user would."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result


def _pip(python: Path, *args: str, cwd: Path) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the wheel of this tree installed (core dependencies only)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "capsim", source / "capsim", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = base / "dist"
    _pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(dist), str(source), cwd=base)
    wheels = list(dist.glob("capsim-*.whl"))
    assert len(wheels) == 1, wheels
    root = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    _pip(root / "bin" / "python", "install", str(wheels[0]), cwd=base)
    work = base / "work"
    work.mkdir()
    return Venv(root, work)


def _data_dir(venv: Venv) -> Path:
    code = "import capsim.data; print(capsim.data.DATA_DIR)"
    return Path(venv.run("python", "-c", code).stdout.strip())


def test_version_from_the_command_and_the_module(venv: Venv) -> None:
    version = venv.run("python", "-c", "import capsim; print(capsim.__version__)").stdout
    assert version.strip()
    assert venv.run("capsim", "--version").stdout.strip() == f"capsim {version.strip()}"
    assert venv.run("python", "-m", "capsim", "--version").stdout.strip() == (
        f"capsim {version.strip()}"
    )


def test_the_wheel_carries_the_scenarios_traces_and_their_attribution(venv: Venv) -> None:
    data = _data_dir(venv)
    assert venv.root in data.parents, f"{data} is not inside the venv"
    listed = venv.run("capsim", "scenarios").stdout
    for scenario in bundled_scenarios():
        assert scenario.name in listed
        assert (data / "scenarios" / f"{scenario.name}.yaml").is_file()
    traces = data / "scenarios" / "traces"
    for trace in (ROOT / "capsim" / "data" / "scenarios" / "traces").iterdir():
        assert (traces / trace.name).read_bytes() == trace.read_bytes()
    assert "Arlitt" in (traces / "README.md").read_text(encoding="utf-8")
    assert (traces / "NOTICE-worldcup98.txt").is_file()
    assert str(data) in listed
    licenses = list(venv.root.glob("lib/python*/site-packages/capsim-*.dist-info/**/LICENSE"))
    assert licenses, "LICENSE is not in the wheel"


def test_capsim_run_by_bundled_name_writes_the_recorded_summary(venv: Venv) -> None:
    out = venv.work / "report"
    venv.run("capsim", "run", "web-diurnal", "--out", str(out), "--quiet")
    for name in ("index.html", "report.md", "summary.json", "events.csv", "figures"):
        assert (out / name).exists(), name
    recorded = GOLDEN["web-diurnal"]
    code = "import numpy, pandas; print(numpy.__version__, pandas.__version__)"
    numpy_version, pandas_version = venv.run("python", "-c", code).stdout.split()
    versions = recorded["versions"]
    if (numpy_version, pandas_version) == (versions["numpy"], versions["pandas"]):
        for name in ("summary.json", "events.csv", "jobs.csv", "report.md"):
            data = golden.portable(name, (out / name).read_bytes())
            digest = hashlib.sha256(data).hexdigest()
            assert digest == recorded["files"][name], f"{name} differs from tests/golden"
    else:  # other numeric libraries: the same numbers to 1e-9 (see tests/golden.py)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert golden.close(recorded["summary"], summary, "summary.json") == []


def test_python_api_from_the_installed_package(venv: Venv) -> None:
    code = (
        "import capsim\n"
        "s = capsim.load_scenario('ml-serving')\n"
        "r = capsim.run(s)\n"
        "print(type(r).__name__, type(r.timeseries).__name__, sorted(r.summary['platforms']))\n"
    )
    out = venv.run("python", "-c", code).stdout.strip()
    assert out.startswith("RunResult DataFrame [")


def test_hpa_explain_on_a_bundled_example(venv: Venv) -> None:
    example = _data_dir(venv) / "examples" / "web-hpa.yaml"
    out = venv.run("capsim", "hpa", "explain", str(example)).stdout
    assert "Scales Deployment/web between 3 and 30 replicas" in out


def test_the_core_install_is_lean(venv: Venv) -> None:
    for module in ("scipy", "numba", "kubernetes", "distributed", "pyarrow"):
        found = venv.run("python", "-c", f"import {module}", check=False)
        assert found.returncode != 0, f"{module} is installed by the core install"


def test_recommend_without_numba_gives_the_same_answer(venv: Venv) -> None:
    """The core install runs the fast path's kernel as plain Python: same output, word for
    word, as this environment (which has the fast extra), and a note saying so."""
    examples = ROOT / "capsim" / "data" / "examples" / "validate"
    trace = ROOT / "capsim" / "data" / "scenarios" / "traces" / "nasa_http_1995-07_per_minute.csv"
    argv = [
        "recommend",
        "--hpa",
        str(examples / "hpa-pass.yaml"),
        "--deployment",
        str(examples / "deployment.yaml"),
        "--trace",
        str(trace),
        "--scale",
        "40",
        "--cpu-ms-per-request",
        "30",
        "--slo-p95-ms",
        "200",
        "--end",
        "1d",
        "--json",
    ]
    plain = venv.run("capsim", *argv, check=False)
    here = subprocess.run(
        [sys.executable, "-m", "capsim", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert here.returncode == plain.returncode, plain.stderr
    assert plain.stdout == here.stdout
    assert json.loads(plain.stdout)["recommended"] is not None
    assert "Numba is not installed" in plain.stderr
    assert "Numba" not in here.stderr


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["deploy", "emit", "web-diurnal"], "kube"),
        (["deploy", "emit", "web-diurnal", "--debug"], "kube"),
        (["deploy", "apply", "somewhere"], "kube"),
        (["live", "metrics-server", "--namespace", "a", "--deployment", "b"], "kube"),
        (["live", "snapshot", "--namespace", "a"], "kube"),
        (["sweep", "web-diurnal", "--set", "seed=1,2", "--workers", "2"], "dist"),
        (["recommend", "--hpa", "h.yaml", "--trace", "t.csv", "--scheduler", "tcp://x:1"], "dist"),
    ],
)
def test_a_command_needing_an_extra_says_which(venv: Venv, argv: list[str], extra: str) -> None:
    result = venv.run("capsim", *argv, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"needs the {extra} extra" in lines[0]
    assert f"pip install 'capsim[{extra}]'" in lines[0]
    assert "Traceback" not in result.stderr
