"""``capsim validate``: replay recorded load through a real HPA and say PASS or FAIL.

The HPA manifest (and, when given, its Deployment) become a one-service scenario on a
node pool under the cluster autoscaler; the trace drives it through the engine with the
exact HPA maths. Facts the manifests do not give have defaults, and every default used is
listed as an *assumption* in the output.

**The verdict** (every threshold is an argument; the defaults are below and every one
in use is printed with the verdict):

* the service's SLO (:mod:`capsim.models.slo`) is missed → FAIL: its p95 latency over
  ``slo_p95_ms`` in more than ``100 − slo_objective_pct`` % (default 1 %) of the
  ``slo_window_s`` (default 5-minute) windows, or more than ``max_error_pct`` (default
  0.1 %) of the requests failed over the run; each objective is printed with its
  measured value and the share of its error budget used; a run that served no request
  cannot be judged → FAIL;
* the HPA sits at ``maxReplicas`` while latency is over the threshold or requests are
  dropped → FAIL (the ceiling is too low), with the spans at the ceiling;
* more than ``max_reversals_per_hour`` = 4 direction reversals (up after down, or down
  after up) per hour → FAIL (flapping);
* with ``max_utilization_pct``: pods use more CPU than that share of their request more
  than ``max_over_utilization_time_pct`` = 1 % of the time → FAIL.

Otherwise PASS, with the facts that support it (the SLO's objectives and budgets, peak
replicas against the ceiling, reversals, scale-up lag).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import capsim
from capsim.analysis.metrics import (
    platform_cost_split,
    row_spans,
    scale_reversals,
    service_demand,
    under_provisioned_episodes,
)
from capsim.engine.progress import ProgressCallback
from capsim.models.slo import verdict_from_dict
from capsim.results.run_result import RunResult
from capsim.results.summary import interval_lengths_s
from capsim.scenario import parse_scenario
from capsim.scenario.base import is_name
from capsim.scenario.keda import ScaledObjectSpec, load_scaled_objects
from capsim.scenario.load.specs import TraceLoad, parse_load_spec
from capsim.scenario.load.traces import read_trace
from capsim.scenario.manifests import (
    Deployment,
    HorizontalPodAutoscaler,
    ManifestError,
    check_containers,
    load_deployments,
    load_hpas,
    raw_objects,
)
from capsim.scenario.slo_defaults import (
    DEFAULT_SLO_OBJECTIVE_PCT,
    DEFAULT_SLO_WINDOW_S,
    DEFAULT_VALIDATE_MAX_ERROR_PCT,
)
from capsim.units import format_duration, parse_cpu_millicores, parse_memory_bytes

__all__ = [
    "NodePool",
    "ValidateInputs",
    "Validation",
    "build_scenario",
    "judge_run",
    "parse_node_pool",
    "select_hpa",
    "select_scaler",
    "validate",
]

DEFAULT_CPU_MS_PER_REQUEST = 50.0
DEFAULT_SLO_P95_MS = 300.0
DEFAULT_CPU_REQUEST = "500m"
DEFAULT_MEMORY_REQUEST = "512Mi"


@dataclass(frozen=True)
class NodePool:
    """``NAME:VCPU:MEMORY:PRICE_PER_HOUR``, e.g. ``general:4:16Gi:0.194``."""

    name: str = "general"
    vcpu: str = "4"
    memory: str = "16Gi"
    price_per_hour: float = 0.194

    def scenario_pool(self) -> dict[str, Any]:
        """The pool as a scenario's ``node_pools`` entry: 1 to 200 nodes, autoscaled."""
        return {
            "name": self.name,
            "vcpu": self.vcpu,
            "memory": self.memory,
            "price_per_hour": self.price_per_hour,
            "min_nodes": 1,
            "max_nodes": 200,
        }


def parse_node_pool(text: str) -> NodePool:
    """Parse ``NAME:VCPU:MEMORY:PRICE``; raises ``ValueError`` naming the bad part."""
    parts = text.split(":")
    if len(parts) != 4:
        raise ValueError(f"--node-pool: expected NAME:VCPU:MEMORY:PRICE, got {text!r}")
    name, vcpu, memory, price = parts
    try:
        vcpu_m = parse_cpu_millicores(vcpu)
        memory_b = parse_memory_bytes(memory)
        price_value = float(price)
    except ValueError as exc:
        raise ValueError(f"--node-pool {text!r}: {exc}") from None
    if not is_name(name):
        raise ValueError(f"--node-pool {text!r}: NAME must be a DNS label, got {name!r}")
    if vcpu_m <= 0 or memory_b <= 0:
        raise ValueError(f"--node-pool {text!r}: VCPU and MEMORY must be > 0")
    if price_value < 0 or not math.isfinite(price_value):
        raise ValueError(f"--node-pool {text!r}: price must be >= 0, got {price!r}")
    return NodePool(name, vcpu, memory, price_value)


@dataclass(frozen=True)
class ValidateInputs:
    """What ``capsim validate`` was given (``None``: use the documented default)."""

    hpa: Path
    trace: Path
    deployment: Path | None = None
    column: str = "requests_per_s"
    scale: float = 1.0
    start_s: float | None = None
    end_s: float | None = None
    cpu_ms_per_request: float | None = None
    concurrency: int = 1
    slo_p95_ms: float | None = None
    slo_window_s: float = DEFAULT_SLO_WINDOW_S
    slo_objective_pct: float = DEFAULT_SLO_OBJECTIVE_PCT
    max_error_pct: float = DEFAULT_VALIDATE_MAX_ERROR_PCT
    max_utilization_pct: float | None = None
    max_over_utilization_time_pct: float = 1.0
    max_reversals_per_hour: float = 4.0
    node_pool: NodePool = field(default_factory=NodePool)
    seed: int = 0
    keda_metrics: tuple[tuple[str, str], ...] = ()  # a ScaledObject's triggers → metrics


@dataclass(frozen=True)
class Validation:
    """The verdict, its reasons, the assumptions made, key metrics and the decision log."""

    passed: bool
    reasons: list[str]
    assumptions: list[str]
    metrics: dict[str, float]
    decisions: pd.DataFrame
    result: RunResult
    warnings: list[str] = field(default_factory=list)  # the run's checks (results.sanity)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def as_json(self) -> dict[str, Any]:
        decisions = self.decisions.replace({np.nan: None}).to_dict(orient="records")
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "assumptions": self.assumptions,
            "metrics": self.metrics,
            "decisions": decisions,
        }


def select_hpa(path: Path, deployment: Path | None) -> HorizontalPodAutoscaler:
    """The HPA to validate: the only one in ``path``, or the one whose scale target is the
    Deployment given."""
    hpas = load_hpas(path)
    if len(hpas) > 1 and deployment is not None:
        names = {d.metadata.name for d in load_deployments(deployment)}
        hpas = [h for h in hpas if h.spec.scale_target_ref.name in names] or hpas
    if len(hpas) != 1:
        found = [h.metadata.name for h in hpas]
        raise ManifestError(
            f"{path}: expected one HorizontalPodAutoscaler, found {found}; give the "
            "--deployment it scales, or one HPA per file"
        )
    return hpas[0]


Scaler = HorizontalPodAutoscaler | ScaledObjectSpec
"""What ``--hpa`` names: an HPA, or a KEDA ScaledObject's spec."""


def select_scaler(path: Path, deployment: Path | None) -> Scaler:
    """The HPA to validate (:func:`select_hpa`), or, in a file that holds KEDA
    ScaledObjects and no HPA, the only ScaledObject, or the one whose
    ``scaleTargetRef`` is the Deployment given."""
    kinds = {str(doc.body.get("kind")) for doc in raw_objects(path)}
    if "HorizontalPodAutoscaler" in kinds or "ScaledObject" not in kinds:
        return select_hpa(path, deployment)
    found = load_scaled_objects(path)
    if len(found) > 1 and deployment is not None:
        names = {d.metadata.name for d in load_deployments(deployment)}
        found = [
            s for s in found if s.scale_target_ref and s.scale_target_ref.name in names
        ] or found
    if len(found) != 1:
        raise ManifestError(
            f"{path}: expected one ScaledObject, found {len(found)}; give the --deployment it "
            "scales, or one ScaledObject per file"
        )
    if found[0].scale_target_ref is None:
        raise ManifestError(f"{path}: spec.scaleTargetRef: required for a ScaledObject")
    return found[0]


def max_replicas_of(scaler: Scaler) -> int:
    """The most replicas the scaler allows."""
    if isinstance(scaler, ScaledObjectSpec):
        return scaler.max_replica_count
    return scaler.spec.max_replicas


def _deployment(path: Path | None, target: str) -> Deployment | None:
    if path is None:
        return None
    found = load_deployments(path)
    matching = [d for d in found if d.metadata.name == target]
    if not matching:
        names = [d.metadata.name for d in found]
        raise ManifestError(f"{path}: no Deployment named {target!r} (found {names})")
    return matching[0]


def _pod(deployment: Deployment | None, assumptions: list[str]) -> dict[str, Any]:
    """The pod template of the scenario, from the Deployment where it says."""
    if deployment is None:
        assumptions.append(
            f"no Deployment given: each pod requests {DEFAULT_CPU_REQUEST} CPU and "
            f"{DEFAULT_MEMORY_REQUEST} memory, no CPU limit, readiness after ~10 s"
        )
        return {"cpu_request": DEFAULT_CPU_REQUEST, "memory_request": DEFAULT_MEMORY_REQUEST}
    cpu = deployment.pod_request_milli("cpu")
    if cpu is None:
        raise ManifestError(
            f"{deployment.source}: Deployment/{deployment.metadata.name}: containers "
            f"{deployment.containers_without_request('cpu')} request no cpu: the HPA cannot "
            "compute CPU utilization"
        )
    where = f"{deployment.source}: Deployment/{deployment.metadata.name}"
    if cpu <= 0:
        raise ManifestError(
            f"{where}: the pod requests 0 cpu: the HPA cannot compute CPU utilization"
        )
    memory = deployment.pod_request_milli("memory")
    containers = deployment.spec.template.spec.containers
    for i, container in enumerate(containers):
        for resource in ("cpu", "memory"):
            request = container.resources.requests.get(resource)
            limit = container.resources.limits.get(resource)
            if request is not None and limit is not None and limit < request:
                raise ManifestError(
                    f"{where}: spec.template.spec.containers[{i}].resources.requests."
                    f"{resource}: must be less than or equal to the {resource} limit "
                    "(the API server refuses it)"
                )
    limits = [c.resources.limits.get("cpu") for c in containers]
    pod: dict[str, Any] = {"cpu_request": f"{cpu}m"}
    if memory is None:
        assumptions.append(f"the pod requests no memory: {DEFAULT_MEMORY_REQUEST} assumed")
        pod["memory_request"] = DEFAULT_MEMORY_REQUEST
    else:
        pod["memory_request"] = math.ceil(memory / 1000)
    if all(limit is not None for limit in limits):
        pod["cpu_limit"] = f"{sum(limit for limit in limits if limit is not None)}m"
    else:
        assumptions.append("no CPU limit on every container: a pod uses at most its request")
    probes = [c.readiness_probe for c in containers if c.readiness_probe is not None]
    if probes:
        delay = max(p.initial_delay_seconds for p in probes)
        pod["readiness_delay"] = f"{delay}s"
    else:
        assumptions.append("no readiness probe: ready ~10 s after start (median)")
    return pod


def _window(inputs: ValidateInputs) -> tuple[dict[str, Any], float]:
    """The trace load spec and the run's duration (the trace's window)."""
    load: dict[str, Any] = {
        "type": "trace",
        "path": str(inputs.trace.resolve()),
        "column": inputs.column,
        "scale": inputs.scale,
        "gaps": "hold",
    }
    if inputs.start_s is not None:
        load["start"] = inputs.start_s
    if inputs.end_s is not None:
        load["end"] = inputs.end_s
    names = {"scale": "--scale", "start": "--start", "end": "--end", "column": "--column"}
    spec = parse_load_spec(load, where="capsim validate", names=names | {"path": "--trace"})
    if not isinstance(spec, TraceLoad):  # pragma: no cover - built as a trace above
        raise TypeError(f"a trace load spec expected, got {type(spec).__name__}")
    trace = read_trace(spec, base_dir=Path("."), where="--trace")
    duration = math.floor(trace.span_s / trace.step_s) * trace.step_s
    if duration <= 0:
        raise ValueError(f"--trace {inputs.trace}: the window holds no whole step")
    if not np.any(trace.values > 0):
        raise ValueError(
            f"--trace {inputs.trace}: every value in the window is 0 (column "
            f"{inputs.column or 'the first'}, after --scale): no load, so nothing about the "
            "HPA can be validated"
        )
    return load, duration


def build_scenario(
    inputs: ValidateInputs, hpa: Scaler | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The one-service scenario the validation runs, and the assumptions behind it
    (``hpa``: the one :func:`select_scaler` picks, if already read)."""
    assumptions: list[str] = []
    hpa = hpa or select_scaler(inputs.hpa, inputs.deployment)
    scaling: dict[str, Any]
    if isinstance(hpa, ScaledObjectSpec):
        assert hpa.scale_target_ref is not None  # select_scaler: required
        target = hpa.scale_target_ref.name
        deployment = _deployment(inputs.deployment, target)
        pod = _pod(deployment, assumptions)
        scaling = {
            "keda_manifest": str(inputs.hpa.resolve()),
            "keda_metrics": dict(inputs.keda_metrics),
        }
    else:
        target = hpa.spec.scale_target_ref.name
        deployment = _deployment(inputs.deployment, target)
        pod = _pod(deployment, assumptions)
        if deployment is not None and any(m.container for m in hpa.spec.metrics):
            check_containers(hpa, deployment)  # ContainerResource: the container must exist
            pod["containers"] = deployment.container_requests()
        scaling = {"hpa_manifest": str(inputs.hpa.resolve())}
    cpu_ms = inputs.cpu_ms_per_request
    if cpu_ms is None:
        cpu_ms = DEFAULT_CPU_MS_PER_REQUEST
        assumptions.append(f"{cpu_ms:g} ms of CPU per request (give --cpu-ms-per-request)")
    slo = inputs.slo_p95_ms
    if slo is None:
        slo = DEFAULT_SLO_P95_MS
        assumptions.append(f"SLO: p95 latency {slo:g} ms (give --slo-p95-ms)")
    assumptions.append(
        f"SLO objectives: p95 within {slo:g} ms in ≥ {inputs.slo_objective_pct:g} % of "
        f"{format_duration(inputs.slo_window_s)} windows (--slo-objective-pct, --slo-window), "
        f"≤ {inputs.max_error_pct:g} % of requests failed over the run (--slo-max-error-pct)"
    )
    assumptions.append(
        f"{inputs.concurrency} request(s) at a time per pod, exponential service times (M/M/c)"
    )
    pool = inputs.node_pool
    assumptions.append(
        f"node pool {pool.name}: {pool.vcpu} vCPU, {pool.memory}, ${pool.price_per_hour}/h, "
        "1 to 200 nodes under the cluster autoscaler (GKE reservations)"
    )
    load, duration = _window(inputs)
    scenario = {
        "name": workload_name(target),
        "description": f"capsim validate: {inputs.hpa} against {inputs.trace}",
        "seed": inputs.seed,
        "duration": duration,
        "workloads": [
            {
                "kind": "service",
                "name": workload_name(target),
                "load": load,
                "cpu_ms_per_request": cpu_ms,
                "concurrency": inputs.concurrency,
                "slo": {
                    "p95_latency_ms": slo,
                    "window": inputs.slo_window_s,
                    "objective_pct": inputs.slo_objective_pct,
                    "max_error_rate": inputs.max_error_pct / 100.0,
                },
            }
        ],
        "platforms": {
            "hpa": {
                "kind": "kubernetes",
                "node_pools": [pool.scenario_pool()],
                "workloads": {workload_name(target): {"pod": pod, **scaling}},
            }
        },
    }
    return scenario, assumptions


def workload_name(target: str) -> str:
    """A Kubernetes object name as a scenario workload name (DNS label: a-z, 0-9, -)."""
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in target.lower())
    return cleaned.strip("-")[:63] or "service"


def _clock(offset_s: float) -> str:
    """``day N HH:MM`` from the start of the trace window (day 1 at 00:00)."""
    day, rest = divmod(round(offset_s), 86_400)
    return f"day {day + 1} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _span_text(spans: np.ndarray, limit: int = 3) -> str:
    shown = [f"{_clock(a)}–{_clock(b)[-5:]}" for a, b in spans[:limit].tolist()]
    more = f" and {len(spans) - limit} more" if len(spans) > limit else ""
    return ", ".join(shown) + more


def validate(inputs: ValidateInputs, progress: bool | ProgressCallback = False) -> Validation:
    """Run the validation (see the module docstring). Raises ``ScenarioError``,
    ``ManifestError``, ``WorkloadError`` or ``ValueError`` on bad input. ``progress``: as
    :func:`capsim.run`'s (a bar on stderr, or a callback)."""
    scaler = select_scaler(inputs.hpa, inputs.deployment)
    data, assumptions = build_scenario(inputs, scaler)
    scenario = parse_scenario(data, where="capsim validate", base_dir=Path("."))
    result = capsim.run(scenario, progress=progress)
    name = scenario.workloads[0].name
    return judge_run(result, name, max_replicas_of(scaler), inputs, assumptions)


def judge_run(
    result: RunResult,
    name: str,
    max_replicas: int,
    inputs: ValidateInputs,
    assumptions: list[str],
) -> Validation:
    summary = result.summary["platforms"]["hpa"]["workloads"][name]
    ts = result.timeseries.sort_values("time_s", kind="stable")
    time_s = ts["time_s"].to_numpy(np.float64)
    dt = interval_lengths_s(time_s)
    hours = float(result.summary["duration_s"]) / 3600
    verdict = verdict_from_dict(summary["slo"])
    latency, errors = verdict.latency, verdict.errors
    assert latency is not None  # validate always sets a p95 threshold
    slo_ms = latency.threshold_ms
    p95 = ts["latency_p95_ms"].to_numpy(np.float64)
    dropped = ts["dropped_rate"].to_numpy(np.float64) > 0
    missed = np.nan_to_num(p95, nan=0.0) > slo_ms
    at_max = ts["replicas_desired"].to_numpy() >= max_replicas
    reversals = scale_reversals(result.events)
    flips = int(reversals["reversals"].sum()) if len(reversals) else 0
    reasons: list[str] = []

    # the SLO's objectives first, met or not, each with its value and budget used
    where = f", first minutes over: {_span_text(row_spans(time_s, missed))}" if missed.any() else ""
    reasons.append(f"SLO {latency.describe()}{where if latency.met is not True else ''}")
    passed = latency.met is True
    if errors is not None:
        where = f", first: {_span_text(row_spans(time_s, dropped))}" if dropped.any() else ""
        reasons.append(f"SLO {errors.describe()}{where if errors.met is not True else ''}")
        passed = passed and errors.met is True
    if (at_max & (missed | dropped)).any():
        passed = False
        reasons.append(
            f"maxReplicas={max_replicas} reached while latency was over {slo_ms:g} ms or "
            f"requests were dropped: {_span_text(row_spans(time_s, at_max))}; the load "
            "needed more replicas"
        )
    elif at_max.any():
        reasons.append(
            f"maxReplicas={max_replicas} reached without missing the SLO: "
            f"{_span_text(row_spans(time_s, at_max))}"
        )
    per_hour = flips / hours if hours > 0 else 0.0
    if per_hour > inputs.max_reversals_per_hour:
        passed = False
        reasons.append(
            f"{per_hour:.1f} direction reversals per hour (flapping; at most "
            f"{inputs.max_reversals_per_hour:g} allowed)"
        )
    if inputs.max_utilization_pct is not None:
        used = ts["cpu_used_cores"].to_numpy(np.float64)
        requested = ts["cpu_requested_cores"].to_numpy(np.float64)
        share = np.where(requested > 0, 100 * used / np.where(requested > 0, requested, 1), 0)
        over = share > inputs.max_utilization_pct
        over_pct = 100 * float(dt[over].sum()) / float(dt.sum())
        if over_pct > inputs.max_over_utilization_time_pct:
            passed = False
            reasons.append(
                f"pods above {inputs.max_utilization_pct:g} % of their CPU request for "
                f"{over_pct:.1f} % of the time (at most "
                f"{inputs.max_over_utilization_time_pct:g} % allowed)"
            )
    if passed:
        reasons.insert(
            len(verdict.describe()),
            f"peak {int(summary['replicas_max'])} of maxReplicas={max_replicas}; "
            f"{per_hour:.1f} direction reversals per hour (at most "
            f"{inputs.max_reversals_per_hour:g})",
        )
    _, demand = service_demand(result, "hpa", name)
    supply = ts["replicas_ready"].to_numpy(np.float64)
    spells = under_provisioned_episodes(time_s, demand, supply)
    lag = float(spells.mean()) if spells.size else 0.0
    if spells.size:
        reasons.append(f"scale-up lagged demand by {lag:.0f} s on average ({spells.size} times)")
    metrics = {
        "slo_violation_pct": float(summary["slo_violation_time_pct"]),
        "slo_latency_windows_within_pct": latency.compliance_pct,
        "slo_error_rate_pct": math.nan if errors is None else 100.0 * errors.error_rate,
        "slo_budget_used_pct": verdict.budget_used_pct,
        "latency_p95_ms": float(summary["latency_p95_ms"]),
        "replicas_max": float(summary["replicas_max"]),
        "time_at_max_replicas_s": float(dt[at_max].sum()),
        "scale_events": float(summary["scale_events"]),
        "direction_reversals_per_hour": per_hour,
        "cost_usd": float(result.summary["platforms"]["hpa"]["cost_usd"]),
        "workload_cost_usd": platform_cost_split(result, "hpa").workloads_usd[name],
        "dropped_pct": float(summary["dropped_pct"]),
        "scale_up_lag_mean_s": lag,
    }
    events = result.events
    decisions = events[events["kind"].isin(["scale", "hpa_hold"])][
        ["time_s", "kind", "from", "to", "reason", "detail"]
    ].reset_index(drop=True)
    warnings = [str(c["message"]) for c in result.summary.get("checks", [])]
    return Validation(passed, reasons, assumptions, metrics, decisions, result, warnings)
