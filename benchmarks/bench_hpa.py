"""Benchmark: HPA decisions per second, scalar vs vectorized.

Replays one day of 15 s HPA syncs (5,760 syncs) for N homogeneous deployments with a
synthetic diurnal CPU load, through ``resource_replicas_batch`` + ``reconcile_batch``
(one NumPy call per sync for all rows), and the same for a sample of rows through the
scalar ``resource_replicas`` + ``reconcile``, checking they decide the same.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_hpa.py [--configs N ...]``.
Prints one line per size; the figures are recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from capsim import hpa

SYNC_S = 15.0
DAY_S = 86_400.0
REQUEST_MILLI = 500


def _behaviors(n: int, rng: np.random.Generator) -> list[hpa.Behavior | None]:
    """A mix of legacy, default and custom behaviors, as a sweep would have."""
    presets: list[hpa.Behavior | None] = [
        None,
        hpa.Behavior.from_spec({}),
        hpa.Behavior.from_spec(
            {
                "scaleUp": {
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 30},
                        {"type": "Pods", "value": 4, "periodSeconds": 30},
                    ]
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 600,
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
                },
            }
        ),
    ]
    return [presets[int(i)] for i in rng.integers(0, len(presets), n)]


def _load_cores(t: float, phase: np.ndarray) -> np.ndarray:
    """Total CPU demand (millicores) per row: diurnal between 2 and 20 cores."""
    return 11_000 + 9_000 * np.sin(2 * math.pi * (t / DAY_S) + phase)


def run_batch(n: int, syncs: int, seed: int) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    behaviors = _behaviors(n, rng)
    params = hpa.BatchBehavior.from_behaviors(behaviors)
    history = hpa.BatchHistory.for_behavior(params, sync_period_s=SYNC_S)
    targets = rng.integers(40, 91, n)
    phase = rng.uniform(0, 2 * math.pi, n)
    current = np.full(n, 3, dtype=np.int64)
    trace = np.empty((syncs, n), dtype=np.int64)
    start = time.perf_counter()
    for step in range(syncs):
        now = step * SYNC_S
        usage = _load_cores(now, phase).astype(np.int64)
        proposal = hpa.resource_replicas_batch(
            current, current, 0, 0, usage, REQUEST_MILLI, target_utilization=targets
        )
        decision = hpa.reconcile_batch(
            current,
            proposal.replicas[:, None],
            proposal.ok[:, None],
            min_replicas=1,
            max_replicas=200,
            params=params,
            history=history,
            now=now,
        )
        current, history = decision.replicas, decision.history
        trace[step] = current
    return time.perf_counter() - start, trace


def run_scalar(rows: list[int], n: int, syncs: int, seed: int) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    behaviors = _behaviors(n, rng)
    targets = rng.integers(40, 91, n)
    phase = rng.uniform(0, 2 * math.pi, n)
    trace = np.empty((syncs, len(rows)), dtype=np.int64)
    start = time.perf_counter()
    for col, row in enumerate(rows):
        current, history = 3, hpa.HpaHistory()
        for step in range(syncs):
            now = step * SYNC_S
            usage = int(_load_cores(now, phase[row : row + 1])[0])
            pods = [
                hpa.PodInfo(
                    f"p{i}",
                    start_time=-3600.0,
                    ready_transition_time=-3000.0,
                    request_milli=REQUEST_MILLI,
                )
                for i in range(current)
            ]
            share = [usage // current + (1 if i < usage % current else 0) for i in range(current)]
            metrics = {f"p{i}": hpa.MetricSample(share[i], now, 30.0) for i in range(current)}
            proposal = hpa.resource_replicas(
                current, pods, metrics, target_utilization=int(targets[row]), now=now
            )
            decision = hpa.reconcile(
                current,
                [proposal.replicas],
                min_replicas=1,
                max_replicas=200,
                behavior=behaviors[row],
                history=history,
                now=now,
            )
            current, history = decision.replicas, decision.history
            trace[step, col] = current
    return time.perf_counter() - start, trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, nargs="+", default=[1, 100, 1_000, 10_000])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--scalar-rows", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    syncs = int(args.hours * 3600 / SYNC_S)
    print(f"{syncs} syncs ({args.hours:g} h at {SYNC_S:g} s) per configuration")
    for n in args.configs:
        seconds, _ = run_batch(n, syncs, args.seed)
        decisions = n * syncs
        print(
            f"vectorized  configs={n:>6}  {seconds:7.2f} s  "
            f"{decisions / seconds:>12,.0f} decisions/s  "
            f"{seconds / syncs * 1e3:6.3f} ms/sync"
        )
    rows = list(range(min(args.scalar_rows, max(args.configs))))
    n = max(args.configs)
    seconds, scalar_trace = run_scalar(rows, n, syncs, args.seed)
    _, batch_trace = run_batch(n, syncs, args.seed)
    same = np.array_equal(scalar_trace, batch_trace[:, rows])
    print(
        f"scalar      configs={len(rows):>6}  {seconds:7.2f} s  "
        f"{len(rows) * syncs / seconds:>12,.0f} decisions/s  "
        f"(same replicas as vectorized: {'yes' if same else 'NO'})"
    )
    if not same:
        raise SystemExit("scalar and vectorized paths disagree")


if __name__ == "__main__":
    main()
