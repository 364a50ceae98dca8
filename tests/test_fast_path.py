"""The batched fast path (capsim.fastpath.evaluate) against the engine it must equal.

The engine is the reference: for random HPA configurations, pod timings, metric
pipelines, service models and loads (including overloads that build a backlog and drop
requests), both must set the same replicas at every HPA sync, and report the same
metrics to floating-point rounding.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capsim
from capsim.analysis.metrics import desired_replicas_at, platform_cost_split, scale_reversals
from capsim.data import TRACES_DIR
from capsim.fastpath import FastPathError, evaluate_hpas, fast_path_limits, service_hpa
from capsim.results.run_result import RunResult
from capsim.results.summary import interval_lengths_s
from capsim.scenario import Scenario, parse_scenario


def _scenario(
    trace: Path,
    *,
    hpa: dict[str, Any],
    pod: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    tick_s: float = 15.0,
    min_nodes: int = 4,
    routing: str = "random",
) -> Scenario:
    data = {
        "name": "fast-path",
        "seed": 3,
        "tick": tick_s,
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "trace", "path": str(trace)},
                "cpu_ms_per_request": 40,
                "slo": {"p95_latency_ms": 150},
                **(service or {}),
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "pool",
                        "vcpu": "16",
                        "memory": "64Gi",
                        "price_per_hour": 0.77,
                        "min_nodes": min_nodes,
                        "max_nodes": 20,
                    }
                ],
                "metrics": metrics or {},
                "workloads": {
                    "web": {
                        "pod": {
                            "cpu_request": "500m",
                            "memory_request": "512Mi",
                            "container_start": "3s",
                            "readiness_delay": "12s",
                            **(pod or {}),
                        },
                        "hpa": hpa,
                        "routing": routing,
                    }
                },
            }
        },
    }
    duration = len(trace.read_text().splitlines()) - 1
    data["duration"] = duration * tick_s
    return parse_scenario(data, where="test", base_dir=Path("."))


def _cpu_hpa(*, min_replicas: int, max_replicas: int, target_pct: int) -> dict[str, Any]:
    """An HPA spec scaling on CPU utilization."""
    target = {"type": "Utilization", "averageUtilization": target_pct}
    return {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
    }


def _write_trace(folder: Path, rates: list[float], tick_s: float) -> Path:
    path = folder / "trace.csv"
    lines = ["timestamp,requests_per_s"]
    lines += [f"{i * tick_s:g},{rate!r}" for i, rate in enumerate(rates)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _engine_metrics(result: RunResult) -> dict[str, float]:
    summary = result.summary["platforms"]["k8s"]["workloads"]["web"]
    ts = result.timeseries.sort_values("time_s", kind="stable")
    dt = interval_lengths_s(ts["time_s"].to_numpy(np.float64))
    spec_max = int(
        result.summary["scenario_as_run"]["platforms"]["k8s"]["workloads"]["web"]["hpa"][
            "max_replicas"
        ]
    )
    reversals = scale_reversals(result.events)
    windows: dict[str, float] = {}
    if summary["slo"] is not None:  # the windowed latency objective (capsim.models.slo)
        latency = summary["slo"]["latency"]
        windows = {"slo_windows": latency["windows"], "slo_good_windows": latency["good_windows"]}
    return windows | {
        "slo_violation_pct": summary["slo_violation_time_pct"],
        "slo_violation_requests_pct": summary["slo_violation_requests_pct"],
        "dropped_pct": summary["dropped_pct"],
        "replicas_max": summary["replicas_max"],
        "scale_events": summary["scale_events"],
        "direction_reversals_per_hour": (int(reversals["reversals"].sum()) if len(reversals) else 0)
        / (result.summary["duration_s"] / 3600),
        "time_at_max_replicas_s": float(dt[ts["replicas_desired"].to_numpy() >= spec_max].sum()),
        "cpu_used_core_hours": summary["cpu_used_core_hours"],
        "workload_cost_usd": platform_cost_split(result, "k8s").workloads_usd["web"],
        "cost_usd": result.summary["platforms"]["k8s"]["cost_usd"],
        "latency_p95_ms": summary["latency_p95_ms"],
    }


def _assert_same(scenario: Scenario) -> None:
    result = capsim.run(scenario)
    fast = evaluate_hpas(
        scenario, "k8s", [service_hpa(scenario, "k8s")], trajectory=True, latency=True
    )
    assert fast.exact
    assert fast.trajectory is not None
    expected = desired_replicas_at(result, fast.sync_times_s)
    mismatch = np.flatnonzero(expected != fast.trajectory[0])
    assert mismatch.size == 0, (
        f"first differing sync at {fast.sync_times_s[mismatch[0]]} s: engine "
        f"{expected[mismatch[0]]}, fast path {fast.trajectory[0][mismatch[0]]}"
    )
    row = fast.metrics.iloc[0]
    for name, value in _engine_metrics(result).items():
        got = float(row[name])
        if math.isnan(value):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(value, rel=1e-7, abs=1e-9), name


behaviors = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "scaleUp": st.fixed_dictionaries(
                {
                    "stabilizationWindowSeconds": st.sampled_from([0, 30, 60, 120]),
                    "selectPolicy": st.sampled_from(["Max", "Min"]),
                    "policies": st.lists(
                        st.fixed_dictionaries(
                            {
                                "type": st.sampled_from(["Pods", "Percent"]),
                                "value": st.integers(1, 200),
                                "periodSeconds": st.sampled_from([15, 30, 60, 120]),
                            }
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                }
            ),
            "scaleDown": st.fixed_dictionaries(
                {
                    "stabilizationWindowSeconds": st.sampled_from([0, 60, 300, 600]),
                    "selectPolicy": st.sampled_from(["Max", "Min", "Disabled"]),
                    "policies": st.lists(
                        st.fixed_dictionaries(
                            {
                                "type": st.sampled_from(["Pods", "Percent"]),
                                "value": st.integers(1, 100),
                                "periodSeconds": st.sampled_from([15, 60, 120]),
                            }
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                }
            ),
        }
    ),
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    tick_s = draw(st.sampled_from([5.0, 15.0, 60.0]))
    ticks = int(draw(st.integers(2, 5)) * 3600 / tick_s)
    # A random walk of load with bursts: some overload a capped HPA (backlog, drops).
    level = draw(st.floats(5, 200))
    steps = draw(st.lists(st.floats(-0.3, 0.3), min_size=8, max_size=8))
    burst = draw(st.floats(1, 6))
    segment = max(1, ticks // len(steps))
    rates = []
    for i in range(ticks):
        level = max(0.5, level * (1 + steps[min(i // segment, len(steps) - 1)] / segment * 4))
        rates.append(level * (burst if (i // segment) % 5 == 3 else 1.0))
    utilization = draw(st.booleans())
    target = (
        {"type": "Utilization", "averageUtilization": draw(st.integers(20, 95))}
        if utilization
        else {"type": "AverageValue", "averageValue": f"{draw(st.integers(100, 900))}m"}
    )
    low = draw(st.integers(1, 4))
    hpa: dict[str, Any] = {
        "minReplicas": low,
        "maxReplicas": draw(st.integers(low, 40)),
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
    }
    behavior = draw(behaviors)
    if behavior is not None:
        if draw(st.booleans()):
            behavior["scaleUp"]["tolerance"] = draw(st.sampled_from(["0", "0.05", "0.2"]))
        hpa["behavior"] = behavior
    return {
        "rates": rates,
        "tick_s": tick_s,
        "hpa": hpa,
        "pod": {
            "container_start": f"{draw(st.integers(0, 20))}s",
            "readiness_delay": f"{draw(st.integers(0, 45))}s",
            "cpu_request": draw(st.sampled_from(["250m", "500m", "1"])),
            "cpu_limit": draw(st.sampled_from([None, "2"])),
        },
        "metrics": {
            "metric_resolution": draw(st.sampled_from(["15s", "30s", "60s"])),
            "sync_period": draw(st.sampled_from(["10s", "15s", "30s"])),
            "cpu_initialization_period": draw(st.sampled_from(["0s", "60s", "300s"])),
            "initial_readiness_delay": draw(st.sampled_from(["0s", "30s"])),
        },
        "service": {
            "concurrency": draw(st.integers(1, 3)),
            "timeout_s": draw(st.sampled_from([0.5, 2.0, 30.0])),
            "idle_cpu_millicores": draw(st.sampled_from([0, 20])),
            "queue_limit": draw(st.sampled_from([None, 0, 5, 50])),
            "arrivals": {"dispersion_index": draw(st.sampled_from([1.0, 4.0]))},
        },
        "routing": draw(
            st.sampled_from(
                ["random", "round_robin", "least_request", "join_shortest_queue", "pooled"]
            )
        ),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_path_equals_engine(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        trace = _write_trace(Path(folder), case["rates"], case["tick_s"])
        pod = {k: v for k, v in case["pod"].items() if v is not None}
        scenario = _scenario(
            trace,
            hpa=case["hpa"],
            pod=pod,
            metrics=case["metrics"],
            service=case["service"],
            tick_s=case["tick_s"],
            min_nodes=8,
            routing=case["routing"],
        )
        assert fast_path_limits(scenario, "k8s") == []
        _assert_same(scenario)


def test_fast_path_equals_engine_on_the_nasa_trace(tmp_path: Path) -> None:
    """Two days of the NASA trace (×40) under the bundled passing HPA's behavior."""
    source = TRACES_DIR / "nasa_http_1995-07_per_minute.csv"
    lines = source.read_text().splitlines()[1 : 2 * 1440 + 1]
    rates = [40 * float(line.split(",")[1]) for line in lines]
    trace = _write_trace(tmp_path, rates, 60.0)
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 120},
        "scaleDown": {
            "stabilizationWindowSeconds": 900,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
        },
    }
    hpa = {
        **_cpu_hpa(min_replicas=2, max_replicas=30, target_pct=60),
        "behavior": behavior,
    }
    _assert_same(_scenario(trace, hpa=hpa, tick_s=60.0))


def test_outside_the_domain_it_says_why_and_can_approximate(tmp_path: Path) -> None:
    trace = _write_trace(tmp_path, [50.0] * 240, 15.0)
    hpa = {
        **_cpu_hpa(min_replicas=1, max_replicas=50, target_pct=50),
    }
    pod = {"readiness_delay": {"distribution": "lognormal", "median": "10s", "p99": "30s"}}
    scenario = _scenario(trace, hpa=hpa, pod=pod, min_nodes=1)
    limits = fast_path_limits(scenario, "k8s")
    assert any("readiness_delay is random (lognormal)" in reason for reason in limits)
    pool = scenario.platforms["k8s"].node_pools[0]  # type: ignore[union-attr]
    room = min(pool.allocatable_cpu_millicores // 500, pool.allocatable_memory_bytes // 2**29)
    assert any(f"hold {room} pods, fewer than maxReplicas 50" in r for r in limits)
    spec = service_hpa(scenario, "k8s")
    with pytest.raises(FastPathError, match="readiness_delay is random"):
        evaluate_hpas(scenario, "k8s", [spec])
    approx = evaluate_hpas(scenario, "k8s", [spec], approximate=True)
    assert not approx.exact
    assert "mean delays" in approx.approximations[0]
    # 50 req/s × 40 ms = 2 cores: 8 pods of 500m at 50 %, steady load: no scaling at all.
    assert approx.metrics["replicas_max"].iloc[0] == 8
    assert approx.metrics["scale_events"].iloc[0] == 0


def test_configurations_are_independent(tmp_path: Path) -> None:
    """A configuration's result does not depend on which others share the sweep."""
    rates = [20.0 + 80.0 * (math.sin(i / 40) ** 2) for i in range(1440)]
    trace = _write_trace(tmp_path, rates, 15.0)
    base = {
        **_cpu_hpa(min_replicas=1, max_replicas=30, target_pct=60),
    }
    scenario = _scenario(trace, hpa=base)
    spec = service_hpa(scenario, "k8s")
    specs = [spec.model_copy(update={"max_replicas": m}) for m in (5, 10, 30)]
    together = evaluate_hpas(scenario, "k8s", specs, trajectory=True)
    alone = evaluate_hpas(scenario, "k8s", specs[1:2], trajectory=True)
    assert together.trajectory is not None
    assert alone.trajectory is not None
    np.testing.assert_array_equal(together.trajectory[1], alone.trajectory[0])
    assert together.metrics.iloc[1].equals(alone.metrics.iloc[0])
    # A lower ceiling never gives more replicas, and caps them.
    assert (together.trajectory[0] <= 5).all()
    assert together.metrics["replicas_max"].is_monotonic_increasing
