"""Platforms side by side: one table of metrics, the winner per row, ratios and a verdict.

:func:`compare` puts the platforms of one run next to each other (VMs vs containers,
HPA config A vs B); :func:`compare_runs` does the same for two saved runs, naming each
column ``label/platform``. Rows come from the run summary and from
:mod:`capsim.analysis.metrics` (elasticity, cost per million requests, time to capacity).

**The verdict** follows :data:`VERDICT_RULES` (printed in every report): each service's
SLO is judged by :mod:`capsim.models.slo` (a windowed latency objective and an error
ratio over the run, each with its error budget), and every objective of every platform is
listed with its measured value and the budget used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from capsim.analysis.metrics import (
    per_million_requests,
    platform_cost_split,
    scale_reversals,
    service_elasticity,
    time_at_level_pct,
)
from capsim.models.slo import LatencyObjective, SloVerdict, verdict_from_dict
from capsim.results.run_result import RunResult
from capsim.results.summary import interval_lengths_s

__all__ = ["VERDICT_RULES", "Column", "Comparison", "Row", "compare", "compare_runs"]

VERDICT_RULES = (
    "A service meets its SLO when every objective it has is met. Latency: the run is cut "
    "into consecutive windows (slo.window, default 5 minutes); a window is within the "
    "threshold when at most 5 % of the requests it served took longer than "
    "slo.p95_latency_ms; the objective is met when at least slo.objective_pct (default "
    "99 %) of the windows that served requests are. Errors (with slo.max_error_rate): "
    "requests that failed (refused, dropped, timed out or abandoned, after any retries) "
    "over requests that arrived, over the whole run, at most slo.max_error_rate. The "
    "error budget of an objective is what it allows to go wrong; 'budget used' is what "
    "went wrong as a share of it (over 100 %: missed).",
    "The winner is the cheapest platform per day among those that meet every SLO (when "
    "there is one) and complete as many jobs of every batch workload as any platform; a "
    "platform that completed fewer jobs never wins, whatever it costs.",
)
"""The rules behind the verdict, as sentences (reports print them)."""

Better = Literal["lower", "higher"] | None


@dataclass(frozen=True)
class Column:
    """One platform of one run, with what the comparison reads from it."""

    name: str  # shown in the table
    platform: dict[str, Any]  # the summary's platform entry
    elasticity: pd.DataFrame  # capsim.analysis.metrics.service_elasticity rows of this platform
    duration_s: float
    idle_cost_pct: float  # OpenCost: share of the cost no workload requested or used
    scaling: dict[str, dict[str, float]]  # workload → reversals_per_hour, not_ready_replica_min
    node_cap: tuple[int, str] | None = None  # the most nodes or VMs it may have, and of what
    # each service's SLO verdict, read once from the summary (None: a summary saved
    # before verdicts were recorded, which cannot be judged here)
    verdicts: dict[str, SloVerdict | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One metric across the columns; ``winner`` is ``None`` for ties or no ranking."""

    label: str
    unit: str
    values: dict[str, float]
    better: Better
    winner: str | None


@dataclass(frozen=True)
class Comparison:
    columns: list[str]
    rows: list[Row]
    verdict: list[str]  # sentences, most important first
    checks: list[str] = field(default_factory=list)  # what the runs' sanity checks found
    sizing: list[str] = field(default_factory=list)  # per platform: nodes and a suggestion

    def table(self) -> pd.DataFrame:
        """The rows as a frame: metric, unit, one column per platform, winner."""
        return pd.DataFrame(
            [
                {"metric": r.label, "unit": r.unit, **r.values, "winner": r.winner or ""}
                for r in self.rows
            ]
        )


def compare(result: RunResult) -> Comparison:
    """The platforms of one run side by side."""
    return _comparison(_columns(result, prefix=""), _checks(result, ""))


def compare_runs(a: RunResult, b: RunResult, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """Two runs side by side; columns are ``label/platform``."""
    if labels[0] == labels[1]:
        raise ValueError(f"the two runs need different labels, got {labels}")
    columns = _columns(a, f"{labels[0]}/") + _columns(b, f"{labels[1]}/")
    return _comparison(columns, _checks(a, f"{labels[0]}/") + _checks(b, f"{labels[1]}/"))


def _checks(result: RunResult, prefix: str) -> list[str]:
    """The run's sanity findings (:mod:`capsim.results.sanity`) as sentences."""
    return [
        f"{prefix}{c['platform']} · {c['workload']}: {c['message']}."
        for c in result.summary.get("checks", [])
    ]


def _columns(result: RunResult, prefix: str) -> list[Column]:
    summary = result.summary
    elasticity = service_elasticity(result)
    columns = []
    for name, platform in summary["platforms"].items():
        mine = (
            elasticity[elasticity["platform"] == name]
            if len(elasticity)
            else pd.DataFrame(columns=["platform", "workload"])
        )
        idle = platform_cost_split(result, name).idle_pct
        duration_s = float(summary["duration_s"])
        scaling = _scaling(result, name, duration_s)
        cap = _node_cap(summary["scenario_as_run"]["platforms"].get(name, {}))
        verdicts = _read_verdicts(platform)
        columns.append(
            Column(prefix + name, platform, mine, duration_s, idle, scaling, cap, verdicts)
        )
    return columns


def _node_cap(config: Mapping[str, Any]) -> tuple[int, str] | None:
    """The most nodes (Kubernetes: the pools' max_nodes) or VMs (the groups' max and the
    fixed instances) a platform may run, and what they are; None where nothing caps
    them (VM batch workers get a VM each)."""
    if config.get("kind") == "kubernetes":
        pools = config.get("node_pools", [])
        names = ", ".join(str(p.get("name")) for p in pools)
        return sum(int(p.get("max_nodes", 0)) for p in pools), f"node pool(s) {names}"
    total, scaled, batch = 0, False, False
    for workload in config.get("workloads", {}).values():
        scaling = workload.get("autoscaling")
        if scaling:
            total, scaled = total + int(scaling["max_instances"]), True
        elif workload.get("instances") is not None:
            total += int(workload["instances"])
        else:
            batch = True  # a batch workload: one VM per worker
    if batch:
        quota = config.get("max_batch_vms")
        if quota is None:
            return None  # no quota: nothing caps the batch VMs
        total, scaled = total + int(quota), True
    return total, "VMs" if scaled else "fixed"


def _scaling(result: RunResult, platform: str, duration_s: float) -> dict[str, dict[str, float]]:
    """Per workload: direction reversals per hour, and replica-minutes wanted but not
    ready (``∫ max(desired − ready, 0) dt``: pending, pulling, starting)."""
    reversals = scale_reversals(result.events[result.events["platform"] == platform])
    per_workload = dict(zip(reversals["workload"], reversals["reversals"], strict=True))
    ts = result.timeseries
    out = {}
    for workload, rows in ts[ts["platform"] == platform].groupby("workload", sort=True):
        rows = rows.sort_values("time_s", kind="stable")
        gap = (rows["replicas_desired"] - rows["replicas_ready"]).clip(lower=0)
        dt = interval_lengths_s(rows["time_s"].to_numpy(float))
        ceiling = _max_replicas(result.summary["scenario_as_run"], platform, str(workload))
        out[str(workload)] = {
            "reversals_per_hour": per_workload.get(workload, 0) / (duration_s / 3600),
            "not_ready_replica_min": float(gap.to_numpy(float) @ dt) / 60,
            "at_max_pct": (
                time_at_level_pct(rows["time_s"], rows["replicas_desired"], ceiling)
                if ceiling is not None
                else math.nan
            ),
        }
    return out


def _max_replicas(scenario: dict[str, Any], platform: str, workload: str) -> int | None:
    """The autoscaler's ceiling (an inline HPA's maxReplicas, or a VM group's max × app
    instances per VM); ``None`` for fixed sizes and HPA manifests given by path."""
    config = scenario["platforms"][platform]["workloads"][workload]
    if config.get("hpa"):
        return int(config["hpa"]["max_replicas"])
    scaling = config.get("autoscaling")
    if scaling:
        return int(scaling["max_instances"]) * int(config.get("per_vm", 1))
    return None


def _figure(column: Column, key: str) -> float:
    """A platform figure of the summary; NaN when a saved summary predates it."""
    value = column.platform.get(key)
    return float(value) if value is not None else math.nan


def _of(key: str) -> Callable[[Column], float]:
    return lambda c: _figure(c, key)


def _workloads(columns: list[Column], kind: str) -> list[str]:
    names: set[str] = set()
    for column in columns:
        names |= {w for w, s in column.platform["workloads"].items() if s["kind"] == kind}
    return sorted(names)


def _num(value: object) -> float:
    """A summary figure as a float: NaN where the run had none (JSON null)."""
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _workload_value(column: Column, workload: str, key: str) -> float:
    entry = column.platform["workloads"].get(workload)
    value = entry.get(key) if entry else None
    return float(value) if value is not None else math.nan


def _elasticity_value(column: Column, workload: str, key: str) -> float:
    rows = column.elasticity[column.elasticity["workload"] == workload]
    return float(rows[key].iloc[0]) if len(rows) else math.nan


def _served(column: Column) -> float:
    return sum(
        float(s.get("requests_served", 0.0))
        for s in column.platform["workloads"].values()
        if s["kind"] == "service"
    )


def _row(
    columns: list[Column], label: str, unit: str, better: Better, get: Callable[[Column], float]
) -> Row:
    values = {c.name: get(c) for c in columns}
    return Row(label, unit, values, better, _winner(values, better))


def _winner(values: Mapping[str, float], better: Better) -> str | None:
    known = {k: v for k, v in values.items() if not math.isnan(v)}
    if better is None or len(known) < 2:
        return None
    best = min(known.values()) if better == "lower" else max(known.values())
    leaders = [k for k, v in known.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=1e-12)]
    return leaders[0] if len(leaders) == 1 else None


def _rows(columns: list[Column]) -> list[Row]:
    rows = [
        _row(columns, "Cost", "USD", "lower", lambda c: _num(c.platform["cost_usd"])),
        _row(
            columns,
            "Cost per day",
            "USD/day",
            "lower",
            lambda c: _num(c.platform["cost_per_hour_usd"]) * 24,
        ),
        _row(
            columns,
            "CPU utilization of what was bought",
            "%",
            "higher",
            lambda c: _num(c.platform["cpu_utilization_pct"]),
        ),
        _row(
            columns,
            "Memory utilization of what was bought",
            "%",
            "higher",
            lambda c: _num(c.platform["memory_utilization_pct"]),
        ),
        _row(columns, "Idle share of the cost (OpenCost)", "%", "lower", lambda c: c.idle_cost_pct),
        _row(
            columns,
            "GPU utilization of what was bought",
            "%",
            "higher",
            lambda c: float(c.platform.get("gpu_utilization_pct") or math.nan),
        ),
        _row(
            columns,
            "of which fees (control plane, load balancer)",
            "USD",
            None,
            lambda c: _figure(c, "fees_usd") or math.nan,  # (no row without fees)
        ),
        _row(
            columns,
            "Cost at spot prices (preemptions not modelled)",
            "USD",
            "lower",
            _of("cost_at_spot_usd"),
        ),
        _row(
            columns,
            "Cost with the floor at committed-use prices",
            "USD",
            "lower",
            _of("cost_committed_floor_usd"),
        ),
        _row(
            columns,
            "Cost per 30 days, at this run's average hourly cost",
            "USD",
            "lower",
            lambda c: _figure(c, "cost_per_30_days_usd"),
        ),
        _row(columns, "Nodes or VMs, median (time-weighted)", "", None, _of("nodes_p50")),
        _row(columns, "Nodes or VMs, p95 (time-weighted)", "", None, _of("nodes_p95")),
        _row(columns, "Nodes or VMs, at most", "", None, lambda c: _num(c.platform["nodes_max"])),
        _row(columns, "vCPUs bought, p95 (time-weighted)", "", None, _of("vcpus_p95")),
        _row(columns, "vCPUs bought, at most", "", None, _of("vcpus_max")),
        _row(columns, "vCPU-hours bought", "h", None, _of("vcpu_hours")),
        _row(
            columns,
            "GPU-hours bought",
            "h",
            None,
            lambda c: _figure(c, "gpu_hours") or math.nan,  # (no row without GPUs)
        ),
    ]
    if _workloads(columns, "service"):
        rows.append(
            _row(
                columns,
                "Cost per million requests",
                "USD",
                "lower",
                lambda c: per_million_requests(_num(c.platform["cost_usd"]), _served(c)),
            )
        )
    for w in _workloads(columns, "service"):
        rows += _service_rows(columns, w)
    for w in _workloads(columns, "batch"):
        rows += _batch_rows(columns, w)
    return [r for r in rows if not all(math.isnan(v) for v in r.values.values())]


def _summary_of(w: str, key: str) -> Callable[[Column], float]:
    """Reads ``key`` of workload ``w`` from a column's summary."""
    return lambda c: _workload_value(c, w, key)


def _sampled_row(
    columns: list[Column], w: str, stat: str, timed: str = "latency", name: str = "latency"
) -> list[Row]:
    """The ``stat`` row of ``w``'s ``timed`` (``latency``; ``ttft``, ``tpot`` for LLM
    services, shown as ``name``); under ``service_model: exact`` also its 95 %
    interval's half-width, and no winner where the platforms' intervals overlap (the
    difference is then within what the sampling could give)."""
    label = f"{w}: {stat} {name}"
    row = _row(columns, label, "ms", "lower", _summary_of(w, f"{timed}_{stat}_ms"))
    half = _row(
        columns, f"{label}, 95 % interval ±", "ms", None, _summary_of(w, f"{timed}_{stat}_ci95_ms")
    )
    key = f"{timed}_{stat}_ci95_ms"
    sampled = any(key in (c.platform["workloads"].get(w) or {}) for c in columns)
    if not sampled:  # the expected model: no sampling noise, no interval
        return [row]
    if row.winner is None:
        return [row, half]
    best, h_best = row.values[row.winner], half.values[row.winner]
    for name, v in row.values.items():
        if name == row.winner or math.isnan(v):
            continue
        h = half.values[name]
        if math.isnan(h) or math.isnan(h_best) or abs(v - best) <= math.hypot(h, h_best):
            row = Row(row.label, row.unit, row.values, row.better, None)
            break
    return [row, half]


def _slo_value(w: str, get: Callable[[SloVerdict], float]) -> Callable[[Column], float]:
    """A figure of service ``w``'s SLO verdict on a column (NaN: no verdict)."""

    def read(column: Column) -> float:
        verdict = column.verdicts.get(w)
        return math.nan if verdict is None else get(verdict)

    return read


def _slo_met(w: str) -> Callable[[Column], float]:
    def read(column: Column) -> float:
        verdict = column.verdicts.get(w)
        met = None if verdict is None else verdict.met
        return math.nan if met is None else float(met)

    return read


def _service_rows(columns: list[Column], w: str) -> list[Row]:
    def value(key: str) -> Callable[[Column], float]:
        return _summary_of(w, key)

    def scaling(key: str) -> Callable[[Column], float]:
        return lambda c: float(c.scaling.get(w, {}).get(key, math.nan))

    def elastic(key: str) -> Callable[[Column], float]:
        return lambda c: _elasticity_value(c, w, key)

    return [
        *_sampled_row(columns, w, "p95"),
        *_sampled_row(columns, w, "p99"),
        *_sampled_row(columns, w, "p95", "ttft", "time to first token (TTFT)"),
        *_sampled_row(columns, w, "p95", "tpot", "time per output token (TPOT)"),
        _row(columns, f"{w}: SLO met (1 yes, 0 no)", "", "higher", _slo_met(w)),
        _row(
            columns,
            f"{w}: latency SLO, windows within the threshold",
            "%",
            "higher",
            _slo_value(w, lambda v: v.latency.compliance_pct if v.latency else math.nan),
        ),
        _row(
            columns,
            f"{w}: SLO error budget used (largest)",
            "%",
            "lower",
            _slo_value(w, lambda v: v.budget_used_pct),
        ),
        _row(columns, f"{w}: time over the SLO", "%", "lower", value("slo_violation_time_pct")),
        _row(
            columns,
            f"{w}: requests over the SLO",
            "%",
            "lower",
            value("slo_violation_requests_pct"),
        ),
        _row(columns, f"{w}: requests dropped", "%", "lower", value("dropped_pct")),
        _row(columns, f"{w}: replicas, mean", "", None, value("replicas_mean")),
        _row(columns, f"{w}: CPU utilization", "%", "higher", value("utilization_pct")),
        _row(columns, f"{w}: scale events per hour", "/h", "lower", value("scale_events_per_hour")),
        _row(
            columns,
            f"{w}: direction reversals per hour",
            "/h",
            "lower",
            scaling("reversals_per_hour"),
        ),
        _row(columns, f"{w}: time at the replica ceiling", "%", "lower", scaling("at_max_pct")),
        _row(
            columns,
            f"{w}: replica-minutes not ready",
            "min",
            "lower",
            scaling("not_ready_replica_min"),
        ),
        _row(
            columns,
            f"{w}: under-provisioned time (τ_U)",
            "%",
            "lower",
            elastic("under_time_pct"),
        ),
        _row(
            columns,
            f"{w}: over-provisioning (θ_O)",
            "% of demand",
            "lower",
            elastic("over_accuracy_pct"),
        ),
        _row(
            columns,
            f"{w}: time to capacity, median",
            "s",
            "lower",
            elastic("time_to_capacity_p50_s"),
        ),
    ]


def _batch_rows(columns: list[Column], w: str) -> list[Row]:
    def value(key: str) -> Callable[[Column], float]:
        return _summary_of(w, key)

    return [
        _row(columns, f"{w}: jobs completed", "", "higher", value("jobs_completed")),
        _row(columns, f"{w}: wait, median", "s", "lower", value("wait_p50_s")),
        _row(columns, f"{w}: wait, p95", "s", "lower", value("wait_p95_s")),
        _row(columns, f"{w}: completion, p95", "s", "lower", value("completion_p95_s")),
        _row(columns, f"{w}: CPU utilization", "%", "higher", value("utilization_pct")),
    ]


def _read_verdicts(platform: Mapping[str, Any]) -> dict[str, SloVerdict | None]:
    """Each service with an SLO on a platform (its summary entry): its verdict (None: a
    summary saved before verdicts were recorded, which cannot be judged here)."""
    out: dict[str, SloVerdict | None] = {}
    for name, s in platform["workloads"].items():
        if s["kind"] != "service":
            continue
        block = s.get("slo")
        if isinstance(block, dict):
            out[name] = verdict_from_dict(block)
        elif s.get("slo_p95_ms") is not None:
            out[name] = None
    return out


def _meets(column: Column) -> bool | None:
    """Every SLO of the platform met (True), one missed (False), or not all judged."""
    outcomes = [None if v is None else v.met for v in column.verdicts.values()]
    if any(o is False for o in outcomes):
        return False
    return None if any(o is None for o in outcomes) else True


def _jobs(column: Column) -> dict[str, float]:
    return {
        name: float(s.get("jobs_completed") or 0.0)
        for name, s in column.platform["workloads"].items()
        if s["kind"] == "batch"
    }


def _short_of_work(column: Column, columns: list[Column]) -> list[str]:
    """The batch workloads this column completed fewer jobs of than another column."""
    mine = _jobs(column)
    most = {w: max(_jobs(c).get(w, 0.0) for c in columns) for w in mine}
    return sorted(w for w, done in mine.items() if done < most[w])


def _verdict(columns: list[Column]) -> list[str]:
    """The verdict (rules: :data:`VERDICT_RULES`): the winner, then every SLO objective
    of every platform with its measured value and budget used, then each other platform
    against the winner."""
    if not columns:
        return []
    per_day = {c.name: _num(c.platform["cost_per_hour_usd"]) * 24 for c in columns}
    has_slo = any(c.verdicts for c in columns)
    full_work = [c for c in columns if not _short_of_work(c, columns)]
    eligible = [c for c in full_work if not has_slo or _meets(c) is True]
    lines = []
    best: Column | None = None
    if eligible:
        best = min(eligible, key=lambda c: per_day[c.name])
        fewer = len(full_work) < len(columns)
        if has_slo:
            what = "meets every SLO" + (" with all the batch work done" if fewer else "")
        else:
            what = "is the cheapest" + (" that completed all the batch work" if fewer else "")
        lines.append(f"{best.name} {what} at ${per_day[best.name]:,.2f}/day.")
    elif has_slo and not any(_meets(c) is False for c in full_work):
        lines.append("No platform can be said to meet every SLO (see below).")
    elif has_slo and len(full_work) < len(columns):
        lines.append("No platform meets every SLO while completing all the batch work.")
    elif has_slo:
        lines.append("No platform meets every SLO.")
    else:
        lines.append("No platform completed all the batch work another did.")
    for column in columns:
        for service, verdict in sorted(column.verdicts.items()):
            if verdict is None:
                lines.append(
                    f"{column.name} · {service}: no SLO verdict in this summary (saved by an "
                    "older capsim); run the scenario again to judge it."
                )
                continue
            lines += [f"{column.name} · {service}: {text}." for text in verdict.describe()]
    for column in columns:
        for workload in _short_of_work(column, columns):
            done = _jobs(column)[workload]
            most = max(_jobs(c).get(workload, 0.0) for c in columns)
            lines.append(
                f"{column.name} completed {done:,.0f} {workload} jobs, {most - done:,.0f} "
                "fewer than another platform: it cannot win on cost."
            )
    if best is not None:
        lines += _against(best, columns, per_day)
    return lines


def _against(best: Column, columns: list[Column], per_day: dict[str, float]) -> list[str]:
    """Each other platform against the winner: cost, and each SLO side by side (the
    measured values, whether or not the outcome is the same)."""
    out = []
    mine = best.verdicts
    for other in columns:
        if other is best:
            continue
        if per_day[other.name] > 0:
            saving = 100 * (1 - per_day[best.name] / per_day[other.name])
            cost = (
                f"{abs(saving):.0f} % {'lower' if saving >= 0 else 'higher'} cost"
                if abs(saving) >= 0.5
                else "the same cost"
            )
        else:
            cost = f"${per_day[best.name]:,.2f}/day against $0.00/day"
        parts = [cost]
        theirs = other.verdicts
        for service in sorted(set(mine) & set(theirs)):
            a, b = mine[service], theirs[service]
            if a is not None and b is not None:
                parts.append(f"{service}: {_side_by_side(best.name, a, other.name, b)}")
        out.append(f"{best.name} vs {other.name}: " + "; ".join(parts) + ".")
    return out


def _side_by_side(a_name: str, a: SloVerdict, b_name: str, b: SloVerdict) -> str:
    """Two verdicts of one service: the outcome, then the share of windows over the
    latency threshold and the largest error budget used, on each side."""
    if a.met is True and b.met is True:
        outcome = "both meet the SLO"
    elif a.met is False and b.met is False:
        outcome = "both miss the SLO"
    elif a.met is None or b.met is None:
        outcome = "not judged on both"
    else:
        winner, loser = (a_name, b_name) if a.met else (b_name, a_name)
        outcome = f"{winner} meets the SLO, {loser} does not"
    facts = []
    if a.latency is not None and b.latency is not None:
        facts.append(
            f"windows over the latency threshold {_share(a.latency)} vs {_share(b.latency)}"
        )
    facts.append(
        f"error budget used {_budget_text(a.budget_used_pct)} vs {_budget_text(b.budget_used_pct)}"
    )
    return f"{outcome} ({', '.join(facts)})"


def _share(latency: LatencyObjective) -> str:
    if not latency.windows:
        return "n/a"
    bad = 100.0 * (latency.windows - latency.good_windows) / latency.windows
    return f"{bad:.2f} %" if bad < 10 else f"{bad:.1f} %"


def _budget_text(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "all (zero budget)"
    return f"{value:,.0f} %" if value >= 10 else f"{value:.1f} %"


def _comparison(columns: list[Column], checks: list[str]) -> Comparison:
    rows = _rows(columns)
    sizing = [line for c in columns if (line := _sizing(c)) is not None]
    return Comparison([c.name for c in columns], rows, _verdict(columns), checks, sizing)


SIZING_HEADROOM = 1.25
"""The suggested maximum carries the run's peak with this much to spare (25 %)."""


def _sizing(column: Column) -> str | None:
    """The platform's nodes or VMs over the run (time-weighted levels) and the bounds
    that cover it: from the level it spent its quietest 5 % of the time at or below to
    :data:`SIZING_HEADROOM` × its peak; or, where it reached its cap, that the run cannot
    tell how many the load needs."""
    p = column.platform
    if any(p.get(k) is None for k in ("nodes_p5", "nodes_p50", "nodes_p95", "nodes_max")):
        return None
    what = "nodes" if p["kind"] == "kubernetes" else "VMs"
    low, mid, high, top = (int(p[k]) for k in ("nodes_p5", "nodes_p50", "nodes_p95", "nodes_max"))
    text = f"{column.name}: {what} p5 {low}, median {mid}, p95 {high}, at most {top}"
    if p.get("vcpus_max") is not None:
        text += f" ({float(p['vcpus_max']):,.0f} vCPUs at most)"
    cap = column.node_cap
    if cap is not None and cap[1] == "fixed":
        return f"{text}; a fixed size."
    if cap is not None and top >= cap[0]:
        return (
            f"{text}; it reached its cap of {cap[0]} ({cap[1]}): the run cannot tell how "
            "many the load needs; raise the cap and run again."
        )
    suggested = max(math.ceil(top * SIZING_HEADROOM), low)
    if cap is not None and suggested > cap[0]:
        suggested = cap[0]
    across = " in all" if cap is not None and "," in cap[1] else ""
    room = f"{(SIZING_HEADROOM - 1) * 100:.0f} % above its peak" + (
        ", within its cap" if cap else ""
    )
    return f"{text}; bounds of min {low}, max {suggested}{across} cover this run ({room})."
