"""``capsim validate`` / ``recommend`` inputs that cannot make a meaningful run: one line
naming the flag and the value, exit 2, never a traceback (and never a verdict)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from validate_examples import EXAMPLES

from capsim.cli import main as cli


def args_for(trace: Path, *extra: str) -> list[str]:
    return [
        "validate",
        "--hpa",
        str(EXAMPLES / "hpa-pass.yaml"),
        "--deployment",
        str(EXAMPLES / "deployment.yaml"),
        "--trace",
        str(trace),
        "--cpu-ms-per-request",
        "30",
        "--slo-p95-ms",
        "200",
        *extra,
    ]


def trace_text(values: list[float]) -> str:
    """A per-minute trace in the bundled traces' shape (timestamp, requests_per_s)."""
    rows = [f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z,{v}\n" for i, v in enumerate(values)]
    return "timestamp,requests_per_s\n" + "".join(rows)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""  # no verdict printed
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("capsim: error: ")
    assert "Traceback" not in captured.err
    return captured.err


def test_an_all_zero_trace_is_refused_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "zero.csv"
    trace.write_text(trace_text([0.0] * 120))
    assert cli.main(args_for(trace)) == 2
    assert "every value in the window is 0" in one_error_line(capsys)


def test_a_negative_scale_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "load.csv"
    trace.write_text(trace_text([10.0 + i for i in range(120)]))
    with pytest.raises(SystemExit) as stopped:  # argparse: before anything runs
        cli.main(args_for(trace, "--scale", "-1"))
    assert stopped.value.code == 2
    assert "argument --scale: must be in [0, 1e+09], got '-1'" in one_error_line(capsys)


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_a_trace_that_is_not_a_file_says_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / kind
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    assert cli.main(args_for(path)) == 2
    err = one_error_line(capsys)
    assert f"--trace {path}: " in err
    expected = {"folder": "not a regular file", "fifo": "not a regular file"}
    assert expected.get(kind, "file not found") in err


@pytest.mark.parametrize("seed", ["-1", "2**64", "18446744073709551616", "x"])
def test_a_seed_out_of_range_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str
) -> None:
    with pytest.raises(SystemExit) as stopped:  # argparse: before anything runs
        cli.main(["run", "web-diurnal", "--seed", seed, "--out", str(tmp_path / "r")])
    assert stopped.value.code == 2
    assert "argument -s/--seed: " in one_error_line(capsys)
