"""Run-size limits: a run that would allocate gigabytes (or recurse without end) is refused
before anything is allocated, exit 2, one line naming the field, the size and the limit
(:mod:`capsim.scenario.limits`).

The cases that would allocate on a build without the limits run in a subprocess under a
memory cap and a timeout, so such a build fails the test instead of the machine.
"""

from __future__ import annotations

import copy
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from capsim.scenario import ScenarioError, parse_scenario
from capsim.scenario import limits as limits_module
from capsim.scenario.load import WorkloadError, parse_load_spec

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

BASE: dict[str, Any] = {
    "name": "limits",
    "duration": "2m",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "constant", "rate": 10},
            "cpu_ms_per_request": 25,
        }
    ],
    "platforms": {
        "k8s": {
            "kind": "kubernetes",
            "node_pools": [
                {
                    "name": "general",
                    "vcpu": 4,
                    "memory": "16Gi",
                    "price_per_hour": 0.2,
                    "max_nodes": 5,
                }
            ],
            "workloads": {
                "web": {"pod": {"cpu_request": "1", "memory_request": "1Gi"}, "replicas": 2}
            },
        }
    },
}


def scenario(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def _cap_memory() -> None:  # pragma: no cover - runs in the child
    cap = 3 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def capsim_run(tmp_path: Path, data: dict[str, Any]) -> tuple[int, str]:
    """``capsim run`` on ``data`` in a child under a 3 GiB cap and a 120 s timeout."""
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        done = subprocess.run(
            [PYTHON, "-m", "capsim", "run", str(path), "--out", str(tmp_path / "out"), "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=_cap_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("capsim run did not refuse the run: still running after 120 s")
    return done.returncode, done.stderr


def services(count: int) -> Callable[[dict[str, Any]], object]:
    def change(data: dict[str, Any]) -> None:
        web = data["workloads"][0]
        config = data["platforms"]["k8s"]["workloads"]["web"]
        data["workloads"] = [{**web, "name": f"w{i}"} for i in range(count)]
        data["platforms"]["k8s"]["workloads"] = {f"w{i}": config for i in range(count)}

    return change


def nested_sums(depth: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "constant", "rate": 1}
    for _ in range(depth):
        spec = {"type": "sum", "parts": [spec]}
    return spec


# (id, change, fragments the one stderr line must hold)
ALLOCATING: list[tuple[str, Callable[[dict[str, Any]], object], list[str]]] = [
    (
        "ten years at a 1 s tick",
        lambda d: d.update(duration="3650d", tick="1s"),
        ["tick: 3650d at a 1 s tick is 3.15e+08 ticks", "limit of 100,000,000"],
    ),
    (
        "ticks x services x platforms",
        lambda d: (services(30)(d), d.update(duration="8d", tick="1s")),
        ["tick: 691,200 ticks of 1 s × 30 services × 1 platforms", "limit of 20,000,000"],
    ),
    (
        "record_every 1ms",
        lambda d: d.update(duration="1h", tick="1ms", record_every="1ms"),
        ["record_every: 0.001s over 1h is 3,600,000 rows per platform", "limit of 500,000"],
    ),
    (
        "concurrency 1e18 (the Erlang C loop)",
        lambda d: d["workloads"][0].update(concurrency=10**18),
        ["workloads[0].concurrency", "less than or equal to 1000"],
    ),
    (
        "replicas 1e12",
        lambda d: d["platforms"]["k8s"]["workloads"]["web"].update(replicas=10**12),
        ["platforms.k8s.workloads.web.replicas", "less than or equal to 150000"],
    ),
    (
        "batch poisson 1e6 per hour x 100 workers",
        lambda d: (
            d.update(
                workloads=[
                    *d["workloads"],
                    {
                        "kind": "batch",
                        "name": "jobs",
                        "arrivals": {"poisson_per_hour": 1e6},
                        "workers": 100,
                        "cpu": "1",
                        "memory": "1Gi",
                        "duration": "1m",
                    },
                ],
                duration="24h",
            )
            or d["platforms"]["k8s"]["workloads"].update(jobs={})
        ),
        ["workloads[1].arrivals: 24,000,000 jobs × 100 workers", "limit of 1,000,000"],
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "fragments"), ALLOCATING, ids=[c[0] for c in ALLOCATING]
)
def test_a_run_too_big_is_refused_before_allocating(
    tmp_path: Path, case: str, change: Callable[[dict[str, Any]], object], fragments: list[str]
) -> None:
    code, err = capsim_run(tmp_path, scenario(change))
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"capsim: error: {tmp_path / 'scenario.yaml'}: "), err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "out").exists()


def test_a_trace_spanning_1e10_steps_is_refused_before_its_grid(tmp_path: Path) -> None:
    """Three rows spanning 1e10 s at a 1 s step would be a 75 GiB replay grid."""
    (tmp_path / "t.csv").write_text("timestamp,requests_per_s\n0,1\n1,2\n10000000000,3\n")
    data = scenario(
        lambda d: d["workloads"][0].update(load={"type": "trace", "path": "t.csv", "loop": True})
    )
    code, err = capsim_run(tmp_path, data)
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "t.csv: timestamp: spans" in err
    assert "(1e+10 steps), more than the limit of 50,000,000" in err


def test_a_trace_file_beyond_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    trace = tmp_path / "huge.csv"
    with trace.open("wb") as file:  # sparse: no disk used
        file.write(b"timestamp,requests_per_s\n0,1\n60,2\n")
        file.truncate(limits_module.MAX_TRACE_BYTES + 1)
    data = scenario(lambda d: d["workloads"][0].update(load={"type": "trace", "path": "huge.csv"}))
    code, err = capsim_run(tmp_path, data)
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "huge.csv: 536,870,913 bytes, more than the limit of 536,870,912 (512 MiB)" in err


# --- refused while parsing (no run needed) ---------------------------------------------

PARSED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "more than 1,000 workloads",
        services(1001),
        "workloads: Tuple should have at most 1000 items after validation, not 1001",
    ),
    (
        "max_nodes 1e12",
        lambda d: d["platforms"]["k8s"]["node_pools"][0].update(max_nodes=10**12),
        "platforms.k8s.node_pools[0].max_nodes: Input should be less than or equal to 5000",
    ),
    (
        "pools adding up beyond 5,000 nodes",
        lambda d: d["platforms"]["k8s"]["node_pools"].extend(
            {**d["platforms"]["k8s"]["node_pools"][0], "name": f"p{i}", "max_nodes": 3000}
            for i in range(2)
        ),
        "platforms.k8s: node_pools: max_nodes add up to 6,005 nodes, more than the limit of "
        "5,000 per platform",
    ),
    (
        "hpa maxReplicas 200,000",
        lambda d: d["platforms"]["k8s"]["workloads"]["web"].update(
            replicas=None, hpa={"minReplicas": 1, "maxReplicas": 200_000}
        ),
        "platforms.k8s.workloads.web.hpa.maxReplicas: 200,000 replicas, more than the limit of "
        "150,000 per workload",
    ),
    (
        "replicas of all workloads beyond 150,000",
        lambda d: (
            services(2)(d),
            [c.update(replicas=100_000) for c in d["platforms"]["k8s"]["workloads"].values()],
        ),
        "platforms.k8s.workloads: up to 200,000 replicas in all, more than the limit of 150,000",
    ),
    (
        "vm group beyond 150,000 app instances",
        lambda d: d["platforms"].update(
            vm={
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "8Gi", "price_per_hour": 0.1},
                "workloads": {"web": {"instances": 5000, "per_vm": 100}},
            }
        ),
        "platforms.vm.workloads.web.per_vm: 500,000 replicas, more than the limit of 150,000",
    ),
    (
        "sums nested 40 deep",
        lambda d: d["workloads"][0].update(load=nested_sums(40)),
        "workloads[0].load: sums and products nested 40 deep, more than the limit of 32",
    ),
    (
        "lists nested 100,000 deep",
        lambda d: d.update(description=_nested_lists(100_000)),
        "description[0][0][0]",
    ),
]


def _nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(("case", "change", "message"), PARSED, ids=[c[0] for c in PARSED])
def test_limits_are_checked_when_the_scenario_is_parsed(
    case: str, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = scenario(change)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, where="s.yaml", base_dir=Path("."))
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("s.yaml: ")
    assert message in text, text


def test_the_recorded_rows_limit_itself() -> None:
    """Beyond 5,000,000 rows: 3 platforms × 400 workloads × 5,000 instants is 6,000,000."""
    data = scenario(services(400))
    data.update(duration="5000m", tick="60s")
    for name in ("a", "b"):
        data["platforms"][name] = copy.deepcopy(data["platforms"]["k8s"])
    with pytest.raises(
        ScenarioError,
        match=r"record_every: 5,000 rows × 400 workloads × 3 "
        r"platforms is 6,000,000 time-series rows, more than the limit of "
        r"5,000,000",
    ):
        parse_scenario(data, where="s.yaml", base_dir=Path("."))


def test_a_load_spec_nested_deep_is_one_error_not_a_recursion() -> None:
    with pytest.raises(WorkloadError, match=r"^load: sums and products nested 33 deep"):
        parse_load_spec(nested_sums(33))
    with pytest.raises(WorkloadError, match=r"^load(\.parts\[0\])+.*nested more than 100 deep"):
        parse_load_spec(nested_sums(5_000))


def test_trace_rows_beyond_the_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row limit (20 million) at a size a test can write: the same check, limit 3."""
    from capsim.scenario.load import traces

    monkeypatch.setattr(traces, "MAX_TRACE_ROWS", 3)
    (tmp_path / "t.csv").write_text("timestamp,requests_per_s\n0,1\n60,1\n120,1\n180,1\n")
    data = scenario(lambda d: d["workloads"][0].update(load={"type": "trace", "path": "t.csv"}))
    with pytest.raises(ScenarioError, match=r"t.csv: more than the limit of 3 rows"):
        parse_scenario(data, where="s.yaml", base_dir=tmp_path)


def test_every_limit_is_documented_with_its_value() -> None:
    """The module docstring (the README's list) names every limit."""
    doc = limits_module.__doc__ or ""
    names = [n for n in limits_module.__all__ if n.isupper() and not n.startswith("MIN_")]
    assert len(names) >= 25
    for name in names:
        short = name.removesuffix("_MAX").removesuffix("_MIN")
        assert f"``{short}``" in doc or f"``{name}``" in doc, name


def test_the_bundled_scenarios_fit_the_limits() -> None:
    """Positive control: every bundled scenario, and the NASA month at a 1 s tick on two
    platforms, are within every limit."""
    import capsim
    from capsim.data import bundled_scenarios
    from capsim.scenario.grid import run_grid

    for bundled in bundled_scenarios():
        loaded = capsim.load_scenario(bundled.name)
        assert run_grid(loaded, bundled.name).n_ticks > 0
    month = scenario(lambda d: d.update(duration="27d13h", tick="1s"))
    month["platforms"]["k8s2"] = copy.deepcopy(month["platforms"]["k8s"])
    grid = run_grid(parse_scenario(month, where="m", base_dir=Path(".")), "m")
    assert grid.n_ticks == 27 * 86400 + 13 * 3600
