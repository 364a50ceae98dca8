"""The README's "What capsim guarantees, and what it refuses" states the limits and
deadlines the code enforces: each figure there is read from the code here, so neither can
change without the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capsim.analysis import parallel, sweep
from capsim.kube import client, prometheus
from capsim.results.files import OUTPUT_MARKER
from capsim.scenario import limits, parsing

README = Path(__file__).resolve().parents[1] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## What capsim guarantees, and what it refuses")
    return text[start : text.index("\n## ", start + 1)]


def row(label: str) -> str:
    """The table row (or line) of the section that starts with ``label``."""
    for line in section().splitlines():
        if line.startswith(f"| {label}") or line.startswith(label):
            return line
    raise AssertionError(f"README: no row {label!r} in the guarantees section")


def thousands(value: float) -> str:
    return f"{int(value):,}"


@pytest.mark.parametrize(
    ("label", "values"),
    [
        ("simulated ticks", [limits.MAX_TICKS]),
        ("grid cells", [limits.MAX_GRID_CELLS]),
        ("recorded instants", [limits.MAX_RECORD_INSTANTS, limits.MAX_RECORDED_ROWS]),
        ("workloads / platforms", [limits.MAX_WORKLOADS, limits.MAX_PLATFORMS]),
        ("nodes (per platform)", [limits.MAX_NODES, limits.MAX_REPLICAS]),
        ("`concurrency`", [limits.MAX_CONCURRENCY, limits.MAX_PER_VM, limits.MAX_WORKERS]),
        ("batch tasks", [limits.MAX_BATCH_TASKS]),
        ("load `sum`", [limits.MAX_LOAD_DEPTH, limits.MAX_NESTING]),
        ("trace span", [limits.MAX_TRACE_STEPS]),
        ("`sweep` runs", [sweep.MAX_RUNS]),
        ("`live prometheus` points", [prometheus.MAX_POINTS_PER_PULL]),
    ],
)
def test_each_size_limit_in_the_readme_is_the_codes(label: str, values: list[int]) -> None:
    line = row(label)
    for value in values:
        assert thousands(value) in line, (label, value, line)


def test_the_other_stated_limits_are_the_codes() -> None:
    text = " ".join(section().split())
    assert f"{limits.MAX_GPU:,} |" in row("`concurrency`")
    assert limits.MAX_RATE == 1e9
    assert "10⁹" in row("any load value")
    assert limits.MIN_POSITIVE_DURATION_S == 1e-6
    assert limits.MAX_DURATION_S == 1e9
    assert "1 µs to 10⁹ s" in row("durations")
    assert f"{prometheus.MAX_RESPONSE_BYTES // 2**20} MiB" in row("`live prometheus` points")
    assert f"at most {limits.MAX_TRACE_BYTES // 2**20} MiB" in text
    assert f"{limits.MAX_TRACE_ROWS:,} rows" in text
    assert f"files over {parsing.MAX_YAML_BYTES // 2**20} MiB" in text
    assert f"deeper than {parsing.MAX_YAML_DEPTH} levels" in text
    assert f"more than {parsing.MAX_YAML_NODES:,} values" in text
    assert f"`--workers` is 1 to {parallel.MAX_LOCAL_WORKERS}" in text
    assert f"holds a `{OUTPUT_MARKER}` file" in text


def minutes_or_seconds(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds)}s"


def test_each_deadline_in_the_readme_is_the_codes_default() -> None:
    assert minutes_or_seconds(prometheus.DEFAULT_TIMEOUT_S) in row("`live prometheus`: the whole")
    assert minutes_or_seconds(client.DEFAULT_TIMEOUT_S) in row("`deploy apply`, `live snapshot`")
    assert minutes_or_seconds(client.DEFAULT_TIMEOUT_S) in row("`live metrics-server`")
    dask = row("`sweep`, `recommend` on Dask")
    assert minutes_or_seconds(parallel.DEFAULT_CONNECT_TIMEOUT_S) in dask
    assert minutes_or_seconds(parallel.DEFAULT_TIMEOUT_S) in dask


def test_the_command_line_defaults_are_the_documented_ones() -> None:
    """The flags' defaults are the constants above (argparse, not a second copy)."""
    from capsim.cli.main import build_parser

    parser = build_parser()

    def defaults(*argv: str) -> dict[str, object]:
        return vars(parser.parse_args(list(argv)))

    prom = defaults(
        "live", "prometheus", "--url", "http://x", "--namespace", "a", "--deployment", "web"
    )
    assert re.sub(r"\s", "", str(prom["timeout"])) in {"5m", "300", "300.0"}
    sweep_args = defaults("sweep", "web-diurnal", "--set", "hpa.minReplicas=1")
    assert sweep_args["timeout"] == parallel.DEFAULT_TIMEOUT_S
    assert sweep_args["connect_timeout"] == parallel.DEFAULT_CONNECT_TIMEOUT_S
