"""Where pods may run (taints, tolerations, node selectors, required node affinity) and
which pool the cluster autoscaler grows (its expanders).

References: upstream's rules as written in ``k8s.io/api`` ``Toleration.ToleratesTaint``,
``component-helpers`` ``nodeaffinity`` (cases below written from those rules, not from
capsim's code), and cluster-autoscaler's ``expander/waste`` and ``expander/price``
formulas, evaluated by hand in each test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import capsim
from capsim.cli.main import main
from capsim.models.expanders import ScaleUpOption, choose_option, pod_price_per_hour
from capsim.models.packing import PodRequest, PoolLimits, plan_scale_up
from capsim.models.placement import (
    AffinityTerm,
    NodeShape,
    PodPlacement,
    Requirement,
    Taint,
    Toleration,
    eligible_pools,
    tolerates,
)

GiB = 2**30

# --- tolerations -------------------------------------------------------------------------

GPU = Taint("nvidia.com/gpu", "present", "NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (Toleration("nvidia.com/gpu", "Equal", "present", "NoSchedule"), GPU, True),
        (Toleration("nvidia.com/gpu", "Equal", "absent", "NoSchedule"), GPU, False),
        (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"), GPU, True),
        (Toleration("nvidia.com/gpu", "Exists", "", ""), GPU, True),  # no effect: every one
        (Toleration("nvidia.com/gpu", "Exists", "", "NoExecute"), GPU, False),
        (Toleration("", "Exists", "", ""), GPU, True),  # empty key + Exists: everything
        (Toleration("", "Exists", "", "NoExecute"), GPU, False),
        (Toleration("dedicated", "Exists", "", ""), GPU, False),
        (
            Toleration("nvidia.com/gpu", "Equal", "", ""),
            Taint("nvidia.com/gpu", "", "NoSchedule"),
            True,
        ),
    ],
)
def test_tolerations_follow_upstream(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


# --- node affinity and selectors ---------------------------------------------------------

LABELS = {"zone": "a", "cores": "16", "gpu-type": "l4"}


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (Requirement("zone", "In", ("a", "b")), True),
        (Requirement("zone", "In", ("b",)), False),
        (Requirement("rack", "In", ("a",)), False),  # In needs the label
        (Requirement("zone", "NotIn", ("b",)), True),
        (Requirement("zone", "NotIn", ("a",)), False),
        (Requirement("rack", "NotIn", ("a",)), True),  # absent: NotIn holds
        (Requirement("zone", "Exists"), True),
        (Requirement("rack", "Exists"), False),
        (Requirement("rack", "DoesNotExist"), True),
        (Requirement("cores", "Gt", ("8",)), True),
        (Requirement("cores", "Gt", ("16",)), False),
        (Requirement("cores", "Lt", ("32",)), True),
        (Requirement("zone", "Gt", ("1",)), False),  # not an integer: no match
        (Requirement("rack", "Lt", ("1",)), False),  # absent: no match
    ],
)
def test_affinity_operators(requirement: Requirement, expected: bool) -> None:
    pod = PodPlacement(affinity=(AffinityTerm((requirement,)),))
    shape = NodeShape("pool", LABELS, ())
    assert (eligible_pools(pod, [shape]) == {"pool"}) is expected


def test_terms_are_ored_expressions_anded_and_the_selector_must_also_hold() -> None:
    shape = NodeShape("pool", LABELS, ())
    both = AffinityTerm(
        (Requirement("zone", "In", ("a",)), Requirement("gpu-type", "In", ("a100",)))
    )
    assert not eligible_pools(PodPlacement(affinity=(both,)), [shape])  # AND within a term
    either = (both, AffinityTerm((Requirement("cores", "Gt", ("4",)),)))
    assert eligible_pools(PodPlacement(affinity=either), [shape]) == {"pool"}  # OR of terms
    selector = PodPlacement(node_selector={"zone": "b"}, affinity=either)
    assert not eligible_pools(selector, [shape])  # the selector holds as well
    assert eligible_pools(PodPlacement(node_selector={"zone": "a"}), [shape]) == {"pool"}


def test_gpu_pools_take_gpu_pods_only_and_prefer_no_schedule_is_soft() -> None:
    cpu, gpu = NodeShape("cpu", {}, ()), NodeShape("gpu", {}, (GPU,))
    soft = NodeShape("spot", {}, (Taint("spot", "true", "PreferNoSchedule"),))
    assert eligible_pools(PodPlacement(), [gpu, cpu, soft]) == {"cpu", "spot"}
    # a pod requesting GPUs tolerates the GPU taint (ExtendedResourceToleration)
    assert eligible_pools(PodPlacement(gpu=1), [gpu, cpu]) == {"gpu", "cpu"}
    dedicated = NodeShape("team", {}, (Taint("dedicated", "ml", "NoExecute"),))
    assert not eligible_pools(PodPlacement(gpu=1), [dedicated])
    tolerant = PodPlacement(tolerations=(Toleration("dedicated", "Equal", "ml", ""),))
    assert eligible_pools(tolerant, [dedicated]) == {"team"}


# --- expanders, by hand ------------------------------------------------------------------


def pool(name: str, vcpu: int, memory_gib: int, price: float, gpu: int = 0) -> PoolLimits:
    """A pool whose allocatable is its capacity (no reservation), max 10 nodes."""
    return PoolLimits(
        name, vcpu * 1000, memory_gib * GiB, gpu, 10, 0, vcpu * 1000, memory_gib * GiB, price
    )


def test_least_waste_by_hand() -> None:
    # three pods of 1 core / 2 GiB: one 4-core/16 GiB node wastes 1/4 + 10/16 = 0.875,
    # one 16-core/64 GiB node 13/16 + 58/64 = 1.71875: the small pool grows, by one node
    pods = [PodRequest(1000, 2 * GiB)] * 3
    pools = [pool("big", 16, 64, 0.8), pool("small", 4, 16, 0.2)]
    assert plan_scale_up(pods, [], pools, {}) == {"small": 1}
    # pods of 4 cores / 8 GiB: small needs 3 nodes (waste 0 + 8/16 = 0.5), big one node
    # (waste 4/16 + 40/64 = 0.875): least-waste takes three small nodes
    pods = [PodRequest(4000, 8 * GiB)] * 3
    assert plan_scale_up(pods, [], pools, {}) == {"small": 3}
    assert plan_scale_up(pods, [], pools, {}, ("least-nodes",)) == {"big": 1}


def test_price_by_hand() -> None:
    # one pod of 2 cores / 4 GiB; a cluster of 3 nodes prefers 2-core nodes
    pods = [PodRequest(2000, 4 * GiB)]
    pools = [pool("n2-8", 8, 32, 0.39), pool("n2-2", 2, 8, 0.097)]
    pod = 2 * 0.033174 + 4 * 0.004446
    p0 = 0.5 * 0.033174 + 500 / 1024 * 0.004446
    expected = {
        "n2-8": max(2 / 8, 8 / 2) * (0.39 + p0) / (pod + p0),  # tanh(0) = 0: undamped
        "n2-2": 1.0 * (0.097 + p0) / (pod + p0),
    }
    assert pod_price_per_hour(2000, 4 * GiB, 0) == pytest.approx(pod)
    assert min(expected, key=expected.__getitem__) == "n2-2"
    assert plan_scale_up(pods, [], pools, {"n2-8": 3}, ("price",)) == {"n2-2": 1}
    # a GPU pool scores 1000 × its price ratio: chosen only when nothing else takes the pod
    with_gpu = [pool("a100", 2, 8, 0.05, gpu=1), pool("n2-2", 2, 8, 0.097)]
    assert plan_scale_up(pods, [], with_gpu, {}, ("price",)) == {"n2-2": 1}


def test_a_chain_stops_at_one_option_and_ties_are_drawn() -> None:
    def option(name: str, nodes: int, pods: int) -> ScaleUpOption:
        return ScaleUpOption(name, nodes, pods, pods * 1000, pods * GiB, 0, 4000, 16 * GiB, 0, 0.2)

    a, b, c = option("a", 1, 2), option("b", 2, 4), option("c", 2, 4)
    draws: list[int] = []

    def draw(n: int) -> int:
        draws.append(n)
        return n - 1

    assert choose_option([a, b, c], ("most-pods", "least-nodes"), 3, draw) == c  # tie b, c
    assert draws == [2]
    assert choose_option([a, b, c], ("least-nodes", "most-pods"), 3, draw) == a
    assert draws == [2]  # one option left after least-nodes: no draw
    assert choose_option([], ("least-waste",), 0, draw) is None


def test_one_pool_grows_per_scan_and_only_for_pods_that_may_use_it() -> None:
    gpu_pod = PodRequest(1000, GiB, 1, frozenset({"gpu"}))
    cpu_pod = PodRequest(1000, GiB, 0, frozenset({"cpu"}))
    pools = [pool("gpu", 8, 32, 2.0, gpu=1), pool("cpu", 8, 32, 0.3)]
    grown = plan_scale_up([gpu_pod, cpu_pod], [], pools, {})
    assert len(grown) == 1  # the other pod waits for the next scan
    assert plan_scale_up([cpu_pod], [], pools, {}) == {"cpu": 1}
    assert plan_scale_up([cpu_pod], [], pools, {"cpu": 10}) == {}  # at max, never the GPU pool


requests = st.builds(
    PodRequest,
    st.integers(100, 9000),
    st.integers(GiB // 4, 40 * GiB),
    st.integers(0, 2),
    st.one_of(st.none(), st.frozensets(st.sampled_from(["a", "b", "c"]))),
)
pool_shapes = st.builds(
    PoolLimits,
    st.sampled_from(["a", "b", "c"]),
    st.integers(1000, 16000),
    st.integers(GiB, 64 * GiB),
    st.integers(0, 4),
    st.integers(1, 6),
    st.just(0),
    st.just(0),
    st.just(0),
    st.floats(0.0, 5.0),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(requests, max_size=12),
    st.lists(pool_shapes, min_size=1, max_size=3, unique_by=lambda p: p.name),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 6)),
    st.sampled_from([("least-waste",), ("price",), ("most-pods", "least-nodes"), ("random",)]),
)
def test_scale_up_invariants(
    pending: list[PodRequest],
    pools: list[PoolLimits],
    counts: dict[str, int],
    chain: tuple[Any, ...],
) -> None:
    grown = plan_scale_up(pending, [], pools, counts, chain, lambda n: n // 2)
    assert len(grown) <= 1
    for name, nodes in grown.items():
        limits = next(p for p in pools if p.name == name)
        assert nodes >= 1
        assert counts.get(name, 0) + nodes <= limits.max_nodes
        shape = (limits.cpu_m, limits.memory_b, limits.gpu)
        helped = [
            r
            for r in pending
            if r.may_use(name)
            and r.cpu_m <= shape[0]
            and r.memory_b <= shape[1]
            and r.gpu <= shape[2]
        ]
        assert helped  # the pool grows for some pod that may use it and fits its nodes
        # no more nodes than the pods it may hold need, one pod a node at worst
        assert nodes <= len(helped)
    if not any(
        r.may_use(p.name)
        and r.cpu_m <= p.cpu_m
        and r.memory_b <= p.memory_b
        and r.gpu <= p.gpu
        and counts.get(p.name, 0) < p.max_nodes
        for r in pending
        for p in pools
    ):
        assert grown == {}


# --- the engine and the scenario ---------------------------------------------------------


def scenario(pools: list[dict[str, Any]], pod: dict[str, Any], **autoscaler: Any) -> dict[str, Any]:
    return {
        "name": "placement",
        "seed": 1,
        "duration": "30m",
        "tick": "10s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "constant", "rate": 40},
                "cpu_ms_per_request": 50,
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": pools,
                "cluster_autoscaler": autoscaler,
                "workloads": {"web": {"pod": pod, "replicas": 6}},
            }
        },
    }


GPU_POOL = {
    "name": "gpu",
    "vcpu": 4,
    "memory": "16Gi",
    "gpu": 1,
    "price_per_hour": 2.0,
    "max_nodes": 10,
}
CPU_POOL = {"name": "cpu", "vcpu": 16, "memory": "64Gi", "price_per_hour": 0.8, "max_nodes": 10}
POD = {"cpu_request": "900m", "memory_request": "1Gi"}


def run(tmp_path: Path, data: dict[str, Any]) -> capsim.RunResult:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.run(capsim.load_scenario(path))


def node_hour_price(result: capsim.RunResult) -> float:
    """What the platform's nodes cost per node-hour: tells which pool they came from."""
    k8s = result.summary["platforms"]["k8s"]
    hours = float(result.summary["duration_s"]) / 3600
    return float(k8s["cost_usd"]) / (float(k8s["nodes_mean"]) * hours)


def test_a_cpu_service_never_lands_on_the_gpu_pool(tmp_path: Path) -> None:
    # least-waste prefers the small GPU node for a 900m pod (waste 3.1/4 + 15/16 = 1.71
    # against 15.1/16 + 63/64 = 1.93); before taints it took it, at 2.5× the price
    result = run(tmp_path, scenario([GPU_POOL, CPU_POOL], POD))
    assert result.summary["platforms"]["k8s"]["gpu_hours"] == 0
    assert node_hour_price(result) == pytest.approx(0.8)
    # untainted on purpose (taints: []): the GPU pool takes CPU pods again
    untainted = run(tmp_path, scenario([{**GPU_POOL, "taints": []}, CPU_POOL], POD))
    assert untainted.summary["platforms"]["k8s"]["gpu_hours"] > 0
    assert node_hour_price(untainted) == pytest.approx(2.0)


def test_a_node_selector_picks_the_pool(tmp_path: Path) -> None:
    labelled = [
        {**CPU_POOL, "labels": {"tier": "web"}},
        {**CPU_POOL, "name": "other", "price_per_hour": 0.5},
    ]
    pod = {**POD, "node_selector": {"tier": "web"}}
    assert node_hour_price(run(tmp_path, scenario(labelled, pod))) == pytest.approx(0.8)
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}
                ]
            }
        }
    }
    chosen = run(tmp_path, scenario(labelled, {**POD, "affinity": affinity}))
    assert node_hour_price(chosen) == pytest.approx(0.5)


def test_a_pod_no_pool_admits_is_refused_naming_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario([GPU_POOL], POD)))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "platforms.k8s.workloads.web.pod" in err
    assert "gpu is tainted nvidia.com/gpu=present:NoSchedule" in err
    path.write_text(yaml.safe_dump(scenario([CPU_POOL], {**POD, "node_selector": {"x": "y"}})))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "match no node_selector" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expander", "cheapest", "'cheapest' is not one of"),
        ("expander", "random,price", "random must come last"),
        ("expander", "price,price", "given twice"),
    ],
)
def test_bad_expanders_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str, message: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario([CPU_POOL], POD, **{field: value})))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "cluster_autoscaler" in err, err


def test_emitted_pods_carry_their_placement(tmp_path: Path) -> None:
    from capsim.kube.emit import EmitOptions, manifests_from_scenario

    pod = {
        **POD,
        "gpu": 1,
        "node_selector": {"gpu-type": "l4"},
        "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
    }
    pools = [
        {
            **GPU_POOL,
            "labels": {"gpu-type": "l4"},
            "taints": [
                {"key": "dedicated", "value": "ml", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
            ],
        }
    ]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario(pools, pod)))
    emitted = manifests_from_scenario(capsim.load_scenario(path), "k8s", EmitOptions())
    deployment = next(o for o in emitted.objects if o["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"gpu-type": "l4"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "value": "ml", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
