"""The batched fast path: many HPA configurations of one service against one load.

``evaluate_hpas(scenario, platform, hpas)`` evaluates every HPA spec in ``hpas`` on the
scenario's single service in one pass over the load, and returns, per configuration,
the numbers ``capsim validate`` judges by (SLO time, drops, peak and ceiling, scale
events and reversals, the service's OpenCost share) and, on request, the replica count
after every HPA sync and the pooled p95 latency.

**Exactness.** Within its domain the fast path *is* the engine: the same replicas at
every sync and the same metrics to floating-point rounding (a hypothesis test runs both
on random configurations and loads). The domain (:func:`fast_path_limits` says what is
outside it):

* one service, on a Kubernetes platform, scaled by an HPA with one ``Resource`` cpu
  metric (Utilization or AverageValue);
* pods start after *constant* delays (``container_start``, ``readiness_delay``) with no
  image to pull;
* the nodes there from the start (each pool's ``min_nodes``) hold ``maxReplicas`` pods,
  so no pod waits for a node and the cluster autoscaler never acts.

**Approximation.** ``approximate=True`` evaluates a scenario outside the domain as if
pods started after their *mean* delays and every pod found room at once (no node
provisioning wait). The result says so (``approximations``); callers that need the
engine's answer (``capsim recommend``) confirm their pick with engine runs.

The loop itself is compiled (:mod:`capsim.fastpath.kernel`): per HPA sync a NumPy step
over all configurations costs ~1.6 ms for 1,000 of them, so a month of 15-s syncs would
take minutes. Configurations run in parallel threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim import hpa
from capsim.fastpath.kernel import (
    M_ARRIVED,
    M_AT_MAX_MISSED_ROWS,
    M_AT_MAX_S,
    M_DESIRED_MAX,
    M_DROPPED,
    M_HELD_CORE_S,
    M_LATE,
    M_MEMORY_BYTE_S,
    M_OVER_UTIL_S,
    M_READY_MAX,
    M_REVERSALS,
    M_ROWS_S,
    M_SCALE_EVENTS,
    M_SERVED,
    M_SLO_BAD_S,
    M_SLO_GOOD_WINDOWS,
    M_SLO_WINDOWS,
    M_USED_CORE_S,
    N_METRICS,
    RECORD,
    SCRAPE,
    SYNC,
    evaluate_configs,
)
from capsim.models.prices import CPU_PRICE_PER_CORE_HOUR, MEMORY_PRICE_PER_GB_HOUR
from capsim.models.queueing import ResponseTimeDistribution, pooled_row_quantiles_s
from capsim.models.schedule import Periodic
from capsim.models.service import (
    LAW_POINTS,
    P_CORES,
    P_ROUTING,
    ring_length,
)
from capsim.scenario import (
    KubernetesPlatform,
    KubernetesWorkload,
    PodTemplate,
    Scenario,
    ServiceWorkload,
    hpa_template,
)
from capsim.scenario.distributions import Constant
from capsim.scenario.inputs import prepare_inputs
from capsim.scenario.manifests import HpaTemplate
from capsim.scenario.service_laws import LAW_MAX_REPLICAS, least_request_law

__all__ = ["FastPathError", "FastPathResult", "evaluate_hpas", "fast_path_limits", "service_hpa"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class FastPathError(ValueError):
    """The scenario is outside the fast path's exact domain; the message says why."""


@dataclass(frozen=True)
class FastPathResult:
    """Per-configuration metrics (one row each, in the order given), and optionally the
    desired replicas after every HPA sync (``trajectory``: configurations × syncs)."""

    metrics: pd.DataFrame
    sync_times_s: FloatArray
    trajectory: npt.NDArray[np.int32] | None
    exact: bool
    approximations: tuple[str, ...]


def _service(scenario: Scenario, platform: str) -> tuple[ServiceWorkload, KubernetesPlatform]:
    config = scenario.platforms.get(platform)
    if not isinstance(config, KubernetesPlatform):
        raise FastPathError(f"platform {platform!r} is not a Kubernetes platform")
    services = [w for w in scenario.workloads if isinstance(w, ServiceWorkload)]
    if len(scenario.workloads) != 1 or len(services) != 1:
        raise FastPathError("the fast path simulates scenarios of exactly one service")
    if services[0].accelerated:
        raise FastPathError(
            "the service's work runs on GPUs (gpu_ms_per_request or llm): the fast path "
            "models CPU services, the engine's runs model it"
        )
    return services[0], config


def service_hpa(scenario: Scenario, platform: str) -> HpaTemplate:
    """The HPA spec of the scenario's service on ``platform`` (inline or from its file)."""
    service, config = _service(scenario, platform)
    mine = config.workloads[service.name]
    if not mine.autoscaled:
        raise FastPathError(f"{service.name} has no HPA on {platform}")
    return hpa_template(mine, scenario.base_dir, service.name)


def _metric_limits(spec: HpaTemplate) -> list[str]:
    metrics = spec.metrics
    if len(metrics) != 1:
        return [f"the HPA has {len(metrics)} metrics (the fast path takes one cpu metric)"]
    metric = metrics[0]
    if metric.type != "Resource" or metric.resource_name != "cpu":
        return [f"the HPA's metric is {metric.type} {metric.metric_name}, not Resource cpu"]
    if metric.target.type not in ("Utilization", "AverageValue"):
        return [f"the cpu target is {metric.target.type}"]
    return []


def _pods_per_node(pool_cpu_m: int, pool_memory_b: int, pool_gpu: int, pod: object) -> int:
    cpu, memory, gpu = (
        pod.cpu_request_millicores,  # type: ignore[attr-defined]
        pod.memory_request_bytes,  # type: ignore[attr-defined]
        pod.gpu,  # type: ignore[attr-defined]
    )
    fits = [pool_cpu_m // cpu if cpu else 10**9, pool_memory_b // memory if memory else 10**9]
    if gpu:
        fits.append(pool_gpu // gpu)
    return int(min(fits))


def _room(config: KubernetesPlatform, pod: PodTemplate) -> int:
    """Pods of this size the nodes present from the start hold (on pools it may use)."""
    allowed, _ = config.pools_for(pod)
    return sum(
        pool.min_nodes
        * _pods_per_node(
            pool.allocatable_cpu_millicores, pool.allocatable_memory_bytes, pool.gpu, pod
        )
        for pool in config.node_pools
        if pool.name in allowed
    )


def fast_path_limits(
    scenario: Scenario, platform: str, hpas: Sequence[HpaTemplate] = ()
) -> list[str]:
    """Why the fast path cannot reproduce the engine on this scenario (empty: it can),
    for the HPA specs ``hpas`` (default: the scenario's own)."""
    try:
        service, config = _service(scenario, platform)
        specs = list(hpas) or [service_hpa(scenario, platform)]
    except FastPathError as exc:
        return [str(exc)]
    mine: KubernetesWorkload = config.workloads[service.name]
    pod = mine.pod
    assert pod is not None  # a service always has a pod (scenario validation)
    limits = [reason for spec in specs for reason in _metric_limits(spec)][:1]
    delays = {"container_start": pod.container_start, "readiness_delay": pod.readiness_delay}
    for name, dist in delays.items():
        if not isinstance(dist, Constant):
            limits.append(f"pods' {name} is random ({dist.distribution}), not constant")
    if pod.image_size_bytes > 0:
        limits.append("pods pull an image (its time depends on which node they land on)")
    if scenario.service_model == "exact":
        limits.append(
            "service_model: exact simulates every request (the engine's, not the fast path's)"
        )
    if service.retries.max_retries:
        limits.append("clients retry failed requests (modelled by the engine, not the fast path)")
    ceiling = max(spec.max_replicas for spec in specs)
    room = _room(config, pod)
    if room < ceiling:
        limits.append(
            f"the nodes present from the start hold {room} pods, fewer than maxReplicas "
            f"{ceiling}: pods would wait for the cluster autoscaler"
        )
    return limits


def _price_scale(config: KubernetesPlatform, exact: bool) -> tuple[float, float]:
    """(USD per list-price USD for OpenCost shares, node bill per second) of the pools
    that run: those present from the start (exact) or, approximating, one node each."""
    bill = listed = 0.0
    for pool in config.node_pools:
        count = pool.min_nodes if exact else max(pool.min_nodes, 1)
        bill += count * pool.price_per_hour
        listed += count * (
            pool.vcpu_millicores / 1000.0 * CPU_PRICE_PER_CORE_HOUR
            + pool.memory_bytes / 1e9 * MEMORY_PRICE_PER_GB_HOUR
        )
    return (bill / listed if listed > 0 else 0.0), bill / 3600.0


def _config_arrays(
    specs: Sequence[HpaTemplate],
    requests_m: Sequence[int],
    limits_m: Sequence[int | None],
    config: KubernetesPlatform,
) -> tuple[IntArray, FloatArray, IntArray, IntArray, int]:
    metrics = config.metrics
    behaviors = [spec.parsed_behavior for spec in specs]
    params = hpa.BatchBehavior.from_behaviors(
        behaviors, downscale_stabilization_s=metrics.downscale_stabilization_s
    )
    up_longest, down_longest = params.longest_period_s()
    ints = np.zeros((len(specs), 10), dtype=np.int64)
    floats = np.zeros((len(specs), 5))
    for i, (spec, behavior) in enumerate(zip(specs, behaviors, strict=True)):
        target = spec.metrics[0].target
        utilization = target.type == "Utilization"
        value = target.average_utilization if utilization else target.average_value
        assert value is not None
        up = behavior.scale_up.tolerance if behavior else None
        down = behavior.scale_down.tolerance if behavior else None
        ints[i] = (
            requests_m[i],
            value,
            utilization,
            spec.min_replicas,
            spec.max_replicas,
            behavior is None,
            params.up_select[i],
            params.down_select[i],
            up_longest[i],
            down_longest[i],
        )
        limit = limits_m[i] or requests_m[i]
        floats[i] = (
            limit / 1000.0,
            metrics.tolerance if up is None else up,
            metrics.tolerance if down is None else down,
            params.up_window_s[i],
            params.down_window_s[i],
        )
    window = float(max(params.up_window_s.max(), params.down_window_s.max()))
    return ints, floats, params.up_policies, params.down_policies, int(window)


def evaluate_hpas(
    scenario: Scenario,
    platform: str,
    hpas: Sequence[HpaTemplate],
    *,
    cpu_requests_m: Sequence[int] | None = None,
    seed: int | None = None,
    approximate: bool = False,
    trajectory: bool = False,
    latency: bool = False,
    max_utilization_pct: float | None = None,
) -> FastPathResult:
    """Evaluate every HPA spec of ``hpas`` on the scenario's service (module docstring).

    ``cpu_requests_m`` (one per spec) replaces the pod's CPU request (its limit, if set,
    stays; without one the request is the cap). ``latency`` adds the pooled p95 (ms),
    which costs memory per configuration (keep it for tens, not thousands). Raises
    :class:`FastPathError` outside the exact domain unless ``approximate``.
    """
    if not hpas:
        raise ValueError("evaluate_hpas: give at least one HPA spec")
    service, config = _service(scenario, platform)
    pod = config.workloads[service.name].pod
    assert pod is not None
    requests = (
        list(cpu_requests_m)
        if cpu_requests_m is not None
        else [pod.cpu_request_millicores] * len(hpas)
    )
    if len(requests) != len(hpas):
        raise ValueError("evaluate_hpas: give one CPU request per HPA spec")
    specs = list(hpas)
    limits = [reason for spec in specs for reason in _metric_limits(spec)]
    if limits:
        raise FastPathError(limits[0])
    sized = [pod.model_copy(update={"cpu_request_millicores": r}) for r in set(requests)]
    problems = [
        p
        for s in sized
        for p in fast_path_limits(_with_pod(scenario, platform, s), platform, specs)
    ]
    problems = list(dict.fromkeys(problems))
    if problems and not approximate:
        raise FastPathError("; ".join(problems))
    notes: list[str] = []
    start_s, ready_s = pod.container_start.mean_s, pod.readiness_delay.mean_s
    if problems:
        notes.append(
            f"pods start after their mean delays ({start_s:.3g} s to run, then "
            f"{ready_s:.3g} s to Ready) and always find room on a node: no node "
            "provisioning wait and no image pull"
        )
    if problems and service.retries.max_retries:
        notes.append("clients do not retry failed requests (only the engine's runs model retries)")
    if problems and scenario.service_model == "exact":
        notes.append(
            "requests follow the expected service model (the scenario's service_model: exact "
            "simulates each request; only the engine's runs do)"
        )
    inputs = prepare_inputs(scenario, seed)
    rates = np.ascontiguousarray(inputs.arrival_rates[service.name], dtype=np.float64)
    metrics_cfg = config.metrics
    periods = [
        ("record", inputs.record_every_s),
        ("scrape", metrics_cfg.metric_resolution_s),
        ("sync", metrics_cfg.sync_period_s),
    ]
    if config.cluster_autoscaler.enabled:
        periods.append(("autoscale", config.cluster_autoscaler.scan_interval_s))
    times, masks = Periodic(periods, scenario.duration_s).instants()
    flags = (
        np.where(masks & 1, RECORD, 0)
        | np.where(masks & 2, SCRAPE, 0)
        | np.where(masks & 4, SYNC, 0)
    ).astype(np.int64)
    keep = flags != 0
    times, flags = np.ascontiguousarray(times[keep]), np.ascontiguousarray(flags[keep])
    ints, floats, up_pol, down_pol, window_s = _config_arrays(
        specs, requests, [pod.cpu_limit_millicores] * len(specs), config
    )
    sync_s = metrics_cfg.sync_period_s
    longest = int(max(ints[:, 8].max(), ints[:, 9].max()))
    lifetime = max(
        start_s + ready_s,
        start_s + metrics_cfg.metric_resolution_s * 2,
        metrics_cfg.cpu_initialization_period_s,
    )
    caps = np.array(  # cohorts, recommendations (rings: powers of two), scale events
        [
            _power_of_two(math.ceil(lifetime / sync_s) + 4),
            _power_of_two(math.ceil(window_s / sync_s) + 4),
            math.ceil(longest / sync_s) + 4,
        ],
        dtype=np.int64,
    )
    route = config.workloads[service.name].routing
    service_rows = np.stack(
        [service.model_params(limit, route, inputs.tick_s) for limit in floats[:, 0]]
    )
    ring_slots = ring_length(service.timeout_s, inputs.tick_s, inputs.n_ticks * inputs.tick_s)
    laws_by_n = _laws_by_replicas(service_rows, int(ints[:, 4].max(initial=0)))
    pod_times = np.array(
        [
            start_s,
            ready_s,
            metrics_cfg.metric_resolution_s,
            metrics_cfg.cpu_initialization_period_s,
            metrics_cfg.initial_readiness_delay_s,
        ]
    )
    slo = service.slo
    slo_row = np.array(
        [
            slo.p95_latency_ms / 1000.0 if slo and slo.p95_latency_ms is not None else math.nan,
            slo.max_error_rate if slo and slo.max_error_rate is not None else math.nan,
            math.nan if max_utilization_pct is None else max_utilization_pct,
            round(slo.window_s / inputs.tick_s) if slo else 1,  # whole ticks (run_grid)
        ]
    )
    n = len(specs)
    out = np.zeros((n, N_METRICS))
    n_syncs = int(np.count_nonzero(flags & SYNC))
    traj = np.zeros((n, n_syncs if trajectory else 0), dtype=np.int32)
    laws = np.zeros((n, inputs.n_ticks if latency else 0, 8))
    evaluate_configs(
        times, flags, rates, float(inputs.tick_s), float(scenario.duration_s), service_rows,
        ring_slots, laws_by_n,
        pod_times, ints, floats, up_pol, down_pol, slo_row, caps, out, traj, laws,
    )  # fmt: skip
    frame = _frame(out, scenario, config, service, ints, exact=not problems)
    if latency:  # every configuration's pooled p95 at once (vectorized Newton)
        dist = ResponseTimeDistribution(*(laws[:, :, i] for i in range(1, 8)))
        frame["latency_p95_ms"] = 1000.0 * pooled_row_quantiles_s(dist, laws[:, :, 0], (0.95,))[0]
    return FastPathResult(
        frame,
        times[flags & SYNC != 0],
        traj if trajectory else None,
        exact=not problems,
        approximations=tuple(notes + [f"outside the exact domain: {p}" for p in problems]),
    )


def _laws_by_replicas(params: FloatArray, most: int) -> FloatArray:
    """The least-request law of the service at 0 … ``most`` ready replicas (rows; the row
    at 0 is never read), or one empty row for any other routing. Every configuration
    shares the CPU limit, so the laws are the same for all."""
    routing = int(params[0, P_ROUTING])
    if routing < 3 or not np.all(params[:, P_CORES] == params[0, P_CORES]):
        if routing >= 3:
            raise FastPathError("least-request routing needs one CPU limit for every HPA")
        return np.zeros((1, 0))
    most = min(most, LAW_MAX_REPLICAS)  # beyond it every count reads the same law
    rows = np.full((most + 1, 2 * LAW_POINTS), np.nan)
    for n in range(1, most + 1):
        rows[n] = least_request_law(float(n), float(params[0, P_CORES]), routing)
    return rows


def _with_pod(scenario: Scenario, platform: str, pod: object) -> Scenario:
    config = scenario.platforms[platform]
    assert isinstance(config, KubernetesPlatform)
    name = scenario.workloads[0].name
    workloads = {**config.workloads, name: config.workloads[name].model_copy(update={"pod": pod})}
    platforms = {**scenario.platforms, platform: config.model_copy(update={"workloads": workloads})}
    return scenario.model_copy(update={"platforms": platforms})


def _power_of_two(slots: int) -> int:
    """The smallest power of two ≥ ``slots`` (the kernel masks ring indices)."""
    return 1 << max(slots - 1, 0).bit_length()


def _frame(
    out: FloatArray,
    scenario: Scenario,
    config: KubernetesPlatform,
    service: ServiceWorkload,
    ints: IntArray,
    *,
    exact: bool,
) -> pd.DataFrame:
    hours = scenario.duration_s / 3600.0
    scale, bill_per_s = _price_scale(config, exact)
    rows = out[:, M_ROWS_S]
    arrived = out[:, M_ARRIVED]
    served_plus_dropped = out[:, M_SERVED] + out[:, M_DROPPED]

    def pct(part: FloatArray, whole: FloatArray) -> FloatArray:
        return np.where(whole != 0, 100.0 * part / np.where(whole != 0, whole, 1.0), np.nan)

    core_h = out[:, M_HELD_CORE_S] / 3600.0
    gb_h = out[:, M_MEMORY_BYTE_S] / 3600.0 / 1e9
    return pd.DataFrame(
        {
            "slo_violation_pct": pct(out[:, M_SLO_BAD_S], rows),
            "slo_violation_requests_pct": pct(
                out[:, M_LATE] + out[:, M_DROPPED], served_plus_dropped
            ),
            "dropped_pct": pct(out[:, M_DROPPED], arrived),
            "replicas_max": out[:, M_READY_MAX].astype(np.int64),
            "replicas_desired_max": out[:, M_DESIRED_MAX].astype(np.int64),
            "max_replicas": ints[:, 4],
            "time_at_max_replicas_s": out[:, M_AT_MAX_S],
            "at_max_while_missing_slo": out[:, M_AT_MAX_MISSED_ROWS] > 0,
            "scale_events": out[:, M_SCALE_EVENTS].astype(np.int64),
            "direction_reversals_per_hour": out[:, M_REVERSALS] / hours,
            "over_utilization_pct": pct(out[:, M_OVER_UTIL_S], rows),
            "cpu_used_core_hours": out[:, M_USED_CORE_S] / 3600.0,
            "workload_cost_usd": scale
            * (core_h * CPU_PRICE_PER_CORE_HOUR + gb_h * MEMORY_PRICE_PER_GB_HOUR),
            "cost_usd": bill_per_s * max(scenario.duration_s, 60.0) if exact else math.nan,
            "latency_p95_ms": math.nan,
            "slo_windows": out[:, M_SLO_WINDOWS].astype(np.int64),
            "slo_good_windows": out[:, M_SLO_GOOD_WINDOWS].astype(np.int64),
        }
    )
