"""Platforms side by side: one table of metrics, the winner per row, ratios and a verdict.

:func:`compare` puts the platforms of one run next to each other (VMs vs containers,
HPA config A vs B); :func:`compare_runs` does the same for two saved runs, naming each
column ``label/platform``. Rows come from the run summary and from
:mod:`capsim.analysis.metrics` (elasticity, cost per million requests, time to capacity).

**The verdict** names, among the platforms that meet every SLO, the cheapest; and how
long the others miss it. A service *meets its SLO* on a platform when its p95 latency is
over target (or its error rate over the limit) in at most ``SLO_SLACK_PCT`` of the time.
Batch workloads have no SLO here; their waits are in the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from capsim.analysis.metrics import (
    per_million_requests,
    platform_cost_split,
    scale_reversals,
    service_elasticity,
    time_at_level_pct,
)
from capsim.results.run_result import RunResult
from capsim.results.summary import interval_lengths_s

__all__ = ["SLO_SLACK_PCT", "Column", "Comparison", "Row", "compare", "compare_runs"]

SLO_SLACK_PCT = 1.0  # a service meets its SLO when it misses it at most this share of time

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
    return _comparison(_columns(result, prefix=""))


def compare_runs(a: RunResult, b: RunResult, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """Two runs side by side; columns are ``label/platform``."""
    if labels[0] == labels[1]:
        raise ValueError(f"the two runs need different labels, got {labels}")
    return _comparison(_columns(a, f"{labels[0]}/") + _columns(b, f"{labels[1]}/"))


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
        columns.append(Column(prefix + name, platform, mine, duration_s, idle, scaling))
    return columns


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


def _workloads(columns: list[Column], kind: str) -> list[str]:
    names: set[str] = set()
    for column in columns:
        names |= {w for w, s in column.platform["workloads"].items() if s["kind"] == kind}
    return sorted(names)


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
        _row(columns, "Cost", "USD", "lower", lambda c: float(c.platform["cost_usd"])),
        _row(
            columns,
            "Cost per day",
            "USD/day",
            "lower",
            lambda c: float(c.platform["cost_per_hour_usd"]) * 24,
        ),
        _row(
            columns,
            "CPU utilization of what was bought",
            "%",
            "higher",
            lambda c: float(c.platform["cpu_utilization_pct"]),
        ),
        _row(
            columns,
            "Memory utilization of what was bought",
            "%",
            "higher",
            lambda c: float(c.platform["memory_utilization_pct"]),
        ),
        _row(columns, "Idle share of the cost (OpenCost)", "%", "lower", lambda c: c.idle_cost_pct),
        _row(
            columns,
            "GPU utilization of what was bought",
            "%",
            "higher",
            lambda c: float(c.platform.get("gpu_utilization_pct") or math.nan),
        ),
        _row(columns, "Nodes or VMs, at most", "", None, lambda c: float(c.platform["nodes_max"])),
    ]
    if _workloads(columns, "service"):
        rows.append(
            _row(
                columns,
                "Cost per million requests",
                "USD",
                "lower",
                lambda c: per_million_requests(float(c.platform["cost_usd"]), _served(c)),
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


def _sampled_row(columns: list[Column], w: str, stat: str) -> list[Row]:
    """The ``stat`` latency row of ``w``; under ``service_model: exact`` also its 95 %
    interval's half-width, and no winner where the platforms' intervals overlap (the
    difference is then within what the sampling could give)."""
    label = f"{w}: {stat} latency"
    row = _row(columns, label, "ms", "lower", _summary_of(w, f"latency_{stat}_ms"))
    half = _row(
        columns, f"{label}, 95 % interval ±", "ms", None, _summary_of(w, f"latency_{stat}_ci95_ms")
    )
    key = f"latency_{stat}_ci95_ms"
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


def _slo_misses(column: Column) -> dict[str, float]:
    """Minutes over the SLO of each service with one, on this column's platform."""
    misses = {}
    for name, s in column.platform["workloads"].items():
        if s["kind"] != "service" or (
            s.get("slo_p95_ms") is None and not s.get("slo_max_error_rate")
        ):
            continue
        share = float(s.get("slo_violation_time_pct") or 0.0)
        misses[name] = share
    return misses


def _meets(column: Column) -> bool:
    return all(share <= SLO_SLACK_PCT for share in _slo_misses(column).values())


def _verdict(columns: list[Column], rows: list[Row]) -> list[str]:
    if not columns:
        return []
    per_day = {c.name: float(c.platform["cost_per_hour_usd"]) * 24 for c in columns}
    meeting = [c for c in columns if _meets(c)]
    lines = []
    if meeting:
        best = min(meeting, key=lambda c: per_day[c.name])
        has_slo = any(_slo_misses(c) for c in columns)
        lines.append(
            f"{best.name} {'meets every SLO' if has_slo else 'is cheapest'} "
            f"at ${per_day[best.name]:,.2f}/day."
        )
    else:
        best = min(columns, key=lambda c: per_day[c.name])
        lines.append("No platform meets every SLO.")
    for column in columns:
        for workload, share in sorted(_slo_misses(column).items()):
            if share > SLO_SLACK_PCT:
                minutes = share / 100 * column.duration_s / 60
                lines.append(
                    f"{column.name} misses the {workload} SLO for {_duration_text(minutes)} "
                    f"({share:.1f} % of the time) at ${per_day[column.name]:,.2f}/day."
                )
    lines += _ratios(best, columns, per_day, rows)
    return lines


def _ratios(
    best: Column, columns: list[Column], per_day: dict[str, float], rows: list[Row]
) -> list[str]:
    out = []
    for other in columns:
        if other is best or per_day[other.name] <= 0:
            continue
        saving = 100 * (1 - per_day[best.name] / per_day[other.name])
        parts = [
            f"{abs(saving):.0f} % {'lower' if saving >= 0 else 'higher'} cost"
            if abs(saving) >= 0.5
            else "the same cost"
        ]
        for row in rows:
            if row.label.endswith("time to capacity, median"):
                mine, theirs = row.values[best.name], row.values[other.name]
                if mine > 0 and theirs > 0 and not math.isclose(mine, theirs, rel_tol=0.05):
                    factor = theirs / mine
                    parts.append(
                        f"{factor:.1f}× faster to capacity"
                        if factor > 1
                        else f"{1 / factor:.1f}× slower to capacity"
                    )
                break
        same_slo = _meets(best) == _meets(other)
        parts.append("same SLO outcome" if same_slo else "meets the SLO where it does not")
        out.append(f"{best.name} vs {other.name}: " + ", ".join(parts) + ".")
    return out


def _duration_text(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _comparison(columns: list[Column]) -> Comparison:
    rows = _rows(columns)
    return Comparison([c.name for c in columns], rows, _verdict(columns, rows))
