"""Metrics over run results: elasticity, SLO demand, scaling behaviour and cost splits.

Pure functions of arrays (and of :class:`~capsim.results.run_result.RunResult` frames). Series
follow the engine's convention: row ``k`` at time ``tₖ`` describes the interval
``(tₖ₋₁, tₖ]`` (``t₋₁ = 0``), so ``Δtₖ = tₖ − tₖ₋₁`` weighs it. Levels such as replicas
are the values at ``tₖ`` and are taken to hold over that interval.

**Elasticity** (SPEC Research Group; Herbst et al., ACM ToMPECS 2018). Demand ``d`` is
the fewest resource units (replicas or VMs) meeting the SLO at each time
(:func:`demand_units`), supply ``s`` the ready units, ``T`` the time covered:

* under-/over-provisioning accuracy ``θ_U = 100/T · Σ max(d − s, 0)/d · Δt`` and
  ``θ_O = 100/T · Σ max(s − d, 0)/d · Δt`` (percent of demand; intervals with ``d = 0``
  count as accurate when ``s = 0`` and are skipped in θ otherwise, as the ratio is
  undefined);
* time shares ``τ_U = 100/T · Σ [d > s] Δt`` and ``τ_O = 100/T · Σ [s > d] Δt``;
* instability ``υ``: percent of time in intervals where supply and demand do not move in
  the same direction (sign of their change from the previous row differs);
* jitter ``j = (E_S − E_D) / T`` in adaptations per minute: supply changes minus demand
  changes (< 0 inert, > 0 oscillating);
* the **BUNGEE variant** of θ uses absolute unit-seconds, not shares of demand:
  ``Σ max(d − s, 0) Δt`` and ``Σ max(s − d, 0) Δt`` (named ``*_unit_s``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.models.prices import CPU_PRICE_PER_CORE_HOUR, MEMORY_PRICE_PER_GB_HOUR
from capsim.models.queueing import mmc_response_quantile_s
from capsim.results.run_result import RunResult
from capsim.results.summary import interval_lengths_s

__all__ = [
    "CostSplit",
    "Elasticity",
    "demand_units",
    "desired_replicas_at",
    "elastic_speedup",
    "elasticity",
    "opencost_split",
    "per_million_requests",
    "platform_cost_split",
    "replica_cpu_limit_cores",
    "row_spans",
    "scale_reversals",
    "service_demand",
    "service_elasticity",
    "time_at_level_pct",
    "under_provisioned_episodes",
]

FloatArray = npt.NDArray[np.float64]

# OpenCost's default prices (CPU_PRICE_PER_CORE_HOUR, MEMORY_PRICE_PER_GB_HOUR) live in
# capsim.results.run_result, beside the summary; the batched sweep splits costs with them too.


@dataclass(frozen=True)
class Elasticity:
    """SPEC elasticity metrics of one supply series against its demand (module docs)."""

    under_accuracy_pct: float  # θ_U
    over_accuracy_pct: float  # θ_O
    under_time_pct: float  # τ_U
    over_time_pct: float  # τ_O
    instability_pct: float  # υ
    jitter_per_min: float  # j
    under_unit_s: float  # BUNGEE variant of θ_U: unit-seconds short
    over_unit_s: float  # BUNGEE variant of θ_O: unit-seconds spare

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _series(time_s: npt.ArrayLike, *values: npt.ArrayLike) -> tuple[FloatArray, ...]:
    t = np.asarray(time_s, dtype=np.float64)
    arrays = tuple(np.asarray(v, dtype=np.float64) for v in values)
    for array in arrays:
        if array.shape != t.shape:
            raise ValueError(f"series must have the shape of time_s {t.shape}, got {array.shape}")
    if t.size and (np.diff(t, prepend=0.0) < 0).any():
        raise ValueError("time_s must be increasing and >= 0")
    return (t, *arrays)


def elasticity(time_s: npt.ArrayLike, demand: npt.ArrayLike, supply: npt.ArrayLike) -> Elasticity:
    """The SPEC elasticity metrics of ``supply`` against ``demand`` (module docs)."""
    t, d, s = _series(time_s, demand, supply)
    dt = interval_lengths_s(t)
    total = float(dt.sum())
    if total <= 0:
        nan = math.nan
        return Elasticity(nan, nan, nan, nan, nan, nan, 0.0, 0.0)
    short = np.maximum(d - s, 0.0)
    spare = np.maximum(s - d, 0.0)
    has_demand = d > 0
    safe_d = np.where(has_demand, d, 1.0)
    under_share = np.where(has_demand, short / safe_d, 0.0)
    over_share = np.where(has_demand, spare / safe_d, 0.0)
    moved_s = np.sign(np.diff(s, prepend=s[:1]))
    moved_d = np.sign(np.diff(d, prepend=d[:1]))
    unstable = moved_s != moved_d
    minutes = total / 60.0
    return Elasticity(
        under_accuracy_pct=100.0 * float(under_share @ dt) / total,
        over_accuracy_pct=100.0 * float(over_share @ dt) / total,
        under_time_pct=100.0 * float(dt[d > s].sum()) / total,
        over_time_pct=100.0 * float(dt[s > d].sum()) / total,
        instability_pct=100.0 * float(dt[unstable].sum()) / total,
        jitter_per_min=(int(np.count_nonzero(moved_s)) - int(np.count_nonzero(moved_d))) / minutes,
        under_unit_s=float(short @ dt),
        over_unit_s=float(spare @ dt),
    )


def elastic_speedup(baseline: Elasticity, other: Elasticity) -> float:
    """How much more elastic ``other`` is than ``baseline``: the geometric mean of the
    ratios baseline / other over θ_U, θ_O, τ_U, τ_O and υ (> 1: ``other`` is better).

    Metrics that are 0 for either side carry no ratio and are left out; NaN if none is
    left.
    """
    names = (
        "under_accuracy_pct",
        "over_accuracy_pct",
        "under_time_pct",
        "over_time_pct",
        "instability_pct",
    )
    ratios = [
        getattr(baseline, n) / getattr(other, n)
        for n in names
        if getattr(baseline, n) > 0 and getattr(other, n) > 0
    ]
    if not ratios:
        return math.nan
    return float(np.exp(np.mean(np.log(ratios))))


def demand_units(
    arrival_rate_per_s: npt.ArrayLike,
    service_rate_per_s: float,
    servers: int,
    p95_target_s: float,
    max_units: int = 10_000,
) -> npt.NDArray[np.int64]:
    """Fewest replicas meeting the p95 target at each arrival rate: load split evenly,
    each replica an M/M/c (``servers`` slots of ``service_rate_per_s``) whose exact
    stationary p95 response time is at most ``p95_target_s``. 0 where there is no load;
    ``max_units + 1`` where even ``max_units`` replicas miss the target (the target is
    below what an idle replica can do, or the load is beyond reach)."""
    lam = np.asarray(arrival_rate_per_s, dtype=np.float64)
    if service_rate_per_s <= 0 or servers < 1 or p95_target_s <= 0:
        raise ValueError("service_rate_per_s and p95_target_s must be > 0, servers >= 1")
    # Start where the replicas are just stable, then add one until the target is met.
    units = np.where(lam > 0, np.floor(lam / (servers * service_rate_per_s)) + 1, 0)
    units = units.astype(np.int64)
    todo = np.flatnonzero(lam > 0)
    while todo.size:
        per_replica = lam[todo] / units[todo]
        p95 = mmc_response_quantile_s(0.95, per_replica, service_rate_per_s, servers)
        missed = p95 > p95_target_s
        todo = todo[missed]
        units[todo] += 1
        over = units[todo] > max_units
        units[todo[over]] = max_units + 1
        todo = todo[~over]
    return units


def mask_runs(mask: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Index of the first and of the last element of each run of ``True`` in ``mask``."""
    flags = np.asarray(mask, dtype=bool)
    change = np.diff(np.concatenate(([False], flags, [False])).astype(np.int8))
    return np.flatnonzero(change == 1), np.flatnonzero(change == -1) - 1


def row_spans(time_s: npt.ArrayLike, mask: npt.ArrayLike) -> FloatArray:
    """``(start, end)`` seconds of each run of consecutive rows where ``mask`` holds, shape
    ``(n, 2)``. Row ``k`` covers ``(tₖ₋₁, tₖ]`` with ``t₋₁ = 0``, so a run starts at the
    row before its first and ends at its last."""
    t = np.asarray(time_s, dtype=np.float64)
    first, last = mask_runs(mask)
    if not first.size:
        return np.empty((0, 2))
    before = np.concatenate(([0.0], t[:-1]))
    return np.column_stack((before[first], t[last]))


def under_provisioned_episodes(
    time_s: npt.ArrayLike, demand: npt.ArrayLike, supply: npt.ArrayLike
) -> FloatArray:
    """Duration (s) of each spell with supply below demand: the time to capacity after
    each rise the supply did not anticipate. A spell starts at the beginning of the first
    short interval and ends at the end of the last; one still open at the end of the run
    is counted up to the end."""
    t, d, s = _series(time_s, demand, supply)
    spans = row_spans(t, d > s)
    return np.asarray(spans[:, 1] - spans[:, 0], dtype=np.float64)


def scale_reversals(events: pd.DataFrame) -> pd.DataFrame:
    """Per platform and workload: scale events, direction reversals (an up after a down
    or a down after an up: flapping), from the ``scale`` rows of ``events``."""
    scales = events[events["kind"] == "scale"].sort_values("time_s", kind="stable")
    rows = []
    for (platform, workload), group in scales.groupby(["platform", "workload"], sort=True):
        direction = np.sign(group["to"].to_numpy(float) - group["from"].to_numpy(float))
        direction = direction[direction != 0]
        reversals = int(np.count_nonzero(direction[1:] != direction[:-1]))
        rows.append((platform, workload, len(group), reversals))
    return pd.DataFrame(rows, columns=["platform", "workload", "scale_events", "reversals"])


def desired_replicas_at(result: RunResult, times_s: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Desired replicas of a run's one scaled workload just after each of ``times_s``,
    rebuilt from its ``scale`` events (a scale at a time counts at that time)."""
    times = np.asarray(times_s, dtype=np.float64)
    scales = result.events[result.events["kind"] == "scale"]
    if not len(scales):
        first = int(result.timeseries["replicas_desired"].iloc[0])
        return np.full(times.shape, first, dtype=np.int64)
    after = scales["to"].to_numpy(np.int64)
    index = np.searchsorted(scales["time_s"].to_numpy(np.float64), times + 1e-9, side="right")
    return np.where(index > 0, after[np.maximum(index - 1, 0)], int(scales["from"].iloc[0]))


def time_at_level_pct(time_s: npt.ArrayLike, values: npt.ArrayLike, level: float) -> float:
    """Percent of the time ``values`` is at ``level`` or above (e.g. at ``maxReplicas``)."""
    t, v = _series(time_s, values)
    dt = interval_lengths_s(t)
    total = float(dt.sum())
    return 100.0 * float(dt[v >= level].sum()) / total if total > 0 else math.nan


def per_million_requests(cost_usd: float, requests_served: float) -> float:
    """Cost per million requests served; NaN when none was served."""
    return cost_usd / requests_served * 1e6 if requests_served > 0 else math.nan


@dataclass(frozen=True)
class CostSplit:
    """A platform's cost split OpenCost's way: each workload's share and the idle rest."""

    total_usd: float
    workloads_usd: dict[str, float]
    idle_usd: float

    @property
    def idle_pct(self) -> float:
        return 100.0 * self.idle_usd / self.total_usd if self.total_usd > 0 else math.nan


def opencost_split(
    total_usd: float,
    bought_core_hours: float,
    bought_gb_hours: float,
    workload_core_hours: dict[str, float],
    workload_gb_hours: dict[str, float],
    *,
    cpu_price: float = CPU_PRICE_PER_CORE_HOUR,
    memory_price: float = MEMORY_PRICE_PER_GB_HOUR,
) -> CostSplit:
    """Split ``total_usd`` into workload costs and idle, as OpenCost does.

    A workload costs ``max(request, usage)`` resource-hours (give them per workload) at
    per-resource prices; idle is what is left. The prices are the default CPU and memory
    prices scaled so that everything bought costs exactly ``total_usd`` (the node or VM
    price split in the default CPU : memory ratio).
    """
    list_price = bought_core_hours * cpu_price + bought_gb_hours * memory_price
    scale = total_usd / list_price if list_price > 0 else 0.0
    names: Sequence[str] = sorted(set(workload_core_hours) | set(workload_gb_hours))
    shares = {
        name: scale
        * (
            workload_core_hours.get(name, 0.0) * cpu_price
            + workload_gb_hours.get(name, 0.0) * memory_price
        )
        for name in names
    }
    return CostSplit(total_usd, shares, total_usd - sum(shares.values()))


def replica_cpu_limit_cores(scenario: dict[str, Any], platform: str, workload: str) -> float:
    """The CPU one replica of ``workload`` may use on ``platform``, from the scenario as
    run (``summary["scenario_as_run"]``): a pod's limit (else its request), or a VM's
    application CPU shared by its ``per_vm`` instances — as the engine models it."""
    config = scenario["platforms"][platform]
    mine = config["workloads"][workload]
    if config["kind"] == "kubernetes":
        pod = mine["pod"]
        limit = pod["cpu_limit_millicores"] or pod["cpu_request_millicores"]
        return float(limit) / 1000.0
    instance = mine.get("instance") or config["instance"]
    usable = instance["vcpu_millicores"] * (1 - instance["hypervisor_overhead_pct"] / 100)
    app_millicores = float(usable - instance["guest_os_cpu_millicores"])
    return app_millicores / float(mine["per_vm"]) / 1000.0


def replica_servers(
    cpu_ms_per_request: float, concurrency: int, cpu_limit_cores: float
) -> tuple[int, float]:
    """A replica as an M/M/c: ``(c, μ)``. The service model (:mod:`capsim.models.service`)
    runs ``min(concurrency, limit)`` cores' worth of requests at once, each at one full core:
    for a whole number of cores that is exactly an M/M/k with ``μ = 1000/cpu_ms``; for a
    fractional one, ``concurrency`` servers sharing the limit have the same capacity."""
    cores = min(float(concurrency), cpu_limit_cores)
    if cores == math.floor(cores):
        return int(cores), 1000.0 / cpu_ms_per_request
    return concurrency, min(1.0, cpu_limit_cores / concurrency) * 1000.0 / cpu_ms_per_request


def service_demand(
    result: RunResult, platform: str, workload: str
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The rows of a service with a p95 SLO on a platform (in time order) and its demand at
    each: :func:`demand_units` for the row's mean arrival rate with the replica's M/M/c
    model on that platform (:func:`replica_servers`)."""
    scenario = result.summary["scenario_as_run"]
    spec = next(w for w in scenario["workloads"] if w["name"] == workload)
    servers, mu = replica_servers(
        spec["cpu_ms_per_request"],
        spec["concurrency"],
        replica_cpu_limit_cores(scenario, platform, workload),
    )
    ts = result.timeseries
    mine = ts[(ts["platform"] == platform) & (ts["workload"] == workload)]
    mine = mine.sort_values("time_s", kind="stable")
    demand = demand_units(
        mine["arrival_rate"].to_numpy(np.float64),
        mu,
        servers,
        spec["slo"]["p95_latency_ms"] / 1000.0,
    )
    return mine, demand


def service_elasticity(result: RunResult) -> pd.DataFrame:
    """SPEC elasticity of every service with a p95 SLO on every platform.

    Demand is :func:`demand_units` for each row's mean arrival rate with the replica's
    M/M/c model on that platform (:func:`replica_servers`);
    supply is the ready replicas (app instances on VMs). One row per platform and
    workload: the :class:`Elasticity` fields, mean demand and supply, and the median and
    longest time to capacity (s) over the spells short of demand that ended: NaN when
    none did (never short, or short until the end), not a number that would read as
    fast or slow.
    """
    scenario = result.summary["scenario_as_run"]
    rows = []
    for spec in scenario["workloads"]:
        if spec["kind"] != "service" or not spec.get("slo"):
            continue
        name = spec["name"]
        for platform in sorted(scenario["platforms"]):
            mine, demand = service_demand(result, platform, name)
            time_s = mine["time_s"].to_numpy(np.float64)
            supply = mine["replicas_ready"].to_numpy(np.float64)
            spells = under_provisioned_episodes(time_s, demand, supply)
            if spells.size and demand.size and demand[-1] > supply[-1]:
                spells = spells[:-1]  # still short at the end: capacity never reached
            dt = interval_lengths_s(time_s)
            span = float(dt.sum())
            rows.append(
                {
                    "platform": platform,
                    "workload": name,
                    **elasticity(time_s, demand, supply).as_dict(),
                    "demand_mean": float(demand @ dt) / span if span else math.nan,
                    "supply_mean": float(supply @ dt) / span if span else math.nan,
                    "time_to_capacity_p50_s": float(np.median(spells)) if spells.size else math.nan,
                    "time_to_capacity_max_s": float(spells.max()) if spells.size else math.nan,
                }
            )
    return pd.DataFrame(rows)


def platform_cost_split(result: RunResult, platform: str) -> CostSplit:
    """:func:`opencost_split` of one platform of a run: what was bought is the time
    integral of ``platform_cpu_cores`` and ``platform_memory_bytes``; a workload counts
    ``max(requested, used)`` CPU and its used memory (memory requests are not recorded)."""
    ts = result.timeseries
    rows = ts[ts["platform"] == platform]
    per_time = rows.groupby("time_s", sort=True).agg(
        cpu=("platform_cpu_cores", "max"), memory=("platform_memory_bytes", "max")
    )
    dt = interval_lengths_s(per_time.index.to_numpy(np.float64))
    gb = 1e9
    bought_core_h = float(per_time["cpu"].to_numpy(np.float64) @ dt) / 3600
    bought_gb_h = float(per_time["memory"].to_numpy(np.float64) @ dt) / 3600 / gb
    core_h: dict[str, float] = {}
    gb_h: dict[str, float] = {}
    for workload, mine in rows.groupby("workload", sort=True):
        mine = mine.sort_values("time_s", kind="stable")
        step = interval_lengths_s(mine["time_s"].to_numpy(np.float64))
        held = np.maximum(
            mine["cpu_requested_cores"].to_numpy(np.float64),
            mine["cpu_used_cores"].to_numpy(np.float64),
        )
        core_h[str(workload)] = float(held @ step) / 3600
        gb_h[str(workload)] = (
            float(mine["memory_used_bytes"].to_numpy(np.float64) @ step) / 3600 / gb
        )
    total = float(result.summary["platforms"][platform]["cost_usd"])
    return opencost_split(total, bought_core_h, bought_gb_h, core_h, gb_h)
