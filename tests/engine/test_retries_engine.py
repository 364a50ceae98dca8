"""Client retries in the engine (capsim.models.retries wired into the service bank):
conservation of attempts on every run, and a retry storm against a per-request
simulation (``tests/reference/retries_sim.py``), never against capsim's formulas."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import run_mapping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference.retries_sim import simulate

RETRIES = {"max": 3, "backoff": "1s", "multiplier": 2, "max_backoff": "10s"}


def storm(retries: dict[str, Any] | None) -> dict[str, Any]:
    """One replica of 3 slots on 3 cores (an M/M/3 of 30 req/s), 20 req/s with a spike to
    45 req/s decaying over a minute, a 2 s client timeout."""
    service: dict[str, Any] = {
        "kind": "service",
        "name": "api",
        "cpu_ms_per_request": 100,
        "concurrency": 3,
        "timeout": "2s",
        "load": {"type": "spike", "base": 20, "start": 60, "height": 25, "decay": 60},
    }
    if retries is not None:
        service["retries"] = retries
    return {
        "name": "storm",
        "seed": 1,
        "duration": "6m",
        "tick": "1s",
        "record_every": "1s",
        "workloads": [service],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "price_per_hour": 1.0,
                        "min_nodes": 1,
                        "max_nodes": 1,
                    }
                ],
                "workloads": {
                    "api": {
                        "replicas": 1,
                        "routing": "pooled",
                        "pod": {"cpu_request": 3, "cpu_limit": 3, "memory_request": "1Gi"},
                    }
                },
            }
        },
    }


def test_attempts_are_conserved_and_retries_add_load(tmp_path: Path) -> None:
    """fresh + retried + in system at start = served + dropped + in system at end; every
    request that failed finally was a dropped attempt; retries make the storm worse."""
    plain = run_mapping(tmp_path, storm(None))
    retried = run_mapping(tmp_path, storm(RETRIES))
    for result in (plain, retried):
        rows = result.timeseries
        web = result.summary["platforms"]["k8s"]["workloads"]["api"]
        arrived = float(rows.arrival_rate.sum())
        again = float(rows.retry_rate.sum())
        assert again == pytest.approx(web["requests_retried"], rel=1e-9, abs=1e-9)
        settled = float(rows.served_rate.sum() + rows.dropped_rate.sum())
        start, end = web["requests_in_system_at_start"], web["requests_in_system_at_end"]
        assert arrived + again + start == pytest.approx(settled + end, rel=1e-9)
        assert web["requests_failed_after_retries"] <= web["requests_dropped"] * (1 + 1e-9)
    base = plain.summary["platforms"]["k8s"]["workloads"]["api"]
    storm_ = retried.summary["platforms"]["k8s"]["workloads"]["api"]
    assert base["requests_retried"] == 0.0
    # without retries every failed attempt is a failed request (none pending at the end)
    assert base["requests_failed_after_retries"] == pytest.approx(
        base["requests_dropped"], rel=1e-9
    )
    assert storm_["requests_retried"] > 0.2 * base["requests_dropped"]
    assert storm_["requests_dropped"] > base["requests_dropped"]
    assert storm_["requests_failed_after_retries"] < base["requests_dropped"]


def test_retry_storm_against_a_per_request_simulation(tmp_path: Path) -> None:
    """The same storm, request by request (30 replications): retries sent, requests that
    failed after their last retry, and attempts served agree within the simulation's 95 %
    interval plus 5 %."""
    result = run_mapping(tmp_path, storm(RETRIES))
    rows = result.timeseries
    fresh = [float(x) for x in rows.arrival_rate]
    runs = [
        simulate(
            fresh,
            [3] * len(fresh),
            dt_s=1.0,
            service_mean_s=0.1,
            timeout_s=2.0,
            max_retries=3,
            backoff_s=1.0,
            multiplier=2.0,
            max_backoff_s=10.0,
            rng=np.random.default_rng(7000 + i),
        )
        for i in range(30)
    ]
    web = result.summary["platforms"]["k8s"]["workloads"]["api"]
    capsim_totals = {
        "retries": web["requests_retried"],
        "failed_finally": web["requests_failed_after_retries"],
        "served": web["requests_served"],
    }
    for name, got in capsim_totals.items():
        totals = np.array([getattr(r, name).sum() for r in runs])
        mean = float(totals.mean())
        half = 1.96 * float(totals.std(ddof=1)) / math.sqrt(len(totals))
        assert abs(got - mean) <= half + 0.05 * mean, (name, got, mean, half)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.floats(1.0, 80.0),
    height=st.floats(0.0, 120.0),
    replicas=st.integers(0, 3),
    routing=st.sampled_from(
        ["random", "round_robin", "least_request", "join_shortest_queue", "pooled"]
    ),
    retries=st.sampled_from([None, RETRIES, {"max": 1, "backoff": "100ms"}]),
    queue_limit=st.sampled_from([None, 0, 3, 50]),
    dispersion=st.sampled_from([0.5, 1.0, 4.0]),
    timeout=st.sampled_from(["500ms", "2s", "30s"]),
    tick=st.sampled_from(["1s", "5s"]),
)
def test_every_knob_conserves_requests(
    rate: float,
    height: float,
    replicas: int,
    routing: str,
    retries: dict[str, Any] | None,
    queue_limit: int | None,
    dispersion: float,
    timeout: str,
    tick: str,
) -> None:
    """Any mix of routing, retries, queue limit, burstiness, timeout and tick (replicas
    from 0, a spike of load): fresh + retried + in system at start = served + dropped +
    in system at end, every rate non-negative, and latency only where requests were
    served."""
    data = storm(retries)
    service = data["workloads"][0]
    service["load"] = {"type": "spike", "base": rate, "start": 60, "height": height, "decay": 30}
    service["timeout"] = timeout
    service["arrivals"] = {"dispersion_index": dispersion}
    if queue_limit is not None:
        service["queue_limit"] = queue_limit
    data["tick"] = tick
    data["record_every"] = tick
    data["duration"] = "4m"
    platform = data["platforms"]["k8s"]["workloads"]["api"]
    platform["replicas"] = replicas
    platform["routing"] = routing
    with tempfile.TemporaryDirectory() as folder:
        result = run_mapping(Path(folder), data)
    rows = result.timeseries
    web = result.summary["platforms"]["k8s"]["workloads"]["api"]
    dt = float(rows.time_s.iloc[0])
    arrived = float(rows.arrival_rate.sum()) * dt
    again = float(rows.retry_rate.sum()) * dt
    settled = float(rows.served_rate.sum() + rows.dropped_rate.sum()) * dt
    start, end = web["requests_in_system_at_start"], web["requests_in_system_at_end"]
    assert arrived + again + start == pytest.approx(settled + end, rel=1e-9, abs=1e-6)
    for column in ("served_rate", "dropped_rate", "retry_rate", "failed_rate", "in_system"):
        assert (rows[column] >= -1e-9).all(), column
    served = rows.served_rate > 0
    assert rows.latency_p95_ms[served].notna().all()
    assert rows.latency_p95_ms[~served].isna().all()
