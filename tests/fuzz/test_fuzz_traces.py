"""Fuzz: hostile traces (CSV and Parquet) for every command that reads one: ``validate``
and ``recommend`` (``--trace``), ``run`` (a scenario whose load is the trace) and ``live
compare`` (``--trace``, the observed side). Ragged rows, an empty file, a header alone, one
row, all zeros, NaN/±inf/negative/text/1e400 values, unsorted or duplicate times, three rows
spanning 10¹² s, a ``.parquet`` file that is not Parquet, special files.

Each case asserts capsim's promise (see :mod:`harness`).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import harness
import inputs
import pytest
from harness import BAD_INPUT, VALID, VALID_OR_REFUSED, Case, Workspace, case

REQUESTS = ["requests_per_s"]
OBSERVED = ["cpu_cores", "replicas_ready", "cpu_request_cores"]
Rows = list[tuple[Any, Any]]
Build = Callable[[list[str]], str | bytes]


def _stamp(minute: int) -> str:
    return f"2024-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z"


def _wave(minute: int) -> float:
    return round(2 + math.sin(minute / 20), 3)


def _csv(rows: Rows, header: str | None = None) -> Build:
    """A CSV of ``(timestamp, value)`` rows; the value goes in every value column."""

    def build(columns: list[str]) -> str:
        head = header if header is not None else ",".join(["timestamp", *columns])
        lines = [head] + [",".join([str(t)] + [str(v)] * len(columns)) for t, v in rows]
        return "\n".join(lines) + "\n"

    return build


def _regular(value: Callable[[int], Any] = _wave, minutes: int = 180) -> Rows:
    return [(_stamp(m), value(m)) for m in range(minutes)]


def _one_bad(bad: Any, at: int = 30) -> Rows:
    rows = _regular()
    rows[at] = (rows[at][0], bad)
    return rows


def _ragged(columns: list[str]) -> str:
    text = str(_csv(_regular())(columns)).splitlines()
    text[20] += ",1,2,3"
    text[40] = text[40].split(",")[0]
    return "\n".join(text) + "\n"


def _raw(content: str | bytes) -> Build:
    return lambda columns: content


def _non_utf8(columns: list[str]) -> bytes:
    return str(_csv(_regular())(columns)).replace("timestamp", "t\xefmestamp", 1).encode("latin-1")


def _unsorted() -> Rows:
    rows = _regular()
    rows[50], rows[51] = rows[51], rows[50]
    return rows


def _duplicate() -> Rows:
    rows = _regular()
    rows[50] = (rows[49][0], rows[50][1])
    return rows


# name → (builder, expected exit for validate and run)
KINDS: dict[str, tuple[Build, frozenset[int]]] = {
    "valid": (_csv(_regular()), VALID),
    "all-zero": (_csv(_regular(lambda m: 0)), VALID),
    "ragged": (_ragged, BAD_INPUT),
    "empty-file": (_raw(""), BAD_INPUT),
    "header-only": (_csv([]), BAD_INPUT),
    "one-row": (_csv(_regular(minutes=1)), BAD_INPUT),
    "nan-value": (_csv(_one_bad("nan")), BAD_INPUT),
    "empty-cell": (_csv(_one_bad("")), BAD_INPUT),
    "inf-value": (_csv(_one_bad("inf")), BAD_INPUT),
    "minus-inf-value": (_csv(_one_bad("-inf")), BAD_INPUT),
    "negative-value": (_csv(_one_bad(-3)), BAD_INPUT),
    "text-value": (_csv(_one_bad("lots")), BAD_INPUT),
    "1e400-value": (_csv(_one_bad("1e400")), BAD_INPUT),
    "1e308-value": (_csv(_one_bad("1e308")), VALID_OR_REFUSED),
    "not-sorted": (_csv(_unsorted()), BAD_INPUT),
    "duplicate-time": (_csv(_duplicate()), BAD_INPUT),
    "span-1e12s-three-rows": (_csv([(0, 1), (5e11, 2), (1e12, 3)]), BAD_INPUT),
    "off-grid-times": (_csv([(0, 1), (60, 2), (125, 3), (180, 4)]), BAD_INPUT),
    "garbage-times": (_csv([("yesterday", 1), ("today", 2), ("tomorrow", 3)]), BAD_INPUT),
    "nan-times": (_csv([(0, 1), ("nan", 2), (120, 3)]), BAD_INPUT),
    "year-9999": (
        _csv([("9999-12-31T23:58:00Z", 1), ("9999-12-31T23:59:00Z", 2)]),
        VALID_OR_REFUSED,
    ),
    "no-timestamp-column": (_csv(_regular(), header="time,requests_per_s"), BAD_INPUT),
    "binary-junk": (_raw(random.Random(7).randbytes(3000)), BAD_INPUT),
    "non-utf8-header": (_non_utf8, BAD_INPUT),
    "bom": (lambda columns: "\ufeff" + str(_csv(_regular())(columns)), VALID_OR_REFUSED),
}


# validate and recommend replay gaps as "hold" (documented): a gap is valid input there
# validate/recommend: gaps are held (documented), and a window with no load at all is
# refused (exit 2, "nothing about the HPA can be validated") rather than judged.
GAPS_HELD = {"nan-value": VALID, "empty-cell": VALID, "all-zero": BAD_INPUT}
# the observed side of live compare: gaps, odd steps and spans are what clusters give
OBSERVED_OK = frozenset(
    {"valid", "all-zero", "one-row", "nan-value", "empty-cell", "1e308-value"}
    | {"span-1e12s-three-rows", "off-grid-times", "year-9999", "bom"}
)


def _write_trace(build: Build, columns: list[str], name: str) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.write(name, build(columns))

    return setup


def _parquet(frame: dict[str, list[Any]], name: str = "t.parquet") -> harness.Setup:
    def setup(space: Workspace) -> None:
        import pandas as pd

        pd.DataFrame(frame).to_parquet(space.path(name))

    return setup


def _special(kind: str, name: str) -> harness.Setup:
    def setup(space: Workspace) -> None:
        path = space.path(name)
        if kind == "a-directory":
            path.mkdir()
        elif kind == "a-fifo":
            os.mkfifo(path)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "symlink-loop":
            path.symlink_to(name)

    return setup


def _stamps() -> list[str]:
    return [_stamp(m) for m in range(180)]


PARQUET: dict[str, tuple[harness.Setup, frozenset[int]]] = {
    "parquet-valid": (
        _parquet({"timestamp": _stamps(), "requests_per_s": [2.0] * 180}),
        VALID,
    ),
    "parquet-text-values": (
        _parquet({"timestamp": _stamps(), "requests_per_s": ["many"] * 180}),
        BAD_INPUT,
    ),
    "parquet-empty": (_parquet({"timestamp": [], "requests_per_s": []}), BAD_INPUT),
    "parquet-bool-times": (
        _parquet({"timestamp": [True, False], "requests_per_s": [1.0, 2.0]}),
        BAD_INPUT,
    ),
    "not-parquet": (_write_trace(_csv(_regular()), REQUESTS, "t.parquet"), BAD_INPUT),
}

SPECIAL = ("a-directory", "a-fifo", "dev-zero", "symlink-loop")


def _with(*setups: harness.Setup) -> harness.Setup:
    def setup(space: Workspace) -> None:
        for each in setups:
            each(space)

    return setup


def _validate_files(space: Workspace) -> None:
    space.write_yaml("hpa.yaml", inputs.hpa())
    space.write_yaml("dep.yaml", inputs.deployment())


def _scenario_for(name: str) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.write_yaml("s.yaml", inputs.trace_scenario(name))

    return setup


def _small_scenario(space: Workspace) -> None:
    space.write_yaml("s.yaml", inputs.small_scenario())


def _validate_argv(name: str, command: str = "validate") -> list[str]:
    return [command, "--hpa", "hpa.yaml", "--deployment", "dep.yaml", "--trace", name]


RECOMMEND_FAST = ("--targets", "50,70", "--presets", "default")
RECOMMEND_KINDS = ("valid", "all-zero", "span-1e12s-three-rows", "negative-value", "inf-value")
OUT = ("work/out", "work/out/**")


def _cases_for(
    kind: str,
    trace: harness.Setup,
    observed: harness.Setup | None,
    expect: frozenset[int],
    name: str,
) -> Iterator[Case]:
    names = [name]
    yield case(
        f"validate:{kind}",
        [*_validate_argv(name), "--cpu-ms-per-request", "20"],
        GAPS_HELD.get(kind, expect),
        _with(trace, _validate_files),
        names=names,
    )
    yield case(
        f"run:{kind}",
        ["run", "s.yaml", "--out", "out", *inputs.JSON_ONLY],
        {0} if expect == VALID else expect,
        _with(trace, _scenario_for(name)),
        writes=OUT,
        names=names,
    )
    if kind in RECOMMEND_KINDS:
        yield case(
            f"recommend:{kind}",
            [*_validate_argv(name, "recommend"), *RECOMMEND_FAST, "--cpu-ms-per-request", "20"],
            GAPS_HELD.get(kind, expect),
            _with(trace, _validate_files),
            names=names,
            timeout_s=60.0,
        )
    if observed is not None:
        yield case(
            f"live-compare:{kind}",
            ["live", "compare", "--trace", name, "--scenario", "s.yaml", "--out", "out"],
            VALID_OR_REFUSED if kind in OBSERVED_OK else BAD_INPUT,
            _with(observed, _small_scenario),
            writes=OUT,
            names=names,
        )


def _all_cases() -> Iterator[Case]:
    for kind, (build, expect) in KINDS.items():
        yield from _cases_for(
            kind,
            _write_trace(build, REQUESTS, "t.csv"),
            _write_trace(build, OBSERVED, "t.csv"),
            expect,
            "t.csv",
        )
    for kind, (setup, expect) in PARQUET.items():
        for each in _cases_for(kind, setup, None, expect, "t.parquet"):
            yield harness.Case(**{**each.__dict__, "needs": ("pyarrow",)})
    for kind in SPECIAL:
        yield from _cases_for(
            kind, _special(kind, "t.csv"), _special(kind, "t.csv"), BAD_INPUT, "t.csv"
        )


CASES = list(_all_cases())


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_trace_input(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
