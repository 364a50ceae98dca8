"""Fuzz with hypothesis: random mutations of a scenario keep capsim's promise.

A small scenario (20 simulated minutes) and the bundled web-diurnal (its duration cut to
two hours, so that an accepted mutation runs in a second or two) are mutated at random
paths: a node replaced by a random YAML value (scalars of every kind, including
durations, quantities, ±inf, NaN, huge and negative numbers; small lists and mappings), a
key deleted, an unknown key added; or the YAML text itself has bytes flipped. ``capsim run
FILE --out out`` then must exit 0, 1 or 2 (never 3, never a signal, never past the time
cap), with one ``capsim: error:`` line on 2 (a scenario's further problems listed under
it, indented), no traceback, no warning, and nothing but
``out/`` written (:mod:`harness`).

Examples are few (each is a capsim process) and not shrunk (a hang costs the time cap
once, not once per shrinking step); the failing example is printed.
"""

from __future__ import annotations

from typing import Any

import harness
import inputs
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_fuzz_scenario import Path_, containers, leaves, replaced

OUT = ("work/out", "work/out/**")
ARGV = ("run", "s.yaml", "--out", "out", "--format", "json", "--quiet")
# A scenario with several mistakes lists each under the first (``listing``).
CASE = harness.case(
    "property", ARGV, harness.VALID_OR_REFUSED, writes=OUT, timeout_s=45.0, listing=True
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def _bundled() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(inputs.BUNDLED.read_text(encoding="utf-8"))
    load = data["workloads"][0]["load"]
    load["path"] = str(inputs.BUNDLED.parent / load["path"])
    data["duration"] = "2h"
    return data


BASES = {"small": inputs.small_scenario(), "web-diurnal": _bundled()}

# keys a scenario may add (most are optional fields), and one it must not know
OPTIONAL_KEYS = ["tick", "record_every", "loop", "gaps", "idle_cpu", "gpu", "fuzz_extra"]
NASTY = [
    *(None, True, False, 0, -1, 2**31, 2**63, 10**30, -0.0, 1e-300, 1e300),
    *(float("inf"), float("-inf"), float("nan"), "", "x"),
    *("1e400", "-5m", "0s", "1ms", "1ns", "100y", "36500d", "500m", "1e400Gi", "-1Gi"),
    *("Utilization", "kubernetes", "vm", "service", "batch", "diurnal", ".inf", "NaN"),
]
scalars = st.one_of(
    st.sampled_from(NASTY),  # values that broke capsim before (issue 14), most of the time
    st.sampled_from(NASTY),
    st.sampled_from(NASTY),
    st.integers(min_value=-10, max_value=100),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.text(max_size=12),
)
values = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(st.text(max_size=6), scalars, max_size=3)
)


def _paths(data: Any) -> list[Path_]:
    found = {p for p, _ in leaves(data)} | {p for p, _ in containers(data)}
    return sorted((p for p in found if p), key=lambda p: [str(x) for x in p])


def _deleted(data: Any, path: Path_) -> Any:
    parent_path, key = path[:-1], path[-1]
    parent: Any = data
    for part in parent_path:
        parent = parent[part]
    shrunk: Any
    if isinstance(parent, dict):
        shrunk = {k: v for k, v in parent.items() if k != key}
    else:
        shrunk = [v for i, v in enumerate(parent) if i != key]
    return replaced(data, parent_path, shrunk)


def _added(data: Any, path: Path_, value: Any, key: str = "fuzz_extra") -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    if isinstance(node, dict):
        return replaced(data, path, {**node, key: value})
    if isinstance(node, list):
        return replaced(data, path, [*node, value])
    return replaced(data, path, value)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """(description, YAML text) of a scenario with one to three random mutations."""
    name = draw(st.sampled_from(sorted(BASES)))
    data: Any = BASES[name]
    done = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(data)
        if not paths:
            break
        scalar_paths = [p for p, _ in leaves(data) if p]
        path = draw(st.sampled_from(scalar_paths) | st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            data = _deleted(data, path)
            done.append(f"delete {path}")
        else:
            value = draw(values)
            if action == "add":
                path = draw(st.sampled_from([(), *paths]))
                data = _added(data, path, value, draw(st.sampled_from(OPTIONAL_KEYS)))
            else:
                data = replaced(data, path, value)
            done.append(f"{action} {path} = {value!r}")
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return f"{name}: " + "; ".join(done), text


def _run(text: str | bytes) -> harness.Outcome:
    def setup(space: harness.Workspace) -> None:
        space.write("s.yaml", text)

    return harness.execute(harness.Case(**{**CASE.__dict__, "setup": setup}))


@SETTINGS
@given(mutated())
def test_mutated_scenario_keeps_the_promise(example: tuple[str, str]) -> None:
    description, text = example
    outcome = _run(text)
    problems = harness.promise_problems(CASE, outcome)
    assert not problems, "\n".join([description, *problems, outcome.describe()])


@SETTINGS
@given(
    st.sampled_from(sorted(BASES)),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_flipped_bytes_keep_the_promise(name: str, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(yaml.safe_dump(BASES[name], sort_keys=False).encode())
    for position, byte in flips:
        raw[position % len(raw)] = byte
    outcome = _run(bytes(raw))
    problems = harness.promise_problems(CASE, outcome)
    assert not problems, "\n".join([f"{name} with bytes {flips}", *problems, outcome.describe()])
