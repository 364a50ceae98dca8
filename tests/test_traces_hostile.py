"""Hostile trace files: each is exit 2 with one stderr line naming the file and the line,
column or value, never a traceback, never a hang on a FIFO, never a read of a device.
Through ``capsim run`` (:func:`capsim.cli.main.main`), the trace named by a scenario."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from capsim.cli.main import main

SCENARIO = """\
name: hostile
duration: 2m
workloads:
  - kind: service
    name: web
    load: {{type: trace, path: {path}, column: requests_per_s{extra}}}
    cpu_ms_per_request: 25
  - kind: batch
    name: jobs
    arrivals: {{{arrivals}}}
    cpu: 1
    memory: 1Gi
    duration: 1m
platforms:
  k8s:
    kind: kubernetes
    node_pools:
      - {{name: general, vcpu: 4, memory: 16Gi, price_per_hour: 0.2, max_nodes: 5}}
    workloads:
      web:
        pod: {{cpu_request: "1", memory_request: 1Gi}}
        replicas: 2
      jobs: {{}}
"""

HEADER = "timestamp,requests_per_s\n"


def text(body: str) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        path.write_text(body, encoding="utf-8")

    return make


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_loop(path: Path) -> None:
    path.symlink_to(path.name)


def make_device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_directory(path: Path) -> None:
    path.mkdir()


# (id, file name, how to make it, extra spec text, fragments of the one line)
CASES: list[tuple[str, str, Callable[[Path], object], str, list[str]]] = [
    (
        "ragged, a row too wide",
        "t.csv",
        text(HEADER + "0,1\n60,2,3\n120,3\n"),
        "",
        ["t.csv: line 3: 3 fields, but the header has 2"],
    ),
    (
        "ragged, a row too narrow",
        "t.csv",
        text(HEADER + "0,1\n60\n120,3\n"),
        "",
        ["t.csv: line 3: 1 field, but the header has 2"],
    ),
    ("empty file", "t.csv", text(""), "", ["t.csv: empty file"]),
    (
        "not UTF-8",
        "t.csv",
        lambda p: p.write_bytes(b"\xff\xfe\x00ts"),
        "",
        ["t.csv: not UTF-8 text (byte 0"],
    ),
    (
        "Parquet that is not Parquet",
        "t.parquet",
        text("timestamp,x\n0,1\n"),
        "",
        ["t.parquet: not a Parquet file"],
    ),
    ("a directory", "t.csv", make_directory, "", ["load.path: not a regular file (a directory)"]),
    (
        "a FIFO (never opened, so never blocks)",
        "t.csv",
        make_fifo,
        "",
        ["load.path: not a regular file (a FIFO)"],
    ),
    (
        "a symbolic-link loop",
        "t.csv",
        make_loop,
        "",
        ["load.path: cannot open: Too many levels of symbolic links"],
    ),
    ("a device", "t.csv", make_device, "", ["load.path: not a regular file (a character device)"]),
    (
        "blank lines keep line numbers true",
        "t.csv",
        text(HEADER + "0,1\n\n60,2\n120,abc\n"),
        "",
        ["t.csv: requests_per_s: not a number 'abc' at line 5"],
    ),
    (
        "a value beyond 1e9",
        "t.csv",
        text(HEADER + "0,1\n60,2e9\n120,3\n"),
        "",
        ["t.csv: requests_per_s: more than the limit of 1e+09: 2000000000.0 at line 3"],
    ),
    (
        "timestamps in milliseconds",
        "t.csv",
        text(HEADER + "1.7e12,1\n1.70000006e12,2\n"),
        "",
        [
            "t.csv: timestamp: missing, not finite or beyond ±1e+11 seconds at line 2: "
            "1700000000000.0"
        ],
    ),
    (
        "scale past 1e9",
        "t.csv",
        text(HEADER + "0,10\n60,20\n120,30\n"),
        ", scale: 1e8",
        ["load.scale: requests_per_s peaks at 30", "3e+09, more than the limit of 1e+09"],
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "make", "extra", "fragments"), CASES, ids=[c[0] for c in CASES]
)
def test_a_hostile_trace_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    name: str,
    make: Callable[[Path], object],
    extra: str,
    fragments: list[str],
) -> None:
    make(tmp_path / name)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        SCENARIO.format(path=name, extra=extra, arrivals="times: [10]"), encoding="utf-8"
    )
    code = main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"capsim: error: {scenario}: workloads[0].load"), err
    for fragment in fragments:
        assert fragment in err, err


SUBMITS: list[tuple[str, Callable[[Path], object], str]] = [
    ("ragged", text("submit_s\n0\n10,20\n"), "jobs.csv: line 3: 2 fields, but the header has 1"),
    ("a FIFO", make_fifo, "arrivals.path: not a regular file (a FIFO): jobs.csv"),
    (
        "beyond 1e9 s",
        text("submit_s\n0\n1e300\n"),
        "column 'submit_s', line 3: submit time must be seconds from 0 to 1e+09, got 1e+300",
    ),
]


@pytest.mark.parametrize(("case", "make", "fragment"), SUBMITS, ids=[c[0] for c in SUBMITS])
def test_a_hostile_submit_times_file_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    make: Callable[[Path], object],
    fragment: str,
) -> None:
    (tmp_path / "t.csv").write_text(HEADER + "0,1\n60,1\n120,1\n", encoding="utf-8")
    make(tmp_path / "jobs.csv")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        SCENARIO.format(path="t.csv", extra="", arrivals="path: jobs.csv"), encoding="utf-8"
    )
    code = main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"capsim: error: {scenario}: workloads[1].arrivals.path: "), err
    assert fragment in err, err


def test_a_looped_fine_trace_resamples_without_a_huge_index(tmp_path: Path) -> None:
    """A 1 ms trace looped over a day at 60 s ticks: 86,400,000 steps. The aligned path
    would build an index of that many int64 (690 MB); the bounded path integrates instead
    and gives the same means (here exactly the trace's constant value)."""
    import numpy as np

    from capsim.scenario.load import Trace

    trace = Trace(values=np.full(1000, 7.0), step_s=0.001, unit="requests_per_s", loop=True)
    import tracemalloc

    tracemalloc.start()
    means = trace.tick_means(60.0, 1440)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert means == pytest.approx(np.full(1440, 7.0), rel=1e-9)
    assert peak < 50 * 2**20


def test_a_column_of_bytes_may_hold_memory_sizes_a_load_may_not(tmp_path: Path) -> None:
    """1 GiB of memory is an ordinary value in a ``memory_bytes`` column (as ``capsim live
    metrics-server`` writes it); the same number as requests per second is beyond the load
    limit of 1e9."""
    from capsim.scenario.load.specs import TraceLoad, WorkloadError
    from capsim.scenario.load.traces import read_trace

    rows = "".join(f"2026-01-01T00:00:{s:02d}Z,{2**30},{2**30}\n" for s in range(0, 60, 15))
    (tmp_path / "t.csv").write_text("timestamp,memory_bytes,requests_per_s\n" + rows)

    def read(column: str) -> list[float]:
        spec = TraceLoad.model_validate({"type": "trace", "path": "t.csv", "column": column})
        return [float(v) for v in read_trace(spec, base_dir=tmp_path).values]

    assert read("memory_bytes") == [2.0**30] * 4
    with pytest.raises(WorkloadError, match=r"requests_per_s: more than the limit of 1e\+09"):
        read("requests_per_s")
