"""The top-level handler sorts every way a command can end into the documented exit
codes (capsim.cli.common): input, files, network and environment → 2 with one line; an
unexpected error → 3, one line saying it is a bug (the traceback only with --debug);
signals → 130/143; a closed pipe → 141, silently."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from capsim.cli import main as cli
from capsim.cli.common import InputError, Terminated


def run_with(monkeypatch: pytest.MonkeyPatch, behaviour: Callable[[], int], *flags: str) -> int:
    """``capsim scenarios`` whose handler does ``behaviour`` instead (the parser is built
    by each ``main`` call, after the patch)."""
    monkeypatch.setattr("capsim.cli.run._scenarios", lambda args: behaviour())
    return cli.main([*flags, "scenarios"])


def raising(error: BaseException) -> Callable[[], int]:
    def behaviour() -> int:
        raise error

    return behaviour


def numpy_value_error() -> int:
    np.zeros(3).reshape(2)  # a ValueError raised inside NumPy: capsim's bug, not input
    return 0


def capsim_value_error() -> int:
    from capsim.units import parse_duration_s

    parse_duration_s("soon")  # capsim's own ValueError about input
    return 0


@pytest.mark.parametrize(
    ("behaviour", "code", "expected"),
    [
        (raising(TypeError("unsupported operand")), 3, "internal error, a bug in capsim"),
        (raising(KeyError("replicas")), 3, "KeyError"),
        (raising(RecursionError("maximum recursion depth")), 3, "RecursionError"),
        (numpy_value_error, 3, "a bug in capsim"),
        (capsim_value_error, 2, "capsim: error: not a duration: 'soon'"),
        (raising(InputError("x.yaml: replicas: must be >= 1, got 0")), 2, "x.yaml: replicas"),
        (
            raising(OSError(errno.ENOSPC, "No space left on device", "reports/a.csv")),
            2,
            "capsim: error: reports/a.csv: No space left on device",
        ),
        (raising(MemoryError()), 2, "not enough memory for this run"),
        (raising(KeyboardInterrupt()), 130, "interrupted"),
        (raising(Terminated()), 143, "terminated"),
    ],
)
def test_each_ending_has_its_code_and_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    behaviour: Callable[[], int],
    code: int,
    expected: str,
) -> None:
    assert run_with(monkeypatch, behaviour) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert expected in err
    assert "Traceback" not in err
    if code == 3:
        assert "rerun with --debug" in err


def test_debug_shows_the_traceback_of_a_bug_and_still_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_with(monkeypatch, raising(TypeError("boom")), "--debug") == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().splitlines()[-1].startswith("capsim: error: internal error")


def test_no_credential_of_a_url_is_ever_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "cannot reach http://alice:s3cr3t@prom.example:9090/api and https://tok@h/x"
    for error in (InputError(message), TypeError(message)):
        run_with(monkeypatch, raising(error))
        err = capsys.readouterr().err
        assert "s3cr3t" not in err
        assert "tok@" not in err
        assert "http://***@prom.example:9090/api" in err


def test_an_argument_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "web-diurnal", "--seed", "many"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert (
        err == "capsim: error: capsim run: argument -s/--seed: not a whole number: 'many' "
        "(see --help)\n"
    )


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    """``capsim hpa explain … | head -c 10``: no "Broken pipe" message, exit 141. The
    output (one HPA 2,000 times, megabytes) cannot fit in the pipe's buffer, so capsim is
    still writing when the reader goes away."""
    from capsim.data import EXAMPLES_DIR

    manifests = [str(EXAMPLES_DIR / "web-hpa.yaml")] * 2000
    proc = subprocess.Popen(
        [sys.executable, "-m", "capsim", "hpa", "explain", *manifests],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_an_error_found_when_the_load_is_built_names_the_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace shorter than the run is found when the run's load is built, after parsing:
    the message still starts with the scenario's file, as a parse error would."""
    (tmp_path / "traces").mkdir()
    rows = "".join(
        f"2026-01-01T{h:02d}:{m:02d}:00Z,{10 + m}\n" for h in range(3) for m in range(60)
    )
    (tmp_path / "traces" / "load.csv").write_text("timestamp,requests_per_s\n" + rows)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: tw\nduration: 4h\n"
        "workloads:\n  - name: web\n    kind: service\n    cpu_ms_per_request: 20\n"
        "    load: {type: trace, path: traces/load.csv}\n"
        "platforms:\n  vm:\n    kind: vm\n"
        "    instance: {vcpu: 2, memory: 4Gi, price_per_hour: 0.1}\n"
        "    workloads: {web: {per_vm: 1, instances: 2}}\n"
    )
    assert cli.main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capsim: error: {scenario}: workloads[0].load: ")
    assert "load.csv: " in err
    assert "the trace window lasts 3h of simulated time but the run needs 4h" in err
    assert err.count("\n") == 1
