"""The run's JSON summary, and the small pure metric functions it is made of.

**Time weighting.** A time-series row describes the record interval that *ends* at its
``time_s``: ``Δtₖ = tₖ − tₖ₋₁`` with ``t₋₁ = 0``, so a short last interval weighs less.
Rates are interval means (``Σ rate·Δt`` = requests); end-of-interval values (replicas,
nodes) are held over their interval (a step approximation).

**Latency** is the exact pooled law of every request served
(:mod:`capsim.results.latency`). Each metric function states its formula (they are
reused by :mod:`capsim.analysis`). Ratios with a zero denominator are NaN (``null`` in
JSON), except utilization, which is 0 without capacity, as in the time series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.engine.recording import LatencyComponents, LatencySamples, Recording
from capsim.models.slo import LatencyObjective, SloVerdict, error_objective, latency_objective
from capsim.results.latency import (
    EMPTY_MIXTURE,
    EmpiricalLatency,
    LatencyMixture,
    latency_law,
    served_and_late,
)
from capsim.scenario.workloads import Slo

__all__ = [
    "empirical_quantile",
    "interval_error_rate",
    "interval_lengths_s",
    "job_stats",
    "share_pct",
    "slo_violation_requests_pct",
    "slo_violation_time_pct",
    "summarize",
    "time_integral",
    "time_weighted_mean",
    "time_weighted_quantile",
    "utilization_pct",
]

FloatArray = npt.NDArray[np.float64]


def interval_lengths_s(time_s: npt.ArrayLike) -> FloatArray:
    """``Δtₖ = tₖ − tₖ₋₁`` with ``t₋₁ = 0``: each row's interval (rows are interval ends)."""
    return np.diff(np.asarray(time_s, dtype=np.float64), prepend=0.0)


def time_integral(values: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``Σ vₖ Δtₖ`` (value × seconds: a rate gives a count, cores give core-seconds)."""
    return float(np.dot(np.asarray(values, dtype=np.float64), np.asarray(dt_s, np.float64)))


def time_weighted_mean(values: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``Σ vₖ Δtₖ / Σ Δtₖ``; NaN over no time."""
    span = float(np.sum(dt_s))
    return time_integral(values, dt_s) / span if span > 0 else math.nan


def time_weighted_quantile(values: npt.ArrayLike, dt_s: npt.ArrayLike, q: float) -> float:
    """The smallest level held for at least a share ``q`` of the time counting every
    lower level too (``Σ Δtₖ [vₖ ≤ v] ≥ q · Σ Δtₖ``): e.g. the node count that covered
    95 % of the run. NaN over no time."""
    v = np.asarray(values, dtype=np.float64)
    dt = np.asarray(dt_s, dtype=np.float64)
    span = float(dt.sum())
    if not v.size or span <= 0:
        return math.nan
    order = np.argsort(v, kind="stable")
    held = np.cumsum(dt[order])
    at = int(np.searchsorted(held, q * span - 1e-9 * span, side="left"))
    return float(v[order][min(at, v.size - 1)])


def share_pct(part: float, whole: float) -> float:
    """``100 · part / whole``; NaN when ``whole`` is 0."""
    return 100.0 * part / whole if whole != 0 else math.nan


def utilization_pct(used: npt.ArrayLike, capacity: npt.ArrayLike, dt_s: npt.ArrayLike) -> float:
    """``100 · Σ usedₖ Δtₖ / Σ capacityₖ Δtₖ`` (time-weighted); 0 without any capacity."""
    total = time_integral(capacity, dt_s)
    return share_pct(time_integral(used, dt_s), total) if total > 0 else 0.0


def interval_error_rate(served_rate: npt.ArrayLike, dropped_rate: npt.ArrayLike) -> FloatArray:
    """Per interval ``dropped / (served + dropped)``: failed share of answered requests
    (0 where none was answered)."""
    served = np.asarray(served_rate, dtype=np.float64)
    dropped = np.asarray(dropped_rate, dtype=np.float64)
    answered = served + dropped
    return np.divide(dropped, answered, out=np.zeros_like(answered), where=answered > 0)


def slo_violation_time_pct(
    dt_s: npt.ArrayLike,
    p95_ms: npt.ArrayLike,
    error_rate: npt.ArrayLike,
    p95_target_ms: float | None,
    max_error_rate: float | None,
) -> float:
    """``100 · Σ Δtₖ [p95ₖ > target or errorₖ > max] / Σ Δtₖ``; NaN without any SLO.

    An interval that served nothing (p95 NaN) violates only through its error rate.
    """
    if p95_target_ms is None and max_error_rate is None:
        return math.nan
    dt = np.asarray(dt_s, dtype=np.float64)
    bad = np.zeros(dt.shape, dtype=bool)
    if p95_target_ms is not None:
        bad |= np.asarray(p95_ms, dtype=np.float64) > p95_target_ms
    if max_error_rate is not None:
        bad |= np.asarray(error_rate, dtype=np.float64) > max_error_rate
    return share_pct(float(dt @ bad), float(dt.sum()))


def slo_violation_requests_pct(late: float, served: float, dropped: float) -> float:
    """``100 · (late + dropped) / (served + dropped)``: requests over target or dropped.

    ``late = Σ servedᵢ · Pᵢ(T > target)`` (:meth:`LatencyMixture.tail` × requests).
    """
    return share_pct(late + dropped, served + dropped)


def empirical_quantile(values: npt.ArrayLike, q: float) -> float:
    """Linear-interpolation sample quantile (NumPy's default, type 7); NaN when empty."""
    data = np.asarray(values, dtype=np.float64)
    return float(np.quantile(data, q)) if data.size else math.nan


def job_stats(
    submit_s: npt.ArrayLike, start_s: npt.ArrayLike, end_s: npt.ArrayLike
) -> dict[str, Any]:
    """Batch jobs: wait = start − submit (started jobs), completion = end − submit (finished),
    makespan = last end − first submit (NaN until a job finishes); percentiles type 7."""
    submit = np.asarray(submit_s, dtype=np.float64)
    start = np.asarray(start_s, dtype=np.float64)
    end = np.asarray(end_s, dtype=np.float64)
    done = ~np.isnan(end)
    wait = (start - submit)[~np.isnan(start)]
    completion = (end - submit)[done]
    return {
        "jobs_submitted": int(submit.size),
        "jobs_completed": int(done.sum()),
        "wait_p50_s": empirical_quantile(wait, 0.5),
        "wait_p95_s": empirical_quantile(wait, 0.95),
        "completion_p50_s": empirical_quantile(completion, 0.5),
        "completion_p95_s": empirical_quantile(completion, 0.95),
        "makespan_s": float(end[done].max() - submit.min()) if done.any() else math.nan,
    }


# --- the summary -------------------------------------------------------------------------


def _col(rows: pd.DataFrame, name: str) -> FloatArray:
    return rows[name].to_numpy(dtype=np.float64)


def _resource_metrics(rows: pd.DataFrame, dt: FloatArray) -> dict[str, Any]:
    """CPU and replicas of one workload (``rows`` in time order); replicas = ready ones."""
    used, capacity = _col(rows, "cpu_used_cores"), _col(rows, "cpu_capacity_cores")
    requested = time_integral(_col(rows, "cpu_requested_cores"), dt)
    capacity_s = time_integral(capacity, dt)
    ready = rows["replicas_ready"].to_numpy()
    return {
        "utilization_pct": utilization_pct(used, capacity, dt),
        "cpu_used_core_hours": time_integral(used, dt) / 3600.0,
        "cpu_capacity_core_hours": capacity_s / 3600.0,
        "allocation_efficiency_pct": share_pct(requested, capacity_s) if requested else math.nan,
        "replicas_min": int(ready.min()),
        "replicas_mean": time_weighted_mean(ready, dt),
        "replicas_max": int(ready.max()),
    }


def _service_metrics(
    rows: pd.DataFrame,
    dt: FloatArray,
    components: LatencyComponents | LatencySamples | None,
    slo: tuple[float | None, float | None],
) -> dict[str, Any]:
    """Requests, pooled latency and SLO of one service (``rows`` in time order)."""
    target_ms, max_error = slo
    arrived = time_integral(_col(rows, "arrival_rate"), dt)
    retried = time_integral(_col(rows, "retry_rate"), dt)
    dropped = time_integral(_col(rows, "dropped_rate"), dt)
    mix = latency_law(components) if components is not None else EMPTY_MIXTURE
    served = mix.total_weight
    late = served * mix.tail(target_ms / 1000.0) if target_ms is not None and served else 0.0
    errors = interval_error_rate(_col(rows, "served_rate"), _col(rows, "dropped_rate"))
    with_slo = target_ms is not None or max_error is not None
    return {
        "requests_arrived": arrived,
        "requests_served": time_integral(_col(rows, "served_rate"), dt),
        "requests_dropped": dropped,
        "requests_abandoned": time_integral(_col(rows, "abandoned_rate"), dt),
        "requests_retried": retried,
        "requests_failed_after_retries": time_integral(_col(rows, "failed_rate"), dt),
        "requests_in_system_at_start": (
            components.in_system_at_start if components is not None else 0.0
        ),
        "requests_in_system_at_end": float(_col(rows, "in_system")[-1]) if len(rows) else 0.0,
        "dropped_pct": share_pct(dropped, arrived + retried),  # of the attempts
        "latency_mean_ms": 1000.0 * mix.mean_s(),
        "latency_p50_ms": 1000.0 * mix.quantile_s(0.50),
        "latency_p95_ms": 1000.0 * mix.quantile_s(0.95),
        "latency_p99_ms": 1000.0 * mix.quantile_s(0.99),
        **_confidence(mix),
        "slo_p95_ms": target_ms,
        "slo_max_error_rate": max_error,
        "slo_violation_time_pct": slo_violation_time_pct(
            dt, _col(rows, "latency_p95_ms"), errors, target_ms, max_error
        ),
        "slo_violation_requests_pct": (
            slo_violation_requests_pct(late, served, dropped) if with_slo else math.nan
        ),
    }


def _confidence(mix: LatencyMixture | EmpiricalLatency) -> dict[str, float]:
    """Measured latency (``service_model: exact``): the 95 % batch-means half-widths of
    the mean, p95 and p99 (ms), NaN where the run served too few requests for one."""
    if not isinstance(mix, EmpiricalLatency):
        return {}
    return {
        "latency_mean_ci95_ms": 1000.0 * mix.ci95_half_width_s(None),
        "latency_p95_ci95_ms": 1000.0 * mix.ci95_half_width_s(0.95),
        "latency_p99_ci95_ms": 1000.0 * mix.ci95_half_width_s(0.99),
    }


def _workload_summary(
    rec: Recording,
    platform: str,
    workload: str,
    rows: pd.DataFrame,
    scales: int,
    own: pd.DataFrame,
) -> dict[str, Any]:
    """One workload (its ``rows``, its ``scales`` scale events and its jobs ``own``):
    resources and scaling, then requests and SLO or jobs by its kind."""
    rows = rows.sort_values("time_s", kind="stable")
    dt = interval_lengths_s(rows["time_s"])
    kind = rec.workload_kinds.get(workload, "service")
    hours = rec.duration_s / 3600.0
    out: dict[str, Any] = {
        "kind": kind,
        **_resource_metrics(rows, dt),
        "scale_events": scales,
        "scale_events_per_hour": scales / hours if hours > 0 else math.nan,
    }
    if kind == "batch":
        gpu_hours = time_integral(_col(rows, "gpu_used"), dt) / 3600.0
        return (
            out
            | job_stats(own["submit_s"], own["start_s"], own["end_s"])
            | {"gpu_used_hours": gpu_hours}
        )
    slo = rec.slo.get(workload)
    components = rec.latency.get((platform, workload))
    targets = (slo.p95_latency_ms, slo.max_error_rate) if slo is not None else (None, None)
    metrics = _service_metrics(rows, dt, components, targets) | _token_metrics(components)
    return out | metrics | {"slo": _slo_verdict(rec, slo, components, metrics)}


def _token_metrics(
    components: LatencyComponents | LatencySamples | None,
) -> dict[str, float]:
    """An LLM service's TTFT and TPOT over the run (ms): the p50, p95 and p99 of its
    completions, quantiles as the measured latency's (TPOT: of the completions with at
    least two output tokens), and the p95's 95 % batch-means half-width; nothing for
    other services."""
    if not isinstance(components, LatencySamples) or components.ttft_s is None:
        return {}
    out: dict[str, float] = {}
    for name, values in (("ttft", components.ttft_s), ("tpot", components.tpot_s)):
        assert values is not None
        measured = EmpiricalLatency(values[np.isfinite(values)])
        for q in (50, 95, 99):
            out[f"{name}_p{q}_ms"] = 1000.0 * measured.quantile_s(q / 100.0)
        out[f"{name}_p95_ci95_ms"] = 1000.0 * measured.ci95_half_width_s(0.95)
    return out


def _token_objectives(
    rec: Recording, slo: Slo, components: LatencyComponents | LatencySamples | None
) -> tuple[LatencyObjective, ...]:
    """The TTFT and TPOT objectives an LLM service's SLO states, judged per window on the
    completions as the latency objective is."""
    if not isinstance(components, LatencySamples) or components.ttft_s is None:
        return ()
    n_ticks = round(rec.duration_s / rec.tick_s)
    judged = []
    for name, threshold, values in (
        ("TTFT", slo.p95_ttft_ms, components.ttft_s),
        ("TPOT", slo.p95_tpot_ms, components.tpot_s),
    ):
        if threshold is None or values is None or components.response_tick is None:
            continue
        keep = np.isfinite(values)
        timed = LatencySamples(values[keep], response_tick=components.response_tick[keep])
        served, late = served_and_late(timed, threshold / 1000.0, n_ticks)
        objective = latency_objective(
            threshold, slo.window_s, slo.objective_pct, served, late, rec.tick_s
        )
        judged.append(replace(objective, metric=name))
    return tuple(judged)


def _slo_verdict(
    rec: Recording,
    slo: Slo | None,
    components: LatencyComponents | LatencySamples | None,
    metrics: Mapping[str, Any],
) -> dict[str, object] | None:
    """The service's SLO judged by :mod:`capsim.models.slo` (None without an SLO)."""
    if slo is None:
        return None
    n_ticks = round(rec.duration_s / rec.tick_s)
    if components is not None:
        served, late = served_and_late(components, slo.p95_latency_ms / 1000.0, n_ticks)
    else:
        served = late = np.zeros(n_ticks)
    latency = latency_objective(
        slo.p95_latency_ms, slo.window_s, slo.objective_pct, served, late, rec.tick_s
    )
    errors = None
    if slo.max_error_rate is not None:
        errors = error_objective(
            slo.max_error_rate,
            float(metrics["requests_failed_after_retries"]),
            float(metrics["requests_arrived"]),
        )
    return SloVerdict(latency, errors, _token_objectives(rec, slo, components)).as_dict()


def _platform_summary(rows: pd.DataFrame, kind: str, duration_s: float) -> dict[str, Any]:
    """Cost and nodes: Kubernetes rows repeat the pool's nodes; VM rows count their own VMs."""
    per_time = rows.groupby("time_s", sort=True).agg(
        nodes=("nodes", "sum" if kind == "vm" else "max"),
        cost=("cost_usd", "max"),
        cpu=("platform_cpu_cores", "max"),
        memory=("platform_memory_bytes", "max"),
        used=("cpu_used_cores", "sum"),
        requested=("cpu_requested_cores", "sum"),
        memory_used=("memory_used_bytes", "sum"),
        gpus=("platform_gpus", "max"),
        gpu_used=("gpu_used", "sum"),
    )
    cost = float(per_time["cost"].iloc[-1]) if len(per_time) else math.nan
    nodes = per_time["nodes"].to_numpy(dtype=np.float64)
    dt = interval_lengths_s(per_time.index)

    def integral(name: str) -> float:
        return time_integral(per_time[name].to_numpy(dtype=np.float64), dt)

    bought_cpu, bought_memory = integral("cpu"), integral("memory")
    vcpus = per_time["cpu"].to_numpy(dtype=np.float64)
    per_hour = cost / (duration_s / 3600.0) if duration_s > 0 else math.nan
    return {
        "kind": kind,
        "cost_usd": cost,
        "cost_per_hour_usd": per_hour,
        "cost_per_30_days_usd": per_hour * 720.0,  # at the run's average hourly cost
        "nodes_mean": time_weighted_mean(nodes, dt),
        "nodes_p5": time_weighted_quantile(nodes, dt, 0.05),
        "nodes_p50": time_weighted_quantile(nodes, dt, 0.50),
        "nodes_p95": time_weighted_quantile(nodes, dt, 0.95),
        "nodes_max": float(nodes.max()) if nodes.size else math.nan,
        "vcpus_p95": time_weighted_quantile(vcpus, dt, 0.95),
        "vcpus_max": float(vcpus.max()) if vcpus.size else math.nan,
        "vcpu_hours": bought_cpu / 3600.0,
        "gpu_hours": integral("gpus") / 3600.0,
        "cpu_utilization_pct": share_pct(integral("used"), bought_cpu),
        "cpu_allocation_pct": share_pct(integral("requested"), bought_cpu),
        "memory_utilization_pct": share_pct(integral("memory_used"), bought_memory),
        "gpu_utilization_pct": share_pct(integral("gpu_used"), integral("gpus")),
    }


def _price_alternatives(
    config: Mapping[str, Any], entry: Mapping[str, Any], fees: float, duration_s: float
) -> dict[str, float]:
    """The platform's bill at its machines' other prices, where the scenario gives them
    and the platform has one machine type (several types: not projected, NaN).

    * ``cost_at_spot_usd``: every machine-hour at the spot price (preemptions are not
      modelled), plus the fees;
    * ``cost_committed_floor_usd``: the floor (``nodes_p5``: the machines held at least
      95 % of the time) at the committed-use price for the whole run, the rest of the
      machine cost at the on-demand price, plus the fees.
    """
    types = list(config.get("node_pools", []))
    if config.get("kind") == "vm":
        overrides = [w.get("instance") for w in config.get("workloads", {}).values()]
        types = [config.get("instance", {}), *(o for o in overrides if o)]
        types = [t for i, t in enumerate(types) if t not in types[:i]]
    out = {"cost_at_spot_usd": math.nan, "cost_committed_floor_usd": math.nan}
    if len(types) != 1 or not float(types[0].get("price_per_hour", 0.0)) > 0:
        return out
    machine = types[0]
    price = float(machine["price_per_hour"])
    machines_usd = float(entry["cost_usd"]) - fees
    if machine.get("spot_price_per_hour") is not None:
        out["cost_at_spot_usd"] = (
            machines_usd * float(machine["spot_price_per_hour"]) / price + fees
        )
    committed = machine.get("committed_price_per_hour")
    floor = float(entry.get("nodes_p5") or 0.0)
    if committed is not None and math.isfinite(floor):
        hours = duration_s / 3600.0
        rest = max(machines_usd - floor * hours * price, 0.0)
        out["cost_committed_floor_usd"] = floor * hours * float(committed) + rest + fees
    return out


def _rows_at(frame: pd.DataFrame, positions: Any) -> pd.DataFrame:
    """The rows of ``frame`` at the ascending positions ``positions`` (a groupby's
    ``indices``): a view when they are one block, else a copy."""
    at = np.asarray(positions, dtype=np.intp)
    if len(at) and at[-1] - at[0] == len(at) - 1:
        return frame.iloc[int(at[0]) : int(at[-1]) + 1]
    return frame.take(at)


def summarize(
    rec: Recording, timeseries: pd.DataFrame, events: pd.DataFrame, jobs: pd.DataFrame
) -> dict[str, Any]:
    """The run's JSON summary from conformed frames.

    ``{scenario, seed, duration_s, tick_s, record_every_s, scenario_as_run, platforms:
    {name: {kind, cost_usd (nodes or VMs, and fees), fees_usd (control plane and load
    balancer), cost_per_hour_usd, cost_per_30_days_usd, nodes_mean, nodes_p5,
    nodes_p50, nodes_p95, nodes_max (time-weighted levels), vcpus_p95, vcpus_max, vcpu_hours,
    gpu_hours (bought), cpu_utilization_pct,
    cpu_allocation_pct, memory_utilization_pct, gpu_utilization_pct (of the vCPUs, memory
    and GPUs bought; NaN without GPUs), workloads: {name:
    {kind, resources and scaling, then requests, latency and SLO (services) or jobs
    (batch)}}}}}``; the formulas are those of the functions above.
    """
    platforms: dict[str, Any] = {}
    # One pass over each table (grouping keeps the rows' order): the cost stays linear
    # in the number of workloads.
    # (Row positions, not copies: a platform's rows are one block, taken as a view; a
    # workload's rows are copied one workload at a time.)
    by_platform = {
        str(name): _rows_at(timeseries, at)
        for name, at in timeseries.groupby("platform", sort=False).indices.items()
    }
    scale_counts = events[events["kind"] == "scale"].groupby(["platform", "workload"]).size()
    scales = {key: int(n) for key, n in scale_counts.items()}
    job_groups = dict(tuple(jobs.groupby(["platform", "workload"], sort=False)))
    no_jobs = jobs.iloc[0:0]
    for platform in sorted(set(rec.platform_kinds) | set(by_platform)):
        rows = by_platform.get(platform, timeseries.iloc[0:0])
        kind = rec.platform_kinds.get(platform, "")
        groups = {str(w): at for w, at in rows.groupby("workload", sort=False).indices.items()}
        workloads = {
            w: _workload_summary(
                rec,
                platform,
                w,
                _rows_at(rows, groups[w]),
                scales.get((platform, w), 0),
                job_groups.get((platform, w), no_jobs),
            )
            for w in sorted(groups)
        }
        config = rec.scenario.get("platforms", {}).get(platform, {})
        fee_per_hour = float(config.get("control_plane_per_hour", 0.0)) + float(
            config.get("load_balancer_per_hour", 0.0)
        )
        entry = _platform_summary(rows, kind, rec.duration_s)
        fees = fee_per_hour * rec.duration_s / 3600.0
        platforms[platform] = (
            entry
            | {"fees_usd": fees}  # (in cost_usd)
            | _price_alternatives(config, entry, fees, rec.duration_s)
            | {"workloads": workloads}
        )
    summary: dict[str, Any] = _jsonable(
        {
            "scenario": rec.scenario_name,
            "seed": rec.seed,
            "duration_s": rec.duration_s,
            "tick_s": rec.tick_s,
            "record_every_s": rec.record_every_s,
            "platforms": platforms,
            "scenario_as_run": rec.scenario,
        }
    )
    return summary


def _jsonable(value: object) -> Any:
    """Plain JSON types: NumPy scalars unwrapped, NaN/±inf → None, tuples → lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    raise TypeError(f"summary: {type(value).__name__} is not JSON-serialisable: {value!r}")
