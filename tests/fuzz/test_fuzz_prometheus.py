"""Fuzz: hostile Prometheus answers for ``capsim live prometheus``, from a local server on
127.0.0.1 (:mod:`hostile_server`): ``data`` a list, ``+Inf``, ``NaN``, negative values,
truncated JSON, an HTML page, one byte per second, a redirect to another port, a 10 MB
answer, 5xx, an answer that never comes, series of the wrong shape.

Each case asserts capsim's promise (see :mod:`harness`), and that a pull is all or
nothing: when capsim refuses (exit 2), neither the CSV nor the scenario was written; when
it writes them, the CSV holds no infinity or negative number and the scenario is one
capsim itself accepts.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import harness
import hostile_server
import pandas as pd
import pytest
from harness import BAD_INPUT, Case, Outcome, case

import capsim

COMMAND = ["live", "prometheus"]
OUTPUTS = ("work/web.csv", "work/web.yaml")


def argv(mode: str, *extra: str) -> list[str]:
    return [
        *COMMAND,
        "--url",
        f"http://{{prom}}/{mode}",
        "--namespace",
        "shop",
        "--deployment",
        "web",
        "--since",
        "1h",
        "--step",
        "60s",
        *harness.deadline_flags(COMMAND, "2s"),
        "--out",
        "web.csv",
        "--scenario-out",
        "web.yaml",
        *extra,
    ]


def all_or_nothing(outcome: Outcome) -> None:
    """Refused: nothing written. Written: finite, non-negative data and a scenario capsim
    accepts."""
    written = {k: v for k, v in outcome.written.items() if k in OUTPUTS}
    if outcome.returncode == 2:
        assert not written, f"refused, yet wrote {sorted(written)}"
        return
    assert set(written) == set(OUTPUTS), sorted(written)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        for relative, data in written.items():
            (base / Path(relative).name).write_bytes(data)
        frame = pd.read_csv(base / "web.csv")
        values = frame.drop(columns=["timestamp"]).to_numpy(dtype=float)
        finite = values[~pd.isna(values)]
        assert all(math.isfinite(v) and v >= 0 for v in finite), "the CSV holds inf or < 0"
        try:
            capsim.load_scenario(base / "web.yaml")
        except ValueError as exc:
            raise AssertionError(f"capsim rejects the scenario it wrote: {exc}") from None


# mode → exit codes allowed
MODES: dict[str, frozenset[int]] = {
    "ok": frozenset({0}),
    "inf": BAD_INPUT,
    "ninf": BAD_INPUT,
    "nan": frozenset({0, 2}),  # NaN is Prometheus's "no value": a gap, or refused
    "negative": BAD_INPUT,
    "huge-value": frozenset({0, 2}),
    "data-list": BAD_INPUT,
    "data-null": BAD_INPUT,
    "data-string": BAD_INPUT,
    "not-object": BAD_INPUT,
    "status-error": BAD_INPUT,
    "truncated": BAD_INPUT,
    "html": BAD_INPUT,
    "drip": BAD_INPUT,
    "redirect": frozenset({0, 2}),
    "redirect-loop": BAD_INPUT,
    "e500": BAD_INPUT,
    "e503": BAD_INPUT,
    "e401": BAD_INPUT,
    "e404": BAD_INPUT,
    "hang": BAD_INPUT,
    "empty": BAD_INPUT,
    "vector": BAD_INPUT,
    "many-series": BAD_INPUT,
    "garbage-values": BAD_INPUT,
    "missing-values": BAD_INPUT,
    "metric-list": BAD_INPUT,
    "time-garbage": BAD_INPUT,
    "huge": frozenset({0, 2}),
    "echo-auth": BAD_INPUT,
}
assert set(MODES) == set(hostile_server.PROMETHEUS_MODES)

SLOW = {"drip": 25.0, "hang": 25.0, "huge": 40.0, "e500": 25.0, "e503": 25.0}


def _cases() -> Iterator[Case]:
    for mode, expect in MODES.items():
        yield case(
            f"prometheus:{mode}",
            argv(mode),
            expect,
            writes=OUTPUTS,
            names=["{prom}"],
            timeout_s=SLOW.get(mode, 20.0),
            check=all_or_nothing,
        )
    yield case(
        "prometheus:unreachable",
        [*argv("ok"), "--url", "http://{closed}/"],
        BAD_INPUT,
        writes=OUTPUTS,
        names=["{closed}"],
        timeout_s=25.0,
        check=all_or_nothing,
    )


CASES = list(_cases())


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request, lambda: hostile_server.servers().values()) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_prometheus_answer(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
