"""An interceptor holding requests while no replica is ready (scale from zero).

Hand-computed bookkeeping of :class:`capsim.engine.interceptor.HeldRequests`, and the
engine's behaviour against what the KEDA HTTP add-on does: without an interceptor a
service at zero replicas refuses every request, so a queue-length trigger never sees a
queue and the service never scales up; with one, the held requests are the queue KEDA
sees, the service scales from zero, nothing is refused, and the first requests wait
until the first pod is Ready."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import capsim
from capsim.engine.interceptor import HeldRequests, TickIndex
from capsim.scenario import ScenarioError
from capsim.scenario.schema import parse_scenario


def test_held_requests_arrive_give_up_and_wait_where_hand_computed() -> None:
    """Ticks [0,1), [1,2), [2,3); sent at 0.5 and 1.5, held 1.2 s at most: they give up
    at 1.7 (tick 1) and 2.7 (tick 2). Held time per tick: 0.5; 0.7 + 0.5; 0.7. Held at
    the tick ends: 1, 1, 0."""
    held = HeldRequests(1.2, None, 1)
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    feed, adjust = held.block(edges, np.array([0.5, 1.5]), np.array([[7.0], [8.0]]), ready=0)
    assert feed.times.size == 0
    assert adjust["arrived"].tolist() == [1, 1, 0]
    assert adjust["abandoned"].tolist() == [0, 1, 1]
    assert np.allclose(adjust["held_s"], [0.5, 1.2, 0.7])
    assert adjust["held_end"].tolist() == [1, 1, 0]
    assert held.count == 0


def test_held_requests_go_in_at_the_first_ready_instant_with_their_send_time() -> None:
    held = HeldRequests(10.0, None, 1)
    edges0 = np.array([0.0, 1.0, 2.0])
    held.block(edges0, np.array([0.25, 1.75]), np.array([[1.0], [2.0]]), ready=0)
    edges1 = np.array([2.0, 3.0])
    feed, adjust = held.block(edges1, np.array([2.5]), np.array([[3.0]]), ready=1)
    assert feed.times.tolist() == [2.0, 2.0, 2.5]
    assert feed.origins.tolist() == [0.25, 1.75, 2.5]
    assert feed.payload[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert feed.dispatched == 2
    counts = np.array([[3, 0, 0]])  # the core counted the three as arriving in tick 0
    integrals, in_system = np.zeros((1, 2)), np.zeros(1, dtype=np.int64)
    index = TickIndex(arrived=0, abandoned=1, dropped=2, in_system=0, queued=1)
    HeldRequests.apply(adjust, feed.dispatched, counts, integrals, in_system, index)
    assert counts.tolist() == [[1, 0, 0]]  # the held two arrived when sent, earlier


def test_max_pending_drops_what_finds_the_interceptor_full() -> None:
    held = HeldRequests(1.0, 2, 1)
    edges = np.array([0.0, 1.0, 2.0])
    times = np.array([0.1, 0.2, 0.3, 1.15, 1.2])
    _, adjust = held.block(edges, times, np.zeros((5, 1)), ready=0)
    # 0.1 and 0.2 held, 0.3 dropped; 0.1 leaves at 1.1, 0.2 at 1.2 (at 1.2 there is room)
    assert adjust["dropped"].tolist() == [1, 0]
    assert adjust["abandoned"].tolist() == [0, 2]
    assert held.count == 2


def _scenario(interceptor: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "pod": {
            "cpu_request": "1",
            "memory_request": "1Gi",
            "readiness_delay": {"distribution": "constant", "value": "60s"},
        },
        "keda": {
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "minReplicaCount": 0,
            "maxReplicaCount": 10,
            "triggers": [
                {
                    "type": "prometheus",
                    "name": "waiting",
                    "metadata": {
                        "serverAddress": "http://p:9090",
                        "query": "q",
                        "threshold": "5",
                        "activationThreshold": "1",
                    },
                }
            ],
        },
        "keda_metrics": {"waiting": "queue_length"},
    }
    if interceptor is not None:
        config["interceptor"] = interceptor
    return {
        "name": "icp",
        "seed": 5,
        "duration": "40m",
        "service_model": "exact",
        "workloads": [
            {
                "kind": "service",
                "name": "api",
                "load": {"type": "step", "before": 0, "after": 5, "at": "10m"},
                "cpu_ms_per_request": 100,
                "concurrency": 4,
                "timeout": "300s",
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "pool",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "price_per_hour": 0.4,
                        "min_nodes": 1,
                        "max_nodes": 5,
                    }
                ],
                "workloads": {"api": config},
            }
        },
    }


def _run(data: dict[str, Any], tmp_path: Path) -> Any:
    return capsim.run(parse_scenario(data, where="s.yaml", base_dir=tmp_path))


def test_without_an_interceptor_a_queue_trigger_never_wakes_the_service(tmp_path: Path) -> None:
    result = _run(_scenario(None), tmp_path)
    api = result.summary["platforms"]["k8s"]["workloads"]["api"]
    assert api["requests_arrived"] > 0
    assert api["requests_dropped"] == api["requests_arrived"]  # refused: nothing queues
    assert (result.timeseries["replicas_ready"] == 0).all()


def test_with_an_interceptor_the_service_scales_from_zero_and_refuses_nothing(
    tmp_path: Path,
) -> None:
    result = _run(_scenario({"timeout": "240s"}), tmp_path)
    api = result.summary["platforms"]["k8s"]["workloads"]["api"]
    assert api["requests_dropped"] == 0
    assert api["requests_abandoned"] == 0
    arrived = api["requests_arrived"]
    done = api["requests_served"] + api["requests_in_system_at_end"]
    assert done == pytest.approx(arrived)
    events = result.events
    ready = events[(events["kind"] == "pod_ready")]["time_s"].min()
    # the first request was sent just after 600 s and waited for the first Ready pod
    assert 600.0 < ready < 600.0 + 15.0 + 5.0 + 60.0 + 15.0
    first_wait = ready - 600.0
    assert api["latency_p99_ms"] / 1000.0 <= first_wait + 5.0
    assert api["latency_p99_ms"] / 1000.0 >= 0.5 * first_wait


def test_requests_held_longer_than_the_interceptor_timeout_give_up(tmp_path: Path) -> None:
    result = _run(_scenario({"timeout": "20s"}), tmp_path)
    api = result.summary["platforms"]["k8s"]["workloads"]["api"]
    assert api["requests_abandoned"] > 0  # the first pod is Ready after more than 60 s
    # nothing refused outright: every failure is a request that gave up (the summary's
    # dropped requests count the abandoned ones too)
    assert api["requests_dropped"] == api["requests_abandoned"]
    assert api["latency_p99_ms"] <= 20_000.0 + 5_000.0


def test_an_interceptor_needs_the_per_request_model_and_a_timeout_within_the_clients(
    tmp_path: Path,
) -> None:
    expected = _scenario({"timeout": "20s"})
    expected["service_model"] = "expected"
    with pytest.raises(ScenarioError, match="interceptor: held requests are simulated one by one"):
        parse_scenario(expected, where="s.yaml", base_dir=tmp_path)
    too_long = copy.deepcopy(_scenario({"timeout": "400s"}))
    with pytest.raises(ScenarioError, match=r"interceptor\.timeout: at most the client's timeout"):
        parse_scenario(too_long, where="s.yaml", base_dir=tmp_path)


def test_deploy_emit_says_the_interceptor_is_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What was simulated needs an interceptor in the cluster: the emitted manifests say
    so (capsim does not write the add-on's route)."""
    from capsim.cli import main as cli

    code = cli.main(
        ["deploy", "emit", "llm-bursty", "--platform", "keda-queue", "--out", str(tmp_path / "m")]
    )
    assert code == 0
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert "simulated with an interceptor holding requests while no pod is ready" in said
    assert "up to 120 s" in said
