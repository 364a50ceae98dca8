"""Fuzz: hostile scenario files for every command that reads one (``run``, ``sweep``,
``deploy emit``, ``live compare``): YAML syntax errors, alias bombs, 100k-deep nesting,
duplicate keys, special files (a folder, a FIFO, /dev/zero, a symlink loop), bytes that
are not UTF-8; every numeric field of the bundled web-diurnal scenario given a boolean, a
string, null, ±inf, NaN, a negative number or 1e400; unknown fields and wrong types at every
level of a scenario; grids far beyond any machine (ten years at 1 ms).

Each case asserts capsim's promise (see :mod:`harness`): the allowed exit code (2 for bad
input), one ``capsim: error:`` line naming the file (and the field), no traceback or warning,
within the time and memory cap, and no file changed but the ``--out`` folder.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import harness
import inputs
import pytest
import yaml
from harness import BAD_INPUT, Case, Workspace, case

RUN_OUT = ("work/out", "work/out/**")
OUT = ["--out", "out"]


def _text(name: str, text: str | bytes) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.write(name, text)

    return setup


def _with_trace(setup: harness.Setup) -> harness.Setup:
    def both(space: Workspace) -> None:
        setup(space)
        space.write("t.csv", inputs.trace_csv())

    return both


def _fifo(space: Workspace) -> None:
    os.mkfifo(space.path("s.yaml"))


def _folder(space: Workspace) -> None:
    space.path("s.yaml").mkdir()
    space.write("s.yaml/x.txt", "a folder named like a scenario\n")


def _dev_zero(space: Workspace) -> None:
    space.path("s.yaml").symlink_to("/dev/zero")


def _loop(space: Workspace) -> None:
    space.path("s.yaml").symlink_to("s.yaml")


def _bomb(where: str) -> str:
    """Billion laughs: nine levels of nine aliases each (9⁹ leaves if expanded)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    body = yaml.safe_dump(inputs.small_scenario(), sort_keys=False)
    if where == "workloads":
        body = body.replace(
            "workloads:\n- kind: service", "workloads: *a9\nunused:\n- kind: service"
        )
    else:
        body = body.replace("name: fuzz-small", "name: *a9")
    return "x-anchors:\n" + "\n".join("  " + line for line in lines) + "\n" + body


def _deep_list() -> str:
    depth = 100_000
    return "name: deep\nduration: 1h\nworkloads: " + "[" * depth + "]" * depth + "\n"


def _deep_map() -> str:
    depth = 100_000
    return "name: deep\nduration: 1h\nplatforms: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _small(**top: Any) -> str:
    data = inputs.small_scenario()
    data.update(top)
    return yaml.safe_dump(data, sort_keys=False)


def _duplicate_top() -> str:
    return inputs.small_scenario_text().replace("duration: 20m\n", "duration: 20m\nduration: 2h\n")


def _duplicate_nested() -> str:
    return inputs.small_scenario_text().replace(
        "maxReplicas: 8\n", "maxReplicas: 5\n          maxReplicas: 500\n"
    )


def _non_utf8() -> bytes:
    text = inputs.small_scenario_text().replace(
        "name: fuzz-small", "name: fuzz-small\ndescription: X"
    )
    return text.replace("description: X", "description: caf\xe9").encode("latin-1")


def _junk() -> bytes:
    return random.Random(14).randbytes(4096)


FILE_KINDS: list[tuple[str, harness.Setup]] = [
    ("syntax-unclosed-bracket", _text("s.yaml", "name: [\nduration: 1h\n")),
    ("syntax-tab-indent", _text("s.yaml", "name: x\n\tduration: 1h\n")),
    ("syntax-bad-indent", _text("s.yaml", "name: x\n  duration: 1h\n bad: 2\n")),
    ("syntax-unterminated-quote", _text("s.yaml", 'name: "abc\nduration: 1h\n')),
    ("python-tag", _text("s.yaml", "name: !!python/object/apply:os.system ['true']\n")),
    ("unknown-tag", _text("s.yaml", inputs.small_scenario_text().replace("20m", "!dur 20m"))),
    ("alias-bomb-workloads", _text("s.yaml", _bomb("workloads"))),
    ("alias-bomb-name", _text("s.yaml", _bomb("name"))),
    ("nesting-100k-lists", _text("s.yaml", _deep_list())),
    ("nesting-100k-mappings", _text("s.yaml", _deep_map())),
    ("duplicate-key-top", _text("s.yaml", _duplicate_top())),
    ("duplicate-key-maxReplicas", _text("s.yaml", _duplicate_nested())),
    ("non-utf8-bytes", _text("s.yaml", _non_utf8())),
    ("nul-bytes", _text("s.yaml", inputs.small_scenario_text().replace("web", "w\0b", 1))),
    ("empty-file", _text("s.yaml", "")),
    ("only-a-comment", _text("s.yaml", "# nothing here\n")),
    ("top-level-list", _text("s.yaml", "- name: x\n- duration: 1h\n")),
    ("top-level-scalar", _text("s.yaml", "42\n")),
    ("binary-junk", _text("s.yaml", _junk())),
    ("a-directory", _folder),
    ("a-fifo", _fifo),
    ("dev-zero", _dev_zero),
    ("symlink-loop", _loop),
    ("missing-file", lambda space: None),
]

_EMIT = ["deploy", "emit", "s.yaml", "--image", "nginx:1", "--out", "out"]
COMMANDS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("run", ["run", "s.yaml", *OUT, *inputs.JSON_ONLY], {}),
    ("sweep", ["sweep", "s.yaml", "--set", "hpa.maxReplicas=4,8", *OUT, "--quiet"], {}),
    ("emit", _EMIT, {"needs": ["kubernetes_validate"], "listing": True}),
    ("live-compare", ["live", "compare", "--trace", "t.csv", "--scenario", "s.yaml", *OUT], {}),
]


def _file_cases() -> Iterator[Case]:
    for kind, setup in FILE_KINDS:
        for command, argv, options in COMMANDS:
            prepared = _with_trace(setup) if command == "live-compare" else setup
            timeout = 20.0 if kind in ("a-fifo", "dev-zero", "alias-bomb-workloads") else 30.0
            yield case(
                f"{command}:{kind}",
                argv,
                BAD_INPUT,
                prepared,
                writes=RUN_OUT,
                names=["s.yaml"],
                timeout_s=timeout,
                **options,
            )


# --- every numeric field of a bundled scenario ------------------------------------------------

NUMBER_VALUES: list[tuple[str, Any]] = [
    ("true", True),
    ("string", "abc"),
    ("null", None),
    ("inf", float("inf")),
    ("nan", float("nan")),
    ("negative", -1),
    ("1e400", "1e400"),
]
OPTIONAL_NUMBERS = frozenset({"max_error_rate"})  # null is "no such objective"
UNIT_VALUES: list[tuple[str, Any]] = [("true", True), ("negative", "-1"), ("1e400", "1e400")]
_UNIT_KEYS = frozenset(
    {
        "duration",
        "timeout",
        "memory",
        "median",
        "p99",
        "warmup",
        "cooldown",
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
        "image_size",
    }
)

Path_ = tuple[str | int, ...]


def leaves(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every scalar of a YAML tree with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path, node


def containers(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every mapping and list of a YAML tree (the root too) with its path."""
    if isinstance(node, dict | list):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield from containers(value, (*path, key))


def replaced(data: Any, path: Path_, value: Any) -> Any:
    """A copy of ``data`` with the node at ``path`` replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {k: replaced(v, rest, value) if k == head else v for k, v in data.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(data)]


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _bundled() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(inputs.BUNDLED.read_text(encoding="utf-8"))
    load = data["workloads"][0]["load"]
    load["path"] = str(inputs.BUNDLED.parent / load["path"])
    data["duration"] = "2h"  # the same fields, a shorter run when one is accepted
    return data


def _yaml_setup(data: Any) -> harness.Setup:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def setup(space: Workspace) -> None:
        space.write("s.yaml", text)

    return setup


def _field_cases() -> Iterator[Case]:
    data = _bundled()
    for path, value in leaves(data):
        key = path[-1]
        if isinstance(value, bool) or not isinstance(key, str):
            continue
        if isinstance(value, int | float):
            values = NUMBER_VALUES
        elif key in _UNIT_KEYS:
            values = UNIT_VALUES
        else:
            continue
        for label, bad in values:
            if bad is None and key in OPTIONAL_NUMBERS:
                continue
            yield case(
                f"web-diurnal:{dotted(path)}={label}",
                ["run", "s.yaml", *OUT, *inputs.JSON_ONLY],
                BAD_INPUT,
                _yaml_setup(replaced(data, path, bad)),
                writes=RUN_OUT,
                names=["s.yaml", key],
            )


# --- unknown fields and wrong types at every level ----------------------------------------------


def _structure_cases() -> Iterator[Case]:
    data = inputs.small_scenario()
    argv = ["run", "s.yaml", *OUT, *inputs.JSON_ONLY]
    for path, node in containers(data):
        where = dotted(path) or "(top)"
        if isinstance(node, dict) and not (path and path[-1] in ("platforms", "workloads")):
            # (platform and workload maps are keyed by name: a new key is a new name)
            yield case(
                f"unknown-field:{where}",
                argv,
                BAD_INPUT,
                _yaml_setup(replaced(data, path, {**node, "bogus_field": 1})),
                writes=RUN_OUT,
                names=["s.yaml", "bogus_field"],
            )
        if not path:
            continue
        swapped: Any = [node] if isinstance(node, dict) else {"a": node}
        for label, value in (("string", "x"), ("number", 42), ("container", swapped)):
            yield case(
                f"wrong-type:{where}={label}",
                argv,
                BAD_INPUT,
                _yaml_setup(replaced(data, path, value)),
                writes=RUN_OUT,
                names=["s.yaml"],
            )


# --- sizes beyond any machine -------------------------------------------------------------------


def _sized(**changes: Any) -> harness.Setup:
    data = inputs.small_scenario()
    for dotted_path, value in changes.items():
        node: Any = data
        parts = dotted_path.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[parts[-1]] = value
    return _yaml_setup(data)


SIZE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("ten-years-1s-tick", {"duration": "3650d", "tick": "1s"}, "duration"),
    ("hundred-years", {"duration": "36500d"}, "duration"),
    ("duration-1e12s", {"duration": 1e12}, "duration"),
    ("duration-1e400", {"duration": "1e400s"}, "duration"),
    ("week-at-1ms-tick", {"duration": "7d", "tick": "1ms"}, "tick"),
    ("tick-1e-300s", {"tick": 1e-300}, "tick"),
    ("record-every-1ms", {"duration": "7d", "record_every": "1ms"}, "record_every"),
    ("load-period-1ns", {"workloads__0__load__period": 1e-9}, "period"),
    ("load-peak-1e300", {"workloads__0__load__peak": 1e300}, "peak"),
    ("timeout-1e-300s", {"workloads__0__timeout": 1e-300}, "timeout"),
    ("replicas-1e9", {"platforms__kube__workloads__web__hpa__minReplicas": 10**9}, "minReplicas"),
    ("max-nodes-2^63", {"platforms__kube__node_pools__0__max_nodes": 2**63}, "max_nodes"),
    ("memory-1e400Gi", {"platforms__kube__node_pools__0__memory": "1e400Gi"}, "memory"),
    ("cpu-request-zero", {"platforms__kube__workloads__web__pod__cpu_request": 0}, "cpu_request"),
]


def _size_cases() -> Iterator[Case]:
    for label, changes, field in SIZE_CASES:
        argv = ["run", "s.yaml", *OUT, *inputs.JSON_ONLY]
        yield case(
            f"size:{label}",
            argv,
            BAD_INPUT,
            _sized(**changes),
            writes=RUN_OUT,
            names=["s.yaml", field],
            timeout_s=30.0,
        )


def _valid_cases() -> Iterator[Case]:
    """The unbroken inputs pass (so every refusal above is the hostile part's doing)."""
    yield case(
        "valid:small",
        ["run", "s.yaml", *OUT, *inputs.JSON_ONLY],
        {0},
        _yaml_setup(inputs.small_scenario()),
        writes=RUN_OUT,
        check=_report_written,
    )
    yield case(
        "valid:large-but-finite-price",
        ["run", "s.yaml", *OUT, *inputs.JSON_ONLY],
        harness.VALID_OR_REFUSED,
        _sized(platforms__kube__node_pools__0__price_per_hour=1e300),
        writes=RUN_OUT,
    )


def _report_written(outcome: harness.Outcome) -> None:
    assert "work/out/summary.json" in outcome.written, sorted(outcome.written)


CASES: list[Case] = [
    *_valid_cases(),
    *_file_cases(),
    *_size_cases(),
    *_structure_cases(),
    *_field_cases(),
]


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_scenario_input(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))


def test_catalogue_covers_every_numeric_field() -> None:
    """The field sweep reaches every number of the bundled scenario (19 of them)."""
    numbers = [p for p, v in leaves(_bundled()) if isinstance(v, int | float)]
    swept = {c.id.split("=")[0] for c in CASES if c.id.startswith("web-diurnal:")}
    assert len(numbers) >= 15
    assert {f"web-diurnal:{dotted(p)}" for p in numbers if not isinstance(p[-1], int)} <= swept
