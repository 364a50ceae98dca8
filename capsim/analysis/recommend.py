"""``capsim recommend``: the cheapest HPA settings that hold the SLO on recorded load.

Candidates vary the target (the CPU target utilization or, for an HPA without one, the
``averageValue`` or ``value`` of its first Pods, Object or External metric:
:func:`tuned_target`) and the scaling behavior (presets below) of the given HPA, and its
bounds: with each CPU target, the HPA's own ``minReplicas`` and ``maxReplicas``, its
``minReplicas`` with the ``maxReplicas`` the trace's peak demand needs at that target,
and both bounds from the demand (:func:`demand_bounds`); with a value target the HPA's
own; or only the ``maxReplicas`` values given (``--max-replicas``). They keep its
metrics and scale target. Each candidate runs through the
engine exactly as ``capsim validate`` runs the current HPA (same scenario, same seed),
in parallel (:func:`capsim.analysis.sweep.map_runs`), and is judged by the same rules.

**Cost** here is the service's own share of the cluster (OpenCost: its max(request,
usage) at the node's per-resource price, :func:`capsim.analysis.metrics.platform_cost_split`),
not the node bill, which moves only in whole nodes and carries the cluster's minimum; the
answer states both, each labelled, for the recommendation and the current HPA.

**Choice.** Among candidates that PASS with a margin (at most :data:`MARGIN_BUDGET_PCT` =
50 % of every SLO error budget used: :mod:`capsim.models.slo`), and the current HPA if it
passes, the cheapest; ties go to fewer scale events. So the recommendation never costs
more than a current HPA that passes. The **Pareto front** lists the candidates no other
beats on both cost and SLO error budget used.

**Behavior presets** (``spec.behavior``):

* ``default``: none (the API server's defaults);
* ``fast-up``: scale up by up to 200 % or 10 pods every 15 s, no stabilization;
* ``conservative-down``: scale-ups must hold for 2 minutes; scale-downs follow the
  highest recommendation of 15 minutes, one pod per 2 minutes;
* ``current``: the HPA's own behavior.

**Two stages.** Every candidate is first *screened* by the batched fast path
(:mod:`capsim.fastpath.evaluate`: all candidates in one compiled pass over the trace). The
validation scenario has random start-up delays and a cluster autoscaler, which the fast
path only approximates (mean delays, nodes always with room), so the screen ranks; the
engine decides: the current HPA and the cheapest candidates that pass the screen are run
through the engine, in order, until one passes there with the margin. Only
engine-confirmed candidates are chosen, so ``capsim validate`` on the recommendation
gives the same PASS. Where the fast path cannot even approximate the HPA (several
metrics, memory), every candidate runs through the engine.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from capsim.analysis.parallel import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    map_runs,
)
from capsim.analysis.validate import (
    DEFAULT_SLO_P95_MS,
    ValidateInputs,
    build_scenario,
    judge_run,
    select_hpa,
)
from capsim.fastpath import FastPathError, evaluate_hpas
from capsim.fastpath.kernel import kernel_cached
from capsim.models.slo import ErrorObjective, LatencyObjective, SloVerdict
from capsim.results.files import output_folder, write_durably
from capsim.results.run_result import RunResult
from capsim.scenario import Scenario, ServiceWorkload, parse_scenario
from capsim.scenario.manifests import HpaTemplate, load_deployments, raw_objects
from capsim.scenario.portable import Shipped, make_portable, run_portable

__all__ = [
    "PRESETS",
    "Candidate",
    "Recommendation",
    "Tuned",
    "candidate_specs",
    "default_targets",
    "emit_hpa",
    "recommend",
    "tuned_target",
]

PRESETS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "fast-up": {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 200, "periodSeconds": 15},
                {"type": "Pods", "value": 10, "periodSeconds": 15},
            ],
        }
    },
    "conservative-down": {
        "scaleUp": {"stabilizationWindowSeconds": 120},
        "scaleDown": {
            "stabilizationWindowSeconds": 900,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
        },
    },
}
DEFAULT_TARGETS = tuple(range(30, 100, 5))
MARGIN_BUDGET_PCT = 50.0
"""A candidate is chosen only with at most this share of every SLO error budget used."""


@dataclass(frozen=True)
class Tuned:
    """The metric target ``recommend`` varies: the HPA's CPU ``Utilization`` target (%)
    when it has one, else its first ``Pods``, ``Object`` or ``External`` metric's
    ``averageValue`` or ``value`` (the metric's own units)."""

    index: int  # in spec.metrics
    name: str  # "cpu" or the metric's name
    field: str  # "averageUtilization", "averageValue" or "value"
    current: float

    @property
    def cpu(self) -> bool:
        return self.field == "averageUtilization"

    def text(self, value: float) -> str:
        if self.cpu:
            return f"CPU target {value:g} %"
        return f"{self.name} {self.field} {value:g}"

    def label(self, value: float) -> str:
        return f"{value:g}%" if self.cpu else f"{self.name}={value:g}"


CPU_TUNED = Tuned(-1, "cpu", "averageUtilization", math.nan)
VALUE_STEPS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
"""A value target's default candidates: these multiples of the HPA's own."""


@dataclass(frozen=True)
class Candidate:
    """One evaluated HPA: its settings, verdict, reasons and metrics."""

    label: str
    target: float  # the tuned metric's target: CPU % or the value (Tuned)
    preset: str
    spec: dict[str, Any]  # the HPA spec (camelCase), scaleTargetRef included
    cpu_request_m: int | None  # the pod's CPU request tried with it (None: the Deployment's)
    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float]
    evaluated: str = "engine"  # or "fast path": screened only, not confirmed
    tuned: Tuned | None = None  # which target ``target`` sets (None: the CPU utilization)

    @property
    def target_text(self) -> str:
        """The target in words: ``CPU target 70 %`` or ``requests_in_flight averageValue 12``."""
        return (self.tuned or CPU_TUNED).text(self.target)


@dataclass(frozen=True)
class Recommendation:
    current: Candidate
    candidates: list[Candidate]
    chosen: Candidate | None
    pareto: list[Candidate]
    why: list[str]
    notes: tuple[str, ...] = ()  # how the candidates were evaluated
    base: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # the scenario
    assumptions: tuple[str, ...] = ()  # the defaults the validation scenario filled in

    def run_of(self, candidate: Candidate) -> RunResult:
        """The engine run of ``candidate`` (the validation scenario with its HPA), in this
        process: what its report shows. The same scenario and seed as its confirmation,
        so the same numbers."""
        import capsim

        data = _scenario_for(self.base, candidate.spec, candidate.cpu_request_m)
        return capsim.run(parse_scenario(data, where="capsim recommend", base_dir=Path(".")))

    def table(self, rows: Sequence[Candidate] | None = None) -> pd.DataFrame:
        picked = self.pareto if rows is None else rows
        return pd.DataFrame(
            [
                {
                    "candidate": c.label,
                    "verdict": "PASS" if c.passed else "FAIL",
                    "service_cost_usd": c.metrics["workload_cost_usd"],
                    "cluster_cost_usd": c.metrics["cost_usd"],
                    "slo_budget_used_pct": c.metrics["slo_budget_used_pct"],
                    "slo_violation_pct": c.metrics["slo_violation_pct"],
                    "latency_p95_ms": c.metrics["latency_p95_ms"],
                    "replicas_max": c.metrics["replicas_max"],
                    "reversals_per_hour": c.metrics["direction_reversals_per_hour"],
                    "evaluated": c.evaluated,
                }
                for c in picked
            ]
        )


def _quantity_value(text: Any) -> float:
    """A target as written in the spec (``"12"``, ``"500m"``, 3) as a number."""
    from capsim.units import parse_quantity

    return float(parse_quantity(str(text)))


def tuned_target(spec: dict[str, Any]) -> Tuned:
    """What ``recommend`` tunes in ``spec`` (camelCase): its CPU Utilization target, else
    its first Pods, Object or External metric with an ``averageValue`` or ``value``."""
    metrics = spec.get("metrics", [])
    for index, metric in enumerate(metrics):
        resource = metric.get("resource", {})
        target = resource.get("target", {})
        if resource.get("name") == "cpu" and target.get("type") == "Utilization":
            return Tuned(index, "cpu", "averageUtilization", float(target["averageUtilization"]))
    for index, metric in enumerate(metrics):
        kind = {"Pods": "pods", "Object": "object", "External": "external"}.get(metric.get("type"))
        if kind is None:
            continue
        source = metric.get(kind, {})
        target = source.get("target", {})
        name = source.get("metric", {}).get("name", "")
        for field in ("averageValue", "value"):
            if target.get(field) is not None:
                return Tuned(index, name, field, _quantity_value(target[field]))
    raise ValueError(
        "the HPA has no target to tune: a CPU Utilization target, or a Pods, Object or "
        "External metric's averageValue or value"
    )


def _milli_text(value: float) -> str:
    """A target value as a Kubernetes quantity: whole units, else milli-units."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _with(
    spec: dict[str, Any], tuned: Tuned, target: float, behavior: dict[str, Any] | None
) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    metric = out["metrics"][tuned.index]
    if tuned.cpu:
        metric["resource"]["target"]["averageUtilization"] = int(target)
    else:
        kind = {"Pods": "pods", "Object": "object", "External": "external"}[metric["type"]]
        metric[kind]["target"][tuned.field] = _milli_text(target)
    out.pop("behavior", None)
    if behavior is not None:
        out["behavior"] = copy.deepcopy(behavior)
    return out


def default_targets(tuned: Tuned) -> list[float]:
    """The targets tried when none are given: CPU 30, 35, …, 95 %; a value target
    :data:`VALUE_STEPS` times the HPA's own (in milli-units, at least 1m)."""
    if tuned.cpu:
        return [float(t) for t in DEFAULT_TARGETS]
    values = [max(round(tuned.current * step * 1000), 1) / 1000 for step in VALUE_STEPS]
    return list(dict.fromkeys(values))


def candidate_specs(
    spec: dict[str, Any],
    targets: Sequence[float],
    presets: Sequence[str],
    max_replicas: Sequence[int] = (),
    cpu_requests_m: Sequence[int] = (),
    bounds: Callable[[float, int | None], Sequence[tuple[int, int]]] | None = None,
) -> list[tuple[str, float, str, dict[str, Any], int | None]]:
    """(label, target, preset, spec, CPU request) of every candidate, in order;
    ``max_replicas`` and ``cpu_requests_m`` (if given) are tried too: every target with
    every request, since the two decide the replica count together. ``bounds`` ((target,
    CPU request or None) → (minReplicas, maxReplicas) pairs, :func:`demand_bounds`)
    searches the bounds per target and request instead of ``max_replicas``."""
    unknown = [p for p in presets if p not in PRESETS and p != "current"]
    if unknown:
        raise ValueError(f"--presets: unknown {unknown}; choose from {[*PRESETS, 'current']}")
    tuned = tuned_target(spec)
    if tuned.cpu:
        bad = [t for t in targets if not (1 <= t <= 100 and t == int(t))]
        if bad:
            raise ValueError(f"--targets: utilization targets must be whole 1–100 %, got {bad}")
    else:
        bad = [t for t in targets if not (0 < t <= 1e9 and math.isfinite(t))]
        if bad:
            raise ValueError(f"--targets: {tuned.name} targets must be > 0, got {bad}")
    low = int(spec.get("minReplicas", 1))
    too_low = [m for m in max_replicas if m < max(low, 1)]
    if too_low:
        raise ValueError(f"--max-replicas: must be >= minReplicas ({low}), got {too_low}")
    if any(r <= 0 for r in cpu_requests_m):
        raise ValueError(f"--cpu-requests: must be > 0, got {list(cpu_requests_m)}")
    ceilings = list(max_replicas) or [int(spec["maxReplicas"])]
    requests: list[int | None] = [*cpu_requests_m] or [None]
    out = []
    for request in requests:
        for ceiling in ceilings if bounds is None else [0]:
            for preset in presets:
                behavior = spec.get("behavior") if preset == "current" else PRESETS[preset]
                for target in targets:
                    pairs = [(low, ceiling)] if bounds is None else bounds(target, request)
                    for floor, top in pairs:
                        candidate = _with(spec, tuned, target, behavior)
                        candidate["minReplicas"], candidate["maxReplicas"] = floor, top
                        label = f"{tuned.label(target)} {preset}"
                        if bounds is not None:
                            label += f" min {floor} max {top}"
                        elif max_replicas:
                            label += f" max {top}"
                        label += f" req {request}m" if request is not None else ""
                        out.append((label, target, preset, candidate, request))
    return out


HEADROOM = 1.25
""":func:`demand_bounds`: the searched maxReplicas carry the trace's peak at the target
with this much to spare (25 %), for the replicas still starting when it comes."""


def demand_bounds(
    spec: Mapping[str, Any],
    target: int,
    peak_cores: float,
    trough_cores: float,
    request_cores: float,
) -> list[tuple[int, int]]:
    """The (minReplicas, maxReplicas) pairs searched with ``target`` for pods requesting
    ``request_cores``: the HPA's own, its minReplicas with the maxReplicas the trace's
    demand asks for, and both bounds from the demand: maxReplicas = ⌈peak cores ×
    :data:`HEADROOM` / (request × target)⌉ (the pods that carry the peak at the target,
    with room), minReplicas = ⌈trough cores / (request × target)⌉, at least 1 (the pods
    the quietest time needs). Bounds are clipped to 1 … ``MAX_REPLICAS``."""
    from capsim.scenario.limits import MAX_REPLICAS

    low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    per_pod = request_cores * target / 100.0
    top = min(max(math.ceil(peak_cores * HEADROOM / per_pod), 1), MAX_REPLICAS)
    floor = min(max(math.ceil(trough_cores / per_pod), 1), top)
    pairs = [(low, high), (low, max(top, low)), (floor, max(top, floor))]
    return list(dict.fromkeys(pairs))  # (the HPA's own first; no repeats)


def _evaluate(
    job: tuple[Scenario, dict[str, Any], list[str], dict[str, Any]],
    traces: Mapping[str, Shipped],
) -> Any:
    """Run one candidate's scenario and judge it (a top-level function for workers).

    The scenario was parsed and its trace read on the client
    (:func:`capsim.scenario.portable.make_portable`): a worker opens no file, so a Dask
    cluster needs neither the trace nor the working directory it was named from."""
    import capsim

    scenario, inputs_fields, assumptions, spec = job
    inputs = ValidateInputs(**inputs_fields)
    with run_portable(traces):
        result = capsim.run(scenario)
    name = scenario.workloads[0].name
    outcome = judge_run(result, name, int(spec["maxReplicas"]), inputs, assumptions)
    return outcome.passed, outcome.reasons, outcome.metrics


def _demand_cores(base: dict[str, Any]) -> tuple[float, float, float]:
    """The validation scenario's CPU demand at its peak and at its quietest (the 1st
    percentile of the ticks, so one empty minute of the trace does not set the floor),
    in cores, and the pod's CPU request in cores."""
    from capsim.scenario.inputs import prepare_inputs

    scenario = parse_scenario(base, where="capsim recommend", base_dir=Path("."))
    (workload,) = scenario.workloads
    assert isinstance(workload, ServiceWorkload)
    rates = prepare_inputs(scenario).arrival_rates[workload.name]
    per_request = workload.cpu_ms_per_request / 1000.0
    (config,) = scenario.platforms["hpa"].workloads.values()
    pod = config.pod  # type: ignore[union-attr]
    assert pod is not None
    request = pod.cpu_request_millicores / 1000.0
    return float(rates.max()) * per_request, float(np.quantile(rates, 0.01)) * per_request, request


def _scenario_for(
    base: dict[str, Any], spec: dict[str, Any], cpu_request_m: int | None = None
) -> dict[str, Any]:
    data = copy.deepcopy(base)
    platform = data["platforms"]["hpa"]
    (config,) = platform["workloads"].values()
    if cpu_request_m is not None:
        config["pod"]["cpu_request"] = f"{cpu_request_m}m"
    config.pop("hpa_manifest", None)
    config["hpa"] = {k: v for k, v in spec.items() if k != "scaleTargetRef"}
    return data


def recommend(
    inputs: ValidateInputs,
    *,
    targets: Sequence[float] | None = None,
    presets: Sequence[str] = ("default", "fast-up", "conservative-down"),
    max_replicas: Sequence[int] = (),
    workers: int | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    screen: bool = True,
    cpu_requests_m: Sequence[int] = (),
    search_bounds: bool = True,
    notify: Callable[[str], None] | None = None,
) -> Recommendation:
    """Screen every candidate, confirm the best with the engine, choose (module docs).
    ``screen=False`` runs every candidate through the engine. ``notify`` receives a
    sentence at each stage (for people watching: the CLI prints them on a terminal)."""
    say = notify or (lambda _: None)
    hpa = select_hpa(inputs.hpa, inputs.deployment)
    spec = hpa.spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    tuned = tuned_target(spec)
    if targets is None:
        targets = default_targets(tuned)
    base, assumptions = build_scenario(inputs, hpa)
    if cpu_requests_m and inputs.deployment is None:
        raise ValueError("--cpu-requests: give --deployment too (the pod to resize)")
    specs: list[tuple[str, float, str, dict[str, Any], int | None]]
    specs = [("current", tuned.current, "current", spec, None)]
    bounds = None
    if search_bounds and not max_replicas and tuned.cpu:  # (a value target: the HPA's bounds)
        peak, trough, pod_request = _demand_cores(base)

        def bounds(target: float, request_m: int | None) -> list[tuple[int, int]]:
            request = pod_request if request_m is None else request_m / 1000.0
            return demand_bounds(spec, int(target), peak, trough, request)

    specs += candidate_specs(spec, targets, presets, max_replicas, cpu_requests_m, bounds)
    fields = {f.name: getattr(inputs, f.name) for f in dataclasses.fields(inputs)}

    def engine(indices: Sequence[int]) -> dict[int, Candidate]:
        say(f"running {len(indices)} HPA(s) through the engine")
        traces: dict[str, Shipped] = {}
        jobs = []
        for i in indices:
            data = _scenario_for(base, specs[i][3], specs[i][4])
            parsed = parse_scenario(data, where="capsim recommend", base_dir=Path("."))
            scenario, read = make_portable(parsed)
            traces.update(read)
            jobs.append((scenario, fields, assumptions, specs[i][3]))
        results = map_runs(
            _evaluate,
            jobs,
            shared=traces,
            workers=workers,
            scheduler=scheduler,
            processes=processes,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
        return {
            i: Candidate(*specs[i], passed, tuple(reasons), metrics, tuned=tuned)
            for i, (passed, reasons, metrics) in zip(indices, results, strict=True)
        }

    margin = MARGIN_BUDGET_PCT
    if screen:
        first = "" if kernel_cached() else " (building its compiled kernel: about a minute, once)"
        say(f"screening {len(specs)} HPAs with the fast path{first}")
    screened = _screen(base, specs, inputs) if screen else None
    if screened is None:
        evaluated = engine(range(len(specs)))
    else:
        evaluated = dict(enumerate(screened))
        evaluated |= _confirm(evaluated, engine, margin, batch=max(2, processes or 2))
    current = evaluated[0]
    candidates = [evaluated[i] for i in range(1, len(specs))]
    good = [
        c
        for c in candidates
        if c.evaluated == "engine" and c.passed and c.metrics["slo_budget_used_pct"] <= margin
    ]
    if current.passed:
        good.append(current)  # keeping a passing HPA is always an option
    chosen = min(good, key=_cost_key, default=None)
    pareto = _pareto(candidates)
    notes: tuple[str, ...] = ()
    if screened is not None:
        pareto = _with_latency(base, pareto)
        runs = sum(1 for c in (current, *candidates) if c.evaluated == "engine")
        notes = (
            f"{len(specs)} HPAs screened by the fast path (pods start after their mean "
            "delays, nodes always have room); the current one and the best of the screen "
            f"confirmed by {runs} engine run(s); only confirmed candidates are chosen",
        )
    why = _why(current, chosen, margin)
    return Recommendation(current, candidates, chosen, pareto, why, notes, base, tuple(assumptions))


def _cost_key(c: Candidate) -> tuple[float, float]:
    return round(c.metrics["workload_cost_usd"], 2), c.metrics["scale_events"]


def _confirm(
    screened: dict[int, Candidate],
    engine: Any,
    margin: float,
    batch: int,
) -> dict[int, Candidate]:
    """Engine runs of the current HPA and of the screen's passing candidates, cheapest
    first, a batch at a time, until one passes in the engine with the margin."""
    order = sorted(
        (
            i
            for i, c in screened.items()
            if i > 0 and c.passed and c.metrics["slo_budget_used_pct"] <= margin
        ),
        key=lambda i: _cost_key(screened[i]),
    )
    pending = [0, *order]
    confirmed: dict[int, Candidate] = {}
    while pending:
        now, pending = pending[:batch], pending[batch:]
        confirmed |= engine(now)
        if any(
            i > 0 and c.passed and c.metrics["slo_budget_used_pct"] <= margin
            for i, c in confirmed.items()
        ):
            break
    return confirmed


def _fast_sweep(
    base: dict[str, Any], candidates: Sequence[tuple[dict[str, Any], int | None]], **options: Any
) -> pd.DataFrame:
    """The fast path (approximate) over ``(HPA spec, CPU request or None)`` candidates of
    the validation scenario ``base``; raises ``FastPathError`` where it cannot model them."""
    scenario = parse_scenario(base, where="capsim recommend", base_dir=Path("."))
    (pod,) = [w.pod for w in scenario.platforms["hpa"].workloads.values()]  # type: ignore[union-attr]
    assert pod is not None
    models = [
        HpaTemplate.model_validate({k: v for k, v in spec.items() if k != "scaleTargetRef"})
        for spec, _ in candidates
    ]
    requests = [request or pod.cpu_request_millicores for _, request in candidates]
    result = evaluate_hpas(
        scenario, "hpa", models, cpu_requests_m=requests, approximate=True, **options
    )
    return result.metrics


def _screen(
    base: dict[str, Any],
    specs: Sequence[tuple[str, float, str, dict[str, Any], int | None]],
    inputs: ValidateInputs,
) -> list[Candidate] | None:
    """Every candidate through the fast path (None where it cannot model the HPA)."""
    try:
        frame = _fast_sweep(
            base,
            [(spec, request) for *_, spec, request in specs],
            max_utilization_pct=inputs.max_utilization_pct,
        )
    except FastPathError:
        return None
    out = []
    for spec, record in zip(specs, frame.to_dict(orient="records"), strict=True):
        row = {str(k): v for k, v in record.items()}
        reasons = screen_failures(row, inputs)
        metrics = {k: float(v) for k, v in row.items()}
        metrics["slo_budget_used_pct"] = screen_slo(row, inputs).budget_used_pct
        out.append(Candidate(*spec, not reasons, tuple(reasons), metrics, "fast path"))
    return out


def screen_slo(metrics: Mapping[str, Any], inputs: ValidateInputs) -> SloVerdict:
    """The SLO verdict of a fast-path row (:mod:`capsim.models.slo`): its windows within
    the latency threshold, and its requests dropped against the error objective."""
    latency = LatencyObjective(
        inputs.slo_p95_ms if inputs.slo_p95_ms is not None else DEFAULT_SLO_P95_MS,
        inputs.slo_window_s,
        inputs.slo_objective_pct,
        int(metrics["slo_windows"]),
        int(metrics["slo_good_windows"]),
    )
    # the dropped share of the arrived requests: an ErrorObjective out of 100 requests
    errors = ErrorObjective(inputs.max_error_pct / 100.0, float(metrics["dropped_pct"]), 100.0)
    return SloVerdict(latency, errors)


def screen_failures(metrics: dict[str, Any], inputs: ValidateInputs) -> list[str]:
    """The rules of :func:`capsim.analysis.validate.judge_run` on fast-path metrics: what fails."""
    failed = []
    verdict = screen_slo(metrics, inputs)
    if verdict.latency is not None and verdict.latency.met is not True:
        failed.append(f"SLO {verdict.latency.describe()}")
    if verdict.errors is not None and verdict.errors.met is not True:
        failed.append(f"{metrics['dropped_pct']:.2f} % of requests dropped")
    if metrics["at_max_while_missing_slo"]:
        failed.append("maxReplicas reached while the SLO was missed")
    if metrics["direction_reversals_per_hour"] > inputs.max_reversals_per_hour:
        failed.append(f"{metrics['direction_reversals_per_hour']:.1f} reversals per hour")
    if (
        inputs.max_utilization_pct is not None
        and metrics["over_utilization_pct"] > inputs.max_over_utilization_time_pct
    ):
        failed.append(f"pods above {inputs.max_utilization_pct:g} % of their CPU request")
    return failed


def _with_latency(base: dict[str, Any], front: list[Candidate]) -> list[Candidate]:
    """Front rows only screened get their pooled p95 from the fast path."""
    screened = [c for c in front if c.evaluated != "engine"]
    if not screened:
        return front
    frame = _fast_sweep(base, [(c.spec, c.cpu_request_m) for c in screened], latency=True)
    updated = {
        id(c): dataclasses.replace(c, metrics=c.metrics | {"latency_p95_ms": float(v)})
        for c, v in zip(screened, frame["latency_p95_ms"], strict=True)
    }
    return [updated.get(id(c), c) for c in front]


def _pareto(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates no other is at least as good as on cost and SLO error budget used, and
    better on one."""

    def dominates(a: Candidate, b: Candidate) -> bool:
        ca, cb = a.metrics["workload_cost_usd"], b.metrics["workload_cost_usd"]
        sa, sb = a.metrics["slo_budget_used_pct"], b.metrics["slo_budget_used_pct"]
        return ca <= cb and sa <= sb and (ca < cb or sa < sb)

    front = [c for c in candidates if not any(dominates(o, c) for o in candidates)]
    return sorted(front, key=lambda c: c.metrics["workload_cost_usd"])


def _why(current: Candidate, chosen: Candidate | None, margin: float) -> list[str]:
    if chosen is None:
        return [
            f"no candidate holds the SLO with the margin (at most {margin:g} % of every SLO "
            "error budget used): raise maxReplicas, lower the work per request, or relax the "
            "SLO"
        ]
    if chosen is current:
        return [
            "keep the current HPA: it passes, and no candidate that holds the SLO with the "
            f"margin costs less (${current.metrics['workload_cost_usd']:,.2f})"
        ]
    cost, base = chosen.metrics["workload_cost_usd"], current.metrics["workload_cost_usd"]
    bill, base_bill = chosen.metrics["cost_usd"], current.metrics["cost_usd"]
    low, high = chosen.spec.get("minReplicas", 1), chosen.spec["maxReplicas"]
    bounds = f"minReplicas {low}, maxReplicas {high}"
    lines = [
        f"recommended: {chosen.target_text} with {chosen.preset} behavior, {bounds}"
        + (f", CPU request {chosen.cpu_request_m}m" if chosen.cpu_request_m else "")
        + f": PASS ({_budget(chosen)} of the SLO error budget used, "
        f"{chosen.metrics['direction_reversals_per_hour']:.1f} reversals per hour)"
    ]
    verdict = "PASS" if current.passed else "FAIL"
    lines.append(
        f"current: {current.target_text}, minReplicas "
        f"{current.spec.get('minReplicas', 1)}, maxReplicas {current.spec['maxReplicas']}: "
        f"{verdict} ({_budget(current)} of the SLO error budget used, "
        f"{current.metrics['direction_reversals_per_hour']:.1f} reversals per hour)"
    )
    if int(chosen.spec["maxReplicas"]) > int(current.spec["maxReplicas"]):
        lines.append(
            f"maxReplicas raised from {current.spec['maxReplicas']} to "
            f"{chosen.spec['maxReplicas']}: the current ceiling cannot carry the load"
            if any("maxReplicas" in r for r in current.reasons)
            else f"maxReplicas raised from {current.spec['maxReplicas']} to "
            f"{chosen.spec['maxReplicas']}"
        )
    lines.append(
        f"cost over the trace: the service's share (OpenCost) ${cost:,.2f} against "
        f"${base:,.2f} now ({_change(cost, base)}); the node pool's bill ${bill:,.2f} "
        f"against ${base_bill:,.2f} now ({_change(bill, base_bill)})"
    )
    return lines


def _change(new: float, old: float) -> str:
    """``new`` against ``old`` in words: "12 % less", "the same", "5 % more"."""
    if not (old > 0 and math.isfinite(new)):
        return "not comparable"
    change = 100 * (new / old - 1)
    if abs(change) < 0.5:
        return "the same"
    return f"{abs(change):.0f} % {'less' if change < 0 else 'more'}"


def _budget(c: Candidate) -> str:
    used = c.metrics["slo_budget_used_pct"]
    if math.isinf(used):
        return "all (a zero budget)"
    return f"{used:,.0f} %" if used >= 10 else f"{used:.1f} %"


def emit_hpa(original: Path, deployment: Path | None, chosen: Candidate, out_dir: Path) -> Path:
    """Write the recommended HPA manifest (the original's metadata, the new spec).

    With the Deployment, also ``deployment.yaml`` (that Deployment as written, with the
    recommended CPU request, for ``capsim deploy emit --recommendation``) and, when the
    request changes, ``deployment-patch.yaml`` (for ``kubectl patch``).

    ``out_dir`` is a capsim output folder: new, empty, or one capsim wrote (see
    :func:`capsim.results.files.check_output_folder`); it is written whole or not at all,
    so the input manifests are never overwritten even when ``out_dir`` is their folder.
    """
    with output_folder(out_dir, "--emit") as staging:
        _emit_into(original, deployment, chosen, staging)
    return out_dir / "hpa.yaml"


def _emit_into(original: Path, deployment: Path | None, chosen: Candidate, out_dir: Path) -> None:
    hpa = select_hpa(original, deployment)
    document = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            k: v
            for k, v in {"name": hpa.metadata.name, "namespace": hpa.metadata.namespace}.items()
            if v
        },
        "spec": chosen.spec,
    }
    header = f"# capsim recommend: {chosen.target_text}, {chosen.preset} behavior\n"
    write_durably(out_dir / "hpa.yaml", header + yaml.safe_dump(document, sort_keys=False))
    if deployment is not None:
        _emit_deployment(deployment, hpa.spec.scale_target_ref.name, chosen, out_dir)


def _request_shares(current_m: list[int], request_m: int) -> list[int]:
    """``request_m`` split over containers in proportion to their current CPU requests
    (a container without one counts as 1m); the rounding remainder goes to the first."""
    total = sum(current_m) or len(current_m)
    shares = [request_m * (c or 1) // total for c in current_m]
    shares[0] += request_m - sum(shares)
    return shares


def _emit_deployment(deployment: Path, name: str, chosen: Candidate, out_dir: Path) -> None:
    """``deployment.yaml`` (and ``deployment-patch.yaml`` when the request changes)."""
    (found,) = [
        o.body
        for o in raw_objects(deployment)
        if o.body.get("kind") == "Deployment" and (o.body.get("metadata") or {}).get("name") == name
    ]
    body = copy.deepcopy(dict(found))
    header = f"# capsim recommend: the Deployment {name} from {deployment.name}"
    if chosen.cpu_request_m is not None:
        containers = body["spec"]["template"]["spec"]["containers"]
        (parsed,) = [d for d in load_deployments(deployment) if d.metadata.name == name]
        current = [
            int(c.resources.requests.get("cpu") or 0) for c in parsed.spec.template.spec.containers
        ]
        shares = _request_shares(current, chosen.cpu_request_m)
        for container, milli in zip(containers, shares, strict=True):
            resources = container.setdefault("resources", {})
            resources.setdefault("requests", {})["cpu"] = f"{milli}m"
        header += f", with the recommended CPU request {chosen.cpu_request_m}m per pod"
        _write_request_patch(name, containers, shares, chosen, out_dir)
    write_durably(
        out_dir / "deployment.yaml", header + "\n" + yaml.safe_dump(body, sort_keys=False)
    )


def _write_request_patch(
    name: str, containers: list[dict[str, Any]], shares: list[int], chosen: Candidate, out_dir: Path
) -> Path:
    """``deployment-patch.yaml``: the pod's new CPU request, split over its containers
    (``kubectl patch --patch-file``)."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": c["name"], "resources": {"requests": {"cpu": f"{m}m"}}}
                        for c, m in zip(containers, shares, strict=True)
                    ]
                }
            }
        }
    }
    path = out_dir / "deployment-patch.yaml"
    header = (
        f"# capsim recommend: CPU request {chosen.cpu_request_m}m per pod, with the HPA's "
        f"{chosen.target_text}\n"
        f"# kubectl patch deployment {name} --patch-file {path.name}\n"
    )
    write_durably(path, header + yaml.safe_dump(patch, sort_keys=False))
    return path
