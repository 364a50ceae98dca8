"""Fuzz: ``capsim compare`` on saved runs that are not what they claim: a summary.json
that is corrupt, empty, not JSON, a JSON list, 100k-deep, huge (30 MB), NaN, binary; a
summary.json that is a folder, a FIFO or /dev/zero; tables missing or corrupt; a run
folder that is a file or missing. The other run is a real report capsim wrote.

Each case asserts capsim's promise (see :mod:`harness`): exit 2 naming the bad folder or
file, no traceback, within the caps, nothing changed (compare writes nothing).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator

import harness
import inputs
import pytest
from harness import BAD_INPUT, Case, Workspace, case

ARGV = ["compare", "a", "b"]


def _runs(change: Callable[[Workspace], object]) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.copy(inputs.saved_run(), "a")
        space.copy(inputs.saved_run(), "b")
        change(space)

    return setup


def _summary(content: str | bytes) -> Callable[[Workspace], object]:
    return lambda space: space.write("b/summary.json", content)


def _summary_special(kind: str) -> Callable[[Workspace], None]:
    def change(space: Workspace) -> None:
        path = space.path("b/summary.json")
        path.unlink()
        if kind == "folder":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "loop":
            path.symlink_to("summary.json")

    return change


def _remove(name: str) -> Callable[[Workspace], object]:
    return lambda space: space.path(f"b/{name}").unlink()


def _b_is(kind: str) -> Callable[[Workspace], None]:
    def change(space: Workspace) -> None:
        import shutil

        shutil.rmtree(space.path("b"))
        if kind == "file":
            space.write("b", "not a folder\n")

    return change


def _summary_edit(edit: Callable[[dict[str, object]], object]) -> Callable[[Workspace], None]:
    def change(space: Workspace) -> None:
        path = space.path("b/summary.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        result = edit(data)
        path.write_text(json.dumps(data if result is None else result), encoding="utf-8")

    return change


def _huge() -> str:
    return json.dumps({"pad": ["x" * 1000] * 30_000})


KINDS: dict[str, Callable[[Workspace], object]] = {
    "summary-truncated": lambda space: space.write(
        "b/summary.json", space.path("a/summary.json").read_text(encoding="utf-8")[:100]
    ),
    "summary-empty": _summary(""),
    "summary-not-json": _summary("this is not JSON\n"),
    "summary-a-list": _summary("[1, 2, 3]"),
    "summary-null": _summary("null"),
    "summary-empty-object": _summary("{}"),
    "summary-nan": _summary('{"platforms": NaN}'),
    "summary-100k-deep": _summary("[" * 100_000 + "]" * 100_000),
    "summary-30MB": _summary(_huge()),
    "summary-binary": _summary(random.Random(3).randbytes(2048)),
    "summary-non-utf8": _summary(b'{"name": "caf\xe9"}'),
    "summary-platforms-a-string": _summary_edit(lambda d: d.update(platforms="x")),
    "summary-no-platforms": _summary_edit(lambda d: d.pop("platforms", None)),
    "summary-a-folder": _summary_special("folder"),
    "summary-a-fifo": _summary_special("fifo"),
    "summary-dev-zero": _summary_special("dev-zero"),
    "summary-symlink-loop": _summary_special("loop"),
    "no-summary": _remove("summary.json"),
    "no-events": _remove("events.csv"),
    "timeseries-corrupt": lambda space: space.write("b/timeseries.parquet", b"PAR1 garbage"),
    "events-ragged": lambda space: space.write("b/events.csv", "a,b\n1,2,3,4\n\x00\x00\n"),
    "b-a-file": _b_is("file"),
    "b-missing": _b_is("missing"),
}


def _cases() -> Iterator[Case]:
    yield case("compare:same-run", ARGV, {0}, _runs(lambda space: None))
    for kind, change in KINDS.items():
        yield case(f"compare:{kind}", ARGV, BAD_INPUT, _runs(change), names=["b"], timeout_s=20.0)


CASES = list(_cases())


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    inputs.saved_run()  # made once, before the cases copy it
    with harness.runner_for(request) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_saved_run_input(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
