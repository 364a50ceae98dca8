"""Batch jobs in the engine: hand-worked small cases on Kubernetes and on VMs, the cluster
autoscaler serving a gang job, and invariants over random job mixes.

Every delay is constant, so each figure below is worked by hand in the comments.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from engine_helpers import run_mapping
from hypothesis import given, settings
from hypothesis import strategies as st

import capsim
from capsim.data import SCENARIOS_DIR
from capsim.engine.batch import JobRun
from capsim.engine.kubernetes import KubernetesSim
from capsim.scenario import KubernetesPlatform, ScenarioError
from capsim.scenario.inputs import prepare_inputs

PRICE = 0.36  # $/h: 0.0001 $/s


def batch_scenario(gang: bool, platforms: dict[str, Any] | None = None) -> dict[str, Any]:
    """Two nodes of 4 cores (nothing reserved). ``solo``: one 3-core worker submitted at
    0 for 150 s. ``pair``: two 3-core workers submitted at 10 for 100 s each, as a gang
    or not. Containers start in 5 s; VMs boot in 30 s."""
    worker = {"cpu": 3, "memory": "1Gi"}
    return {
        "name": "jobs",
        "duration": "1000s",
        "tick": "10s",
        "record_every": "50s",
        "workloads": [
            {
                "kind": "batch",
                "name": "solo",
                "arrivals": {"times": ["0s"]},
                **worker,
                "duration": "150s",
            },
            {
                "kind": "batch",
                "name": "pair",
                "arrivals": {"times": ["10s"]},
                "workers": 2,
                **worker,
                "duration": "100s",
                "gang": gang,
            },
        ],
        "platforms": platforms
        or {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "p",
                        "vcpu": 4,
                        "memory": "16Gi",
                        "reserved": {"cpu": 0, "memory": 0},
                        "price_per_hour": PRICE,
                        "min_nodes": 2,
                        "max_nodes": 2,
                    }
                ],
                "cluster_autoscaler": {"enabled": False},
                "workloads": {
                    name: {
                        "pod": {
                            "cpu_request": 3,
                            "memory_request": "1Gi",
                            "container_start": "5s",
                        }
                    }
                    for name in ("solo", "pair")
                },
            },
            "vm": {
                "kind": "vm",
                "instance": {"vcpu": 4, "memory": "16Gi", "price_per_hour": PRICE, "boot": "30s"},
                "workloads": {"solo": {}, "pair": {}},
            },
        },
    }


def job(result: capsim.RunResult, platform: str, workload: str) -> pd.Series:
    jobs = result.jobs
    rows = jobs[(jobs["platform"] == platform) & (jobs["workload"] == workload)]
    assert len(rows) == 1
    return rows.iloc[0]


def series(result: capsim.RunResult, platform: str, workload: str, column: str) -> pd.Series:
    ts = result.timeseries
    rows = ts[(ts["platform"] == platform) & (ts["workload"] == workload)]
    return rows.set_index("time_s")[column]


def test_gang_job_waits_for_room_for_all_its_workers(tmp_path: Path) -> None:
    # solo: placed at 0 on node 0 (3 of 4 cores), computing 5 → 155.
    # pair (gang) at 10: node 1 has room for one worker, node 0 for none, so neither is
    # placed. At 155 solo's pod goes; both workers are placed, run at 160, end at 260.
    result = run_mapping(tmp_path, batch_scenario(gang=True))
    solo, pair = job(result, "k8s", "solo"), job(result, "k8s", "pair")
    assert (solo.submit_s, solo.start_s, solo.end_s, solo.workers) == (0, 5, 155, 1)
    assert (pair.submit_s, pair.start_s, pair.end_s, pair.workers) == (10, 160, 260, 2)

    # Interval means over 50 s rows (ending at the time shown), by hand:
    # pair computes 6 cores over 160..260; it holds 6 requested cores from 155 to 260.
    used = series(result, "k8s", "pair", "cpu_used_cores")
    assert used[150] == 0
    assert used[200] == pytest.approx(6 * 40 / 50)
    assert used[250] == pytest.approx(6)
    assert used[300] == pytest.approx(6 * 10 / 50)
    requested = series(result, "k8s", "pair", "cpu_requested_cores")
    assert requested[150] == 0
    assert requested[200] == pytest.approx(6 * 45 / 50)
    # solo computes 3 cores over 5..155.
    solo_used = series(result, "k8s", "solo", "cpu_used_cores")
    assert solo_used[50] == pytest.approx(3 * 45 / 50)
    assert solo_used[200] == pytest.approx(0.3)
    # Queue levels at row instants; ready = workers computing.
    queued = series(result, "k8s", "pair", "jobs_queued")
    assert list(queued[[50, 100, 150, 200, 300]]) == [1, 1, 1, 0, 0]
    running = series(result, "k8s", "pair", "jobs_running")
    assert list(running[[150, 200, 250, 300]]) == [0, 1, 1, 0]
    assert list(series(result, "k8s", "pair", "replicas_ready")[[150, 200, 300]]) == [0, 2, 0]

    summary = result.summary["platforms"]["k8s"]
    assert summary["workloads"]["pair"]["wait_p50_s"] == 150
    assert summary["workloads"]["pair"]["completion_p50_s"] == 250
    assert summary["workloads"]["solo"]["jobs_completed"] == 1
    # While computing, a worker uses all its 3 requested cores (no limit: capped at the
    # request): 6 × 100 core-s over 6 × 105 held (5 s of container start).
    assert summary["workloads"]["pair"]["utilization_pct"] == pytest.approx(100 * 100 / 105)
    assert summary["cost_usd"] == pytest.approx(2 * 1000 * PRICE / 3600)
    # Platform level, of the 2 × 4 vCPUs bought for 1000 s: used 3 × 150 + 6 × 100 core-s;
    # requested (pods bound) 3 × 155 + 6 × 105 core-s.
    assert set(series(result, "k8s", "solo", "platform_cpu_cores")) == {8.0}
    assert summary["cpu_utilization_pct"] == pytest.approx(100 * 1050 / 8000)
    assert summary["cpu_allocation_pct"] == pytest.approx(100 * 1095 / 8000)
    kinds = result.events[result.events["platform"] == "k8s"]["kind"].tolist()
    assert kinds.count("job_start") == 2
    assert kinds.count("job_end") == 2


def test_jobs_without_gang_start_workers_as_room_appears(tmp_path: Path) -> None:
    # pair at 10: worker 0 goes to node 1 (the freer node), computes 15 → 115; worker 1
    # fits nowhere until worker 0's pod goes at 115, then computes 120 → 220.
    result = run_mapping(tmp_path, batch_scenario(gang=False))
    pair = job(result, "k8s", "pair")
    assert (pair.start_s, pair.end_s) == (15, 220)
    used = series(result, "k8s", "pair", "cpu_used_cores")
    assert used[50] == pytest.approx(3 * 35 / 50)  # one worker, 15..50
    assert used[150] == pytest.approx(3 * (15 + 30) / 50)  # 100..115 and 120..150


def test_higher_priority_jobs_are_placed_first(tmp_path: Path) -> None:
    # hog (gang of two 3-core workers) holds both nodes from 0, computing 5 → 105.
    # low (priority 0) comes at 10, high (priority 5) at 20, both gangs of two: at 105
    # high takes both nodes (computing 110 → 210), then low (215 → 315).
    data = batch_scenario(gang=True)
    del data["platforms"]["vm"]
    gang = {"kind": "batch", "workers": 2, "cpu": 3, "memory": "1Gi", "gang": True}
    data["workloads"] = [
        gang | {"name": "hog", "arrivals": {"times": ["0s"]}, "duration": "100s"},
        gang | {"name": "low", "arrivals": {"times": ["10s"]}, "duration": "100s"},
        gang | {"name": "high", "arrivals": {"times": ["20s"]}, "duration": "100s", "priority": 5},
    ]
    pod = data["platforms"]["k8s"]["workloads"]["solo"]
    data["platforms"]["k8s"]["workloads"] = {"hog": pod, "low": pod, "high": pod}
    result = run_mapping(tmp_path, data)
    assert (job(result, "k8s", "high").start_s, job(result, "k8s", "high").end_s) == (110, 210)
    assert (job(result, "k8s", "low").start_s, job(result, "k8s", "low").end_s) == (215, 315)


@pytest.mark.parametrize("gang", [True, False])
def test_on_vms_every_worker_gets_its_own_vm(tmp_path: Path, gang: bool) -> None:
    # No queue: each worker's VM is requested at submission and boots in 30 s.
    # solo computes 30 → 180; pair 40 → 140. Billing: 180 s + 2 × 130 s at 0.0001 $/s.
    result = run_mapping(tmp_path, batch_scenario(gang))
    solo, pair = job(result, "vm", "solo"), job(result, "vm", "pair")
    assert (solo.start_s, solo.end_s) == (30, 180)
    assert (pair.start_s, pair.end_s) == (40, 140)
    summary = result.summary["platforms"]["vm"]
    assert summary["cost_usd"] == pytest.approx((180 + 2 * 130) * PRICE / 3600)
    # 4-vCPU VMs for 180 + 2 × 130 s; in service 150 + 2 × 100 s; used as on Kubernetes.
    assert summary["cpu_utilization_pct"] == pytest.approx(100 * 1050 / (4 * 440))
    assert summary["cpu_allocation_pct"] == pytest.approx(100 * 4 * 350 / (4 * 440))
    # First 50 s: solo's VM all along, pair's two from 10 s.
    assert series(result, "vm", "solo", "platform_cpu_cores")[50] == pytest.approx(520 / 50)
    assert summary["workloads"]["pair"]["wait_p50_s"] == 30
    assert list(series(result, "vm", "pair", "nodes")[[50, 100, 150]]) == [2, 2, 0]
    # A VM leaves 4 × 0.98 − 0.1 = 3.82 cores to the app; the worker uses 3 of them.
    capacity = series(result, "vm", "pair", "cpu_capacity_cores")
    assert capacity[100] == pytest.approx(2 * 3.82)


def test_the_cluster_autoscaler_grows_for_a_gang_and_shrinks_after(tmp_path: Path) -> None:
    # Three 3-core workers need three 4-core nodes; the pool has one. Submitted at 5, the
    # scan at 10 requests two nodes, ready at 70 (constant 60 s): the gang is placed at
    # 70 and computes 75 → 375. All nodes are empty from the scan at 380; after 600 s
    # unneeded (and > 600 s after the scale-up) the two newest go at 980.
    data = batch_scenario(gang=True)
    del data["platforms"]["vm"]
    data["duration"] = "1200s"
    data["workloads"] = [
        {
            "kind": "batch",
            "name": "train",
            "arrivals": {"times": ["5s"]},
            "workers": 3,
            "cpu": 3,
            "memory": "1Gi",
            "duration": "300s",
            "gang": True,
        }
    ]
    k8s = data["platforms"]["k8s"]
    k8s["node_pools"][0] |= {"min_nodes": 1, "max_nodes": 5, "provision": "60s"}
    k8s["cluster_autoscaler"] = {}
    k8s["workloads"] = {"train": {"pod": {"cpu_request": 3, "memory_request": "1Gi"}}}
    k8s["workloads"]["train"]["pod"]["container_start"] = "5s"
    result = run_mapping(tmp_path, data)
    train = job(result, "k8s", "train")
    assert (train.start_s, train.end_s) == (75, 375)
    events = result.events
    assert events[events["kind"] == "node_requested"]["time_s"].tolist() == [10, 10]
    assert events[events["kind"] == "node_removed"]["time_s"].tolist() == [980, 980]
    nodes = series(result, "k8s", "train", "nodes")
    assert (nodes[50], nodes[400], nodes[1000]) == (3, 3, 1)


def test_poisson_jobs_are_the_same_on_every_platform(tmp_path: Path) -> None:
    data = batch_scenario(gang=False)
    data["duration"] = "2h"
    data["workloads"][1]["arrivals"] = {"poisson_per_hour": 30}
    result = run_mapping(tmp_path, data)
    jobs = result.jobs[result.jobs["workload"] == "pair"]
    k8s, vm = (jobs[jobs["platform"] == p] for p in ("k8s", "vm"))
    assert len(k8s) > 30
    assert list(k8s["submit_s"]) == list(vm["submit_s"])
    assert list(k8s["job"]) == [f"pair-{i}" for i in range(len(k8s))]
    # The rate is right in law: 30/h over 2 h has mean 60, sd √60 ≈ 7.7.
    assert abs(len(k8s) - 60) < 4 * math.sqrt(60)
    # On VMs nothing queues: every job waits exactly its boot.
    assert (vm["start_s"] - vm["submit_s"]).tolist() == pytest.approx([30.0] * len(vm))
    # Two nodes of one 3-core worker each: the queue is an M/D/2 with 2-worker jobs, so
    # Kubernetes waits are at least the 5 s container start, and some jobs queue.
    waits = (k8s["start_s"] - k8s["submit_s"]).dropna()
    assert waits.min() >= 5
    assert waits.max() > 5


# --- invariants over random job mixes ---------------------------------------------------


class Probe:
    """Watches a KubernetesSim: worker placements per job, and node capacity."""

    def __init__(self, sim: KubernetesSim) -> None:
        self.sim = sim
        self.placed: dict[str, list[float]] = {}
        original = sim.batch_jobs.worker_placed

        def watched(run: JobRun, cpu_requested: float, cpu_capacity: float) -> None:
            original(run, cpu_requested, cpu_capacity)
            self.placed.setdefault(run.spec.name, []).append(sim.env.now)
            for node in sim.cluster.nodes.nodes:
                free = node.free()
                assert min(free) >= 0, f"node {node.id} over-committed: {free}"

        sim.batch_jobs.worker_placed = watched  # type: ignore[method-assign]


@settings(max_examples=25)
@given(
    workers=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    gang=st.lists(st.booleans(), min_size=3, max_size=3),
    cpu=st.lists(st.sampled_from(["500m", "1", "1500m", "3"]), min_size=3, max_size=3),
    rate=st.floats(5, 60),
    seed=st.integers(0, 2**16),
)
def test_gang_jobs_never_start_partially_and_nodes_never_overcommit(
    tmp_path_factory: pytest.TempPathFactory,
    workers: list[int],
    gang: list[bool],
    cpu: list[str],
    rate: float,
    seed: int,
) -> None:
    names = [f"b{i}" for i in range(len(workers))]
    data = batch_scenario(gang=True)
    data |= {"duration": "3h", "seed": seed}
    del data["platforms"]["vm"]
    data["workloads"] = [
        {
            "kind": "batch",
            "name": name,
            "arrivals": {"poisson_per_hour": rate},
            "workers": n,
            "cpu": c,
            "memory": "1Gi",
            "duration": {"distribution": "exponential", "mean": "10m"},
            "gang": g,
            "priority": i % 2,
        }
        for i, (name, n, g, c) in enumerate(zip(names, workers, gang, cpu, strict=False))
    ]
    k8s = data["platforms"]["k8s"]
    k8s["node_pools"][0] |= {"min_nodes": 0, "max_nodes": 4}
    k8s["cluster_autoscaler"] = {}
    k8s["workloads"] = {name: {} for name in names}
    path = tmp_path_factory.mktemp("batch") / "jobs.yaml"
    path.write_text(yaml.safe_dump(data))
    scenario = capsim.load_scenario(path)
    inputs = prepare_inputs(scenario)
    platform = scenario.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    sim = KubernetesSim(
        "k8s", platform, inputs, np.random.default_rng(inputs.platform_seeds["k8s"])
    )
    probe = Probe(sim)
    sim.run()

    for run in sim.batch_jobs.job_runs:
        spec = run.spec
        times = probe.placed.get(spec.name, [])
        assert len(times) == run.placed <= spec.workers
        if spec.gang:
            assert len(times) in (0, spec.workers)
            assert len(set(times)) <= 1
        if run.start_s is not None:
            assert run.start_s >= spec.submit_s
        if run.end_s is not None:
            assert run.start_s is not None
            assert run.end_s >= run.start_s + max(spec.work_s) - 1e-9
    # Nothing is left on the nodes but the pods of unfinished jobs.
    unfinished = sum(r.placed - r.done for r in sim.batch_jobs.job_runs)
    assert sum(len(node.pods) for node in sim.cluster.nodes.nodes) == unfinished
    # Worker and job counters never go below zero.
    assert (sim.batch_jobs.workers >= 0).all()
    assert (sim.batch_jobs.jobs >= 0).all()


# --- bad batch configurations -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["platforms"]["k8s"]["workloads"]["pair"].update(replicas=2),
            r"platforms\.k8s\.workloads\.pair: replicas does not apply to a batch workload",
        ),
        (
            lambda d: d["platforms"]["vm"]["workloads"]["pair"].update(instances=2),
            r"platforms\.vm\.workloads\.pair: autoscaling, instances and per_vm do not apply",
        ),
        (
            lambda d: d["workloads"][1].update(workers=3),
            r"platforms\.k8s\.workloads\.pair: a gang job of 3 workers can never start: the "
            r"node pools hold at most 2 of its pods",
        ),
        (
            lambda d: d["workloads"][1].update(cpu=4),
            r"platforms\.vm\.workloads\.pair: a worker \(4000m cpu.*does not fit the VM vm "
            r"\(3820m cpu",
        ),
        (
            lambda d: d["workloads"][1].update(arrivals={"times": ["20s", "10s"]}),
            r"workloads\[1\]\.arrivals: .*times must be in increasing order",
        ),
    ],
)
def test_bad_batch_configurations_are_named(tmp_path: Path, change: Any, message: str) -> None:
    data = batch_scenario(gang=True)
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=message):
        capsim.load_scenario(path)


def test_a_vm_workload_can_size_its_own_instance(tmp_path: Path) -> None:
    data = batch_scenario(gang=False)
    data["workloads"][1]["cpu"] = 6
    big = {"name": "big", "vcpu": 8, "memory": "32Gi", "price_per_hour": 2 * PRICE, "boot": "30s"}
    data["platforms"]["vm"]["workloads"]["pair"] = {"instance": big}
    del data["platforms"]["k8s"]
    result = run_mapping(tmp_path, data)
    pair = job(result, "vm", "pair")
    assert (pair.start_s, pair.end_s) == (40, 140)
    # solo: 180 s at PRICE; pair: two big VMs of 130 s at twice the price.
    cost = result.summary["platforms"]["vm"]["cost_usd"]
    assert cost == pytest.approx((180 + 2 * 2 * 130) * PRICE / 3600)


def mixed_day() -> dict[str, Any]:
    """A service under an HPA sharing the nodes with Poisson gang jobs (and on VMs)."""
    data = batch_scenario(gang=True)
    data |= {"duration": "3h", "seed": 5}
    data["workloads"][1]["arrivals"] = {"poisson_per_hour": 6}
    data["workloads"].append(
        {
            "kind": "service",
            "name": "web",
            "cpu_ms_per_request": 20,
            "load": {"type": "diurnal", "base": 20, "peak": 150, "period": "3h", "poisson": True},
        }
    )
    k8s = data["platforms"]["k8s"]
    k8s["node_pools"][0] |= {"min_nodes": 1, "max_nodes": 8}
    k8s["cluster_autoscaler"] = {}
    k8s["workloads"]["web"] = {
        "pod": {"cpu_request": "500m", "memory_request": "256Mi"},
        "hpa": {
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    data["platforms"]["vm"]["workloads"]["web"] = {
        "autoscaling": {"target_pct": 50, "min": 1, "max": 10}
    }
    return data


def test_mixed_runs_are_byte_identical_for_a_seed(tmp_path: Path) -> None:
    first = run_mapping(tmp_path, mixed_day())
    second = run_mapping(tmp_path, mixed_day())
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = run_mapping(tmp_path, mixed_day(), seed=6)
    assert list(other.jobs["submit_s"]) != list(first.jobs["submit_s"])
    loaded = capsim.RunResult.load(tmp_path / "a")
    pd.testing.assert_frame_equal(loaded.jobs, first.jobs)
    # The service kept serving while jobs came and went, and the jobs all finished.
    web = first.summary["platforms"]["k8s"]["workloads"]["web"]
    assert web["requests_served"] > 0.99 * web["requests_arrived"]
    jobs = first.summary["platforms"]["k8s"]["workloads"]["pair"]
    assert jobs["jobs_submitted"] - jobs["jobs_completed"] <= 2


def test_the_bundled_training_scenario_tells_what_the_readme_says() -> None:
    result = capsim.run(capsim.load_scenario(SCENARIOS_DIR / "web-and-training.yaml"))
    k8s = result.summary["platforms"]["kubernetes"]["workloads"]
    vm = result.summary["platforms"]["vm"]["workloads"]
    # Training: nodes and a 4 GiB pull (~82 s at 50 MiB/s) versus a ~35 s median boot.
    assert 100 < k8s["train"]["wait_p50_s"] < 200
    assert 30 < vm["train"]["wait_p50_s"] < 80
    # ETL: starts in seconds on the cluster; 500m workers fill a quarter of a 2-vCPU VM.
    assert k8s["etl"]["wait_p50_s"] < 2
    assert 20 < vm["etl"]["utilization_pct"] < 30
    assert k8s["etl"]["jobs_submitted"] == vm["etl"]["jobs_submitted"]
    assert k8s["web"]["slo_violation_time_pct"] < 1


def test_submit_times_from_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "submits.csv").write_text("submit_s,user\n10,ana\n")
    data = batch_scenario(gang=True)
    data["workloads"][1]["arrivals"] = {"path": "submits.csv"}
    listed = run_mapping(tmp_path, batch_scenario(gang=True))
    from_file = run_mapping(tmp_path, data)
    pd.testing.assert_frame_equal(listed.jobs, from_file.jobs)
    assert (job(from_file, "k8s", "pair").start_s, job(from_file, "k8s", "pair").end_s) == (
        160,
        260,
    )


@pytest.mark.parametrize(
    ("text", "arrivals", "message"),
    [
        (None, {"path": "nope.csv"}, r"arrivals\.path: file not found: nope\.csv"),
        ("t\n1\n", {"path": "s.csv"}, r"arrivals\.path: s\.csv: no column 'submit_s'"),
        (
            "submit_s\n5\n3\n",
            {"path": "s.csv"},
            r"s\.csv: column 'submit_s', line 3: submit times must be in increasing order",
        ),
        (
            "at\n5\nsoon\n",
            {"path": "s.csv", "column": "at"},
            r"column 'at', line 3: submit time must be seconds from 0 to 1e\+09, got 'soon'",
        ),
        ("submit_s\n1\n", {"path": "s.csv", "times": ["1s"]}, r"give exactly one of"),
    ],
)
def test_bad_submit_files_are_named(
    tmp_path: Path, text: str | None, arrivals: dict[str, Any], message: str
) -> None:
    if text is not None:
        (tmp_path / "s.csv").write_text(text)
    data = batch_scenario(gang=True)
    data["workloads"][1]["arrivals"] = arrivals
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=message):
        capsim.load_scenario(path)


def test_pod_lifecycle_events_follow_the_hand_timeline(tmp_path: Path) -> None:
    # The gang case: pair's pods are scheduled at 155, start at 160, deleted at 260.
    result = run_mapping(tmp_path, batch_scenario(gang=True))
    events = result.events
    pods = events[(events["platform"] == "k8s") & (events["workload"] == "pair")]
    times = {kind: rows["time_s"].tolist() for kind, rows in pods.groupby("kind")}
    assert times["pod_scheduled"] == [155, 155]
    assert times["pod_started"] == [160, 160]
    assert times["pod_deleted"] == [260, 260]
    assert "pod_ready" not in times  # batch workers have no readiness


def test_gpu_utilization_of_what_was_bought(tmp_path: Path) -> None:
    # The gang case with one GPU per worker, node and VM. GPU-seconds used: solo 150 and
    # pair 2 × 100. Bought: Kubernetes 2 nodes × 1000 s; VMs 180 + 2 × 130 s (boot included).
    data = batch_scenario(gang=True)
    for workload in data["workloads"]:
        workload["gpu"] = 1
    k8s = data["platforms"]["k8s"]
    k8s["node_pools"][0]["gpu"] = 1
    for config in k8s["workloads"].values():
        config["pod"]["gpu"] = 1
    data["platforms"]["vm"]["instance"]["gpu"] = 1
    result = run_mapping(tmp_path, data)
    k8s_summary = result.summary["platforms"]["k8s"]
    vm_summary = result.summary["platforms"]["vm"]
    assert k8s_summary["gpu_utilization_pct"] == pytest.approx(100 * 350 / 2000)
    assert vm_summary["gpu_utilization_pct"] == pytest.approx(100 * 350 / 440)
    assert k8s_summary["workloads"]["pair"]["gpu_used_hours"] == pytest.approx(200 / 3600)
    assert series(result, "k8s", "pair", "gpu_used")[250] == pytest.approx(2.0)
    assert set(series(result, "k8s", "pair", "platform_gpus")) == {2.0}
    # The report draws it: at 250 s both workers of pair compute on the 2 GPUs (100 %).
    from capsim.report.figures import figures

    drawn = figures(result)
    assert "gpu_utilization" in drawn
    (line,) = [ln for ln in drawn["gpu_utilization"].axes[0].lines if ln.get_label() == "k8s"]
    assert 100.0 in set(np.asarray(line.get_ydata(), dtype=float))
    assert "gpu_utilization" not in figures(run_mapping(tmp_path, batch_scenario(gang=True)))
    # Without GPUs there is nothing to use: no figure rather than 0 %.
    plain = run_mapping(tmp_path, batch_scenario(gang=True))
    assert plain.summary["platforms"]["k8s"]["gpu_utilization_pct"] is None  # NaN in JSON
