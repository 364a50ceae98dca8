"""Benchmark: 1,000 HPA configurations × the whole NASA July 1995 trace (27.6 days) at
the 15-s HPA sync period, through the batched fast path (``capsim.fastpath.evaluate``).

Goals (issue "Validate and recommend"): **≤ 10 s wall** on the 2-core machine, and
**≥ 100×** faster than evaluating the same configurations one engine run at a time. The
engine side is measured on a sample of the configurations and extrapolated; the sample
also checks that both give the same replicas at every sync.

Issue "Fast" adds a floor: a **bare compiled loop of a simplified HPA over the same
arrays** (:func:`bare_loop`: the same instants, flags and per-tick rates, the same
configurations' targets and bounds, one configuration per iteration of the same kind of
parallel loop), measured in the same run. Its HPA is the textbook one: utilization from
the tick's demand over the current replicas, the tolerance band, the legacy 5-minute
maximum of the recommendations (a monotone deque, as the kernel keeps it), min/max,
replicas applied at once; no pods, no service model, no behavior policies, no metrics.
The printed ratio is fast path / bare loop (goal ≤ 2×).

Run: ``.venv/bin/python benchmarks/sweep_nasa_1000.py [--configs 1000] [--engine-sample 4]``;
figures go to ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

import capsim
from capsim.analysis.metrics import desired_replicas_at
from capsim.data import TRACES_DIR
from capsim.fastpath import evaluate_hpas, service_hpa
from capsim.fastpath.kernel import RECORD, SYNC
from capsim.models.schedule import Periodic
from capsim.scenario import KubernetesPlatform, ServiceWorkload, parse_scenario
from capsim.scenario.inputs import prepare_inputs
from capsim.scenario.manifests import HpaTemplate

ROOT = Path(__file__).resolve().parents[1]
TRACE = TRACES_DIR / "nasa_http_1995-07_per_minute.csv"
DURATION_S = 27 * 86_400 + 13 * 3_600 + 32 * 60  # the trace's whole span: 27d13h32m

BEHAVIORS: list[dict[str, Any] | None] = [
    None,
    {},  # the API defaults
    {"scaleUp": {"stabilizationWindowSeconds": 120}},
    {
        "scaleDown": {
            "stabilizationWindowSeconds": 900,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
        }
    },
    {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [
                {"type": "Percent", "value": 200, "periodSeconds": 15},
                {"type": "Pods", "value": 10, "periodSeconds": 15},
            ],
        }
    },
    {"scaleDown": {"stabilizationWindowSeconds": 60}},
    {"scaleUp": {"tolerance": "0.05"}, "scaleDown": {"tolerance": "0.2"}},
    {"scaleDown": {"selectPolicy": "Disabled"}},
]


def scenario() -> capsim.Scenario:
    hpa = {
        "minReplicas": 2,
        "maxReplicas": 40,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ],
    }
    data = {
        "name": "nasa-sweep",
        "seed": 1995,
        "duration": DURATION_S,
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "cpu_ms_per_request": 40,
                "concurrency": 4,
                "timeout": "10s",
                "slo": {"p95_latency_ms": 400},
                "load": {"type": "trace", "path": str(TRACE), "scale": 150, "gaps": "hold"},
            }
        ],
        "platforms": {
            "kubernetes": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "general",
                        "vcpu": 16,
                        "memory": "64Gi",
                        "price_per_hour": 0.776,
                        "min_nodes": 6,
                        "max_nodes": 12,
                    }
                ],
                "workloads": {
                    "web": {
                        "pod": {
                            "cpu_request": "1",
                            "cpu_limit": 2,
                            "memory_request": "512Mi",
                            "container_start": "3s",
                            "readiness_delay": "15s",
                        },
                        "hpa": hpa,
                    }
                },
            }
        },
    }
    return parse_scenario(data, where="benchmark", base_dir=ROOT)


def configurations(base: HpaTemplate, count: int) -> list[HpaTemplate]:
    """Targets 30–95 %, minReplicas 1–3, maxReplicas 20–80 and eight behaviors."""
    grid = itertools.product(
        BEHAVIORS, range(30, 100, 5), (1, 2, 3), (20, 40, 60, 80)
    )  # 8 × 14 × 3 × 4 = 1,344 combinations
    specs = []
    for behavior, target, low, high in itertools.islice(grid, count):
        data = base.model_dump(by_alias=True, exclude_none=True, mode="json")
        data["metrics"][0]["resource"]["target"]["averageUtilization"] = target
        data["minReplicas"], data["maxReplicas"] = low, high
        data.pop("behavior", None)
        if behavior is not None:
            data["behavior"] = behavior
        specs.append(HpaTemplate.model_validate(data))
    return specs


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _bare_loop(
    times: FloatArray,
    flags: IntArray,
    rates: FloatArray,
    tick_s: float,
    cpu_s: float,
    request_m: float,
    targets: IntArray,
    lows: IntArray,
    highs: IntArray,
    window: int,
    out: FloatArray,
) -> None:
    """The simplified HPA of every configuration over the schedule (see the docstring);
    ``out[c]`` gets the sum of replicas at the record instants."""
    for c in numba.prange(targets.shape[0]):
        # the legacy window's maximum: a monotone deque of (sync, recommendation)
        at = np.zeros(64, dtype=np.int64)
        value = np.zeros(64, dtype=np.int64)
        head = tail = 0
        replicas = lows[c]
        per_pod_m = request_m * targets[c] / 100.0
        sync = 0
        total = 0.0
        for i in range(times.shape[0]):
            if flags[i] & SYNC:
                k = min(int(times[i] / tick_s), rates.shape[0] - 1)
                used_m = rates[k] * cpu_s * 1000.0 / replicas
                ratio = used_m / per_pod_m
                desired = replicas
                if ratio < 0.9 or ratio > 1.1:
                    desired = int(np.ceil(ratio * replicas))
                while head < tail and at[head & 63] <= sync - window:
                    head += 1
                while tail > head and value[(tail - 1) & 63] <= desired:
                    tail -= 1
                at[tail & 63] = sync
                value[tail & 63] = desired
                tail += 1
                sync += 1
                replicas = min(max(value[head & 63], lows[c]), highs[c])
            if flags[i] & RECORD:
                total += replicas
        out[c] = total


bare_loop: Any = numba.njit(parallel=True, cache=True)(_bare_loop)


def bare_inputs(base: capsim.Scenario, specs: list[HpaTemplate]) -> tuple[Any, ...]:
    """The arrays the fast path steps (instants, flags, per-tick rates) and the
    configurations' targets and bounds, for :func:`bare_loop`."""
    platform = base.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    inputs = prepare_inputs(base, None)
    metrics = platform.metrics
    periods = [
        ("record", inputs.record_every_s),
        ("scrape", metrics.metric_resolution_s),
        ("sync", metrics.sync_period_s),
    ]
    times, masks = Periodic(periods, base.duration_s).instants()
    flags = (np.where(masks & 1, RECORD, 0) | np.where(masks & 4, SYNC, 0)).astype(np.int64)
    service = base.workloads[0]
    assert isinstance(service, ServiceWorkload)
    targets = np.array([_target(spec) for spec in specs], dtype=np.int64)
    lows = np.array([spec.min_replicas for spec in specs], dtype=np.int64)
    highs = np.array([spec.max_replicas for spec in specs], dtype=np.int64)
    window = round(metrics.downscale_stabilization_s / metrics.sync_period_s)
    rates = np.ascontiguousarray(inputs.arrival_rates["web"], dtype=np.float64)
    cpu_s = service.cpu_ms_per_request / 1000.0
    return times, flags, rates, float(inputs.tick_s), cpu_s, 1000.0, targets, lows, highs, window


def _target(spec: HpaTemplate) -> int:
    resource = spec.metrics[0].resource
    assert resource is not None
    assert resource.target.average_utilization is not None
    return resource.target.average_utilization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--engine-sample", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = scenario()
    specs = configurations(service_hpa(base, "kubernetes"), args.configs)

    started = time.perf_counter()
    evaluate_hpas(base, "kubernetes", specs[:2])  # compiles the kernel, or loads it from the cache
    warmup = time.perf_counter() - started

    arrays = bare_inputs(base, specs)
    floor_out = np.zeros(len(specs))
    bare_loop(*arrays[:6], arrays[6][:2], arrays[7][:2], arrays[8][:2], arrays[9], floor_out[:2])
    fast_s, bare_s = [], []
    for _ in range(args.repeat):  # the two sides in turn
        started = time.perf_counter()
        result = evaluate_hpas(base, "kubernetes", specs, trajectory=False)
        fast_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        bare_loop(*arrays, floor_out)
        bare_s.append(time.perf_counter() - started)
    fast, bare = statistics.median(fast_s), statistics.median(bare_s)
    syncs = len(result.sync_times_s)

    sample = [specs[i] for i in np.linspace(0, len(specs) - 1, args.engine_sample).astype(int)]
    checked = evaluate_hpas(base, "kubernetes", sample, trajectory=True)
    engine_s = []
    for index, spec in enumerate(sample):
        platform = base.platforms["kubernetes"]
        workloads = {"web": platform.workloads["web"].model_copy(update={"hpa": spec})}
        one = base.model_copy(
            update={
                "platforms": {"kubernetes": platform.model_copy(update={"workloads": workloads})}
            }
        )
        started = time.perf_counter()
        run = capsim.run(one)
        engine_s.append(time.perf_counter() - started)
        assert checked.trajectory is not None
        expected = desired_replicas_at(run, checked.sync_times_s)
        same = bool((expected == checked.trajectory[index]).all())
        print(f"engine run {index + 1}: {engine_s[-1]:.1f} s, same replicas at every sync: {same}")
        assert same, "the fast path and the engine disagree"
    per_engine = float(np.mean(engine_s))
    engine_total = per_engine * len(specs)
    print(f"configurations: {len(specs)}; HPA syncs each: {syncs:,}; ticks each: 39,692")
    print(f"kernel compile or cache load (first call): {warmup:.1f} s")
    print(
        f"fast path: {fast:.2f} s wall, median of {args.repeat} (min {min(fast_s):.2f}, "
        f"max {max(fast_s):.2f}) (goal ≤ 10 s: {'met' if fast <= 10 else 'NOT met'})"
    )
    print(f"  {len(specs) * syncs / fast / 1e6:.1f} million configuration-syncs per second")
    print(
        f"bare compiled loop of a simplified HPA, same arrays: {bare:.2f} s wall, median "
        f"(min {min(bare_s):.2f}, max {max(bare_s):.2f})"
    )
    ratio = fast / bare
    print(f"fast path / bare loop: {ratio:.1f}× (goal ≤ 2×: {'met' if ratio <= 2 else 'NOT met'})")
    print(
        f"engine: {per_engine:.1f} s per configuration (mean of {len(engine_s)}), "
        f"{engine_total / 60:.0f} min for all {len(specs)} one at a time"
    )
    speedup = engine_total / fast
    print(f"speed-up: {speedup:,.0f}× (goal ≥ 100×: {'met' if speedup >= 100 else 'NOT met'})")
    passed = result.metrics[result.metrics["slo_violation_pct"] <= 1.0]
    if len(passed):
        best = passed["workload_cost_usd"].idxmin()
        print(
            f"{len(passed)} configurations keep p95 ≤ 400 ms 99 % of the time; the cheapest "
            f"costs ${passed['workload_cost_usd'].min():,.2f} (configuration {best})"
        )


if __name__ == "__main__":
    main()
