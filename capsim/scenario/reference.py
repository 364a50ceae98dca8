"""The reference for writing a scenario: its JSON Schema (``capsim schema``), the Markdown
reference of every field (``docs/scenario-reference.md``, ``capsim schema --format
markdown``) and a commented starter file (``capsim init``).

All three come from the pydantic models of :mod:`capsim.scenario.schema`, under the names
a file writes (``vcpu``, ``cpu_request``, ``window``, not the attributes' names), so they
cannot drift from what the loader accepts: a test checks the committed reference against
:func:`reference_markdown` and validates every bundled scenario against the schema.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import json
import math
import re
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from capsim.scenario import fields
from capsim.scenario.base import NAME_PATTERN
from capsim.scenario.schema import Scenario
from capsim.scenario.suggest import FieldPlace, field_name, field_places, members

__all__ = [
    "DESCRIPTIONS",
    "STARTER",
    "reference_markdown",
    "scenario_json_schema",
]

_HPA = "Kubernetes `autoscaling/v2` HorizontalPodAutoscaler"

DESCRIPTIONS: dict[str, str] = {
    # --- the top level ----------------------------------------------------------------
    "Scenario.name": "The scenario's name (a DNS-1123 label: lower case, digits, `-`).",
    "Scenario.description": "Free text: what the scenario compares and what to look at.",
    "Scenario.seed": "Seed of every random stream of the run: the same seed, the same run.",
    "Scenario.duration": "How long the simulated run lasts.",
    "Scenario.tick": "The simulation step; default the finest step of the services' traces "
    "(after `time_scale`), else 1s.",
    "Scenario.record_every": "How often a row of results is recorded (a whole number of ticks); "
    "default the whole number of ticks nearest 1m.",
    "Scenario.workloads": "The load: request-driven services and batch job streams "
    "(tagged by `kind`).",
    "Scenario.platforms": "The platforms to compare, by name (tagged by `kind`): each "
    "configures every workload.",
    # --- services -----------------------------------------------------------------------
    "ServiceWorkload.kind": "`service`: a request-driven service.",
    "ServiceWorkload.name": "The workload's name; platforms configure it under this name.",
    "ServiceWorkload.load": "Requests per second over time: a synthetic shape or a "
    "recorded trace (tagged by `type`).",
    "ServiceWorkload.cpu_ms_per_request": "Mean CPU time one request needs, in "
    "milliseconds of one core.",
    "ServiceWorkload.memory_mib": "Memory a replica uses at rest, in MiB.",
    "ServiceWorkload.memory_mib_per_request": "Memory each request in flight adds, in MiB.",
    "ServiceWorkload.concurrency": "Requests one replica serves at once (its worker slots).",
    "ServiceWorkload.idle_cpu": "CPU a replica uses with no requests (CPU quantity).",
    "ServiceWorkload.timeout": "A request not served within this time is abandoned (an error).",
    "ServiceWorkload.service_time": "The shape of a request's CPU work around its mean.",
    "ServiceWorkload.queue_limit": "Requests a replica queues beyond its slots; a full queue "
    "refuses the request (an error). Default: no limit (the timeout bounds the waits).",
    "ServiceWorkload.arrivals": "How requests arrive within a tick (burstiness).",
    "ServiceWorkload.retries": "Client retries of failed requests.",
    "ServiceWorkload.slo": "The service's SLO, judged on every platform.",
    # --- loads --------------------------------------------------------------------------
    "*.unit": "The unit of the load's values (default requests per second); a product's "
    "plain factors have none.",
    "*.poisson": "Draw each tick's request count from a Poisson process at the load's rate.",
    "*.type": "The load's shape.",
    "ConstantLoad.rate": "The rate, all the time.",
    "DiurnalLoad.base": "The trough of the daily cycle.",
    "DiurnalLoad.peak": "The peak of the daily cycle (at least `base`).",
    "DiurnalLoad.period": "The cycle's length.",
    "DiurnalLoad.peak_at": "When the peak comes (modulo the period); default half a period, "
    "so the load starts at its trough.",
    "StepLoad.before": "The rate before `at`.",
    "StepLoad.after": "The rate from `at` on.",
    "StepLoad.at": "When the rate steps.",
    "RampLoad.from": "The rate until `start`.",
    "RampLoad.to": "The rate from `end` on.",
    "RampLoad.start": "When the linear ramp starts.",
    "RampLoad.end": "When the ramp reaches `to`.",
    "SpikeLoad.base": "The rate under the spike.",
    "SpikeLoad.start": "When the spike starts.",
    "SpikeLoad.rise": "How long the linear rise to `base + height` takes.",
    "SpikeLoad.height": "The spike's height above `base`.",
    "SpikeLoad.decay": "Time constant of the exponential decay back to `base` (the excess "
    "falls to 1/e after it).",
    "SumLoad.parts": "The loads added up (all in one unit).",
    "ProductLoad.parts": "The loads multiplied: one may carry a unit, the others are "
    "plain factors.",
    "TraceLoad.path": "The trace file (CSV or Parquet), relative to the scenario's folder.",
    "TraceLoad.column": "The trace's column of values (default `requests_per_s`).",
    "TraceLoad.scale": "Multiply every value by this.",
    "TraceLoad.start": "Start of the window replayed: a duration from the trace's first "
    "timestamp (`12d`) or an ISO 8601 UTC time.",
    "TraceLoad.end": "End of the window replayed (exclusive), as `start`.",
    "TraceLoad.time_scale": "Play the trace this many times slower (above 1) or faster.",
    "TraceLoad.gaps": "Missing intervals in the trace: `error`, `hold` the last value or "
    "`fill` with `fill_value`.",
    "TraceLoad.fill_value": "The value of missing intervals with `gaps: fill`.",
    "TraceLoad.loop": "Replay the window again from its start when the run outlasts it.",
    "RequestsLoad.path": "A per-request CSV trace (one row per request), relative to the "
    "scenario's folder; replayed as recorded by `service_model: exact` and LLM services, "
    "counted per tick as a rate elsewhere.",
    "RequestsLoad.time_column": "The column of arrival instants (seconds from the trace's "
    "start, non-decreasing).",
    "RequestsLoad.prompt_column": "An LLM service's prompt tokens per request (replayed "
    "when the column is there).",
    "RequestsLoad.output_column": "An LLM service's output tokens per request (replayed "
    "when the column is there).",
    "RequestsLoad.loop": "Replay the trace again every `period` when the run outlasts it.",
    "RequestsLoad.period": "The loop's period (default: the last arrival rounded up to a "
    "whole second).",
    "LlmServing.preset": "A named GPU/model pair whose numbers fill the fields not written "
    "(`a100-80gb-llama-3.1-8b`, `h100-llama-3.1-8b`, `l4-llama-3.1-8b`; sources in "
    "README, *LLM serving*; the L4 one is derived, not measured).",
    "LlmServing.prompt_tokens": "Prompt tokens per request, drawn (else replayed from the "
    "load's per-request trace).",
    "LlmServing.output_tokens": "Output tokens per request, drawn (else replayed from the "
    "load's per-request trace).",
    "TokenCount.distribution": "`deterministic`, `lognormal` or `gamma` (with `cv`); "
    "rounded to whole tokens, at least 1.",
    "TokenCount.mean": "Mean tokens per request.",
    "TokenCount.cv": "Coefficient of variation (standard deviation over mean).",
    "MetricOutage.start": "When the metrics source becomes unreachable (simulated time).",
    "MetricOutage.end": "When it is reachable again (after `start`).",
    "Interceptor.timeout": "How long a request may wait for a ready replica before it "
    "gives up (abandoned); default and at most the client's `timeout`.",
    "Interceptor.max_pending": "Most requests held at once; one more is refused (default: "
    "no limit).",
    # --- service time, arrivals, retries, SLO ----------------------------------------------
    "ServiceTime.distribution": "The shape: `exponential` (cv 1), `deterministic`, "
    "`lognormal` or `gamma` (with `cv`), or `empirical` (samples in `path`).",
    "ServiceTime.cv": "Coefficient of variation of the work (standard deviation over "
    "mean), for `lognormal` and `gamma`; at most 1 unless `service_model: exact`.",
    "ServiceTime.path": "`empirical`: a CSV file of CPU milliseconds per request, relative "
    "to the scenario's folder.",
    "ServiceTime.column": "`empirical`: the file's column of samples.",
    "Arrivals.dispersion_index": "Burstiness: the squared coefficient of variation of the "
    "gaps between arrivals (1 Poisson, above 1 bursts, 0 evenly spaced).",
    "Retries.max": "Retries of a failed request (0: none).",
    "Retries.backoff": "Upper bound of the first retry's random delay (full jitter).",
    "Retries.multiplier": "Each further retry's delay bound is this times the previous.",
    "Retries.max_backoff": "The largest delay bound.",
    "Slo.p95_latency_ms": "Latency objective: p95 within this many milliseconds in a window.",
    "Slo.window": "Length of the latency objective's windows (a whole number of ticks).",
    "Slo.objective_pct": "Share of the windows (with requests) that must meet the latency "
    "objective, in percent.",
    "Slo.max_error_rate": "Error objective: at most this share (0-1) of the requests fail "
    "over the run (none if left out).",
    # --- batch --------------------------------------------------------------------------
    "BatchWorkload.kind": "`batch`: a stream of jobs.",
    "BatchWorkload.name": "The workload's name; platforms configure it under this name.",
    "BatchWorkload.arrivals": "When jobs are submitted.",
    "BatchWorkload.workers": "Tasks (pods or VMs) per job.",
    "BatchWorkload.cpu": "CPU each worker needs (CPU quantity).",
    "BatchWorkload.memory": "Memory each worker needs.",
    "BatchWorkload.gpu": "GPUs each worker needs.",
    "BatchWorkload.duration": "How long a job runs once all its workers started.",
    "BatchWorkload.gang": "All of a job's workers start together or none does.",
    "BatchWorkload.priority": "Higher priority jobs are scheduled first.",
    "BatchArrivals.poisson_per_hour": "Jobs submitted at random, this many per hour on average.",
    "BatchArrivals.times": "Explicit submit times from the start of the run, increasing.",
    "BatchArrivals.path": "A CSV file of submit times (seconds from the start), relative to "
    "the scenario's folder.",
    "BatchArrivals.column": "The file's column of submit times.",
    # --- distributions ----------------------------------------------------------------------
    "*.distribution": "The distribution's family; a plain duration (`30s`) is a constant.",
    "Constant.value": "The delay, always.",
    "LogNormal.median": "The median delay.",
    "LogNormal.p99": "The 99th percentile delay (at least the median).",
    "Exponential.mean": "The mean delay.",
    "ShiftedExponential.min": "The shortest delay.",
    "ShiftedExponential.mean": "The mean delay (more than `min`).",
    "Uniform.low": "The shortest delay.",
    "Uniform.high": "The longest delay.",
    # --- Kubernetes -----------------------------------------------------------------------
    "KubernetesPlatform.kind": "`kubernetes`: a cluster of node pools.",
    "KubernetesPlatform.node_pools": "The node pools the cluster autoscaler grows and shrinks.",
    "KubernetesPlatform.scheduler": "How pods are placed: spread (`least_allocated`, the "
    "default scheduler) or packed (`most_allocated`).",
    "KubernetesPlatform.cluster_autoscaler": "Cluster autoscaler timings.",
    "KubernetesPlatform.metrics": "metrics-server and HPA controller settings.",
    "KubernetesPlatform.workloads": "How each workload runs here, by workload name.",
    "NodePool.name": "The pool's name.",
    "NodePool.instance": "The machine type's name (a label in the results).",
    "NodePool.vcpu": "vCPUs per node (CPU quantity: `4`, `3500m`).",
    "NodePool.memory": "Memory per node.",
    "NodePool.gpu": "GPUs per node.",
    "NodePool.price_per_hour": "Price of one node per hour (any currency, the same for "
    "every platform).",
    "NodePool.provision": "Time from the cluster autoscaler's request to a ready node.",
    "NodePool.min_nodes": "Nodes the pool never goes below (started at the beginning).",
    "NodePool.max_nodes": "Nodes the pool never goes above.",
    "NodePool.reserved": "What the node keeps for the system: `gke` (GKE's rule) or "
    "explicit `cpu` and `memory`; the rest is allocatable to pods.",
    "ReservedResources.cpu": "CPU reserved per node.",
    "ReservedResources.memory": "Memory reserved per node.",
    "ClusterAutoscaler.enabled": "Whether the cluster autoscaler adds and removes nodes.",
    "ClusterAutoscaler.scan_interval": "How often it looks for pending pods and unneeded nodes.",
    "ClusterAutoscaler.scale_down_unneeded": "How long a node must be unneeded before it "
    "is removed.",
    "ClusterAutoscaler.scale_down_delay_after_add": "No scale-down for this long after a scale-up.",
    "ClusterAutoscaler.max_node_provision": "The cluster autoscaler's "
    "`--max-node-provision-time`: accepted, not modelled yet (a node is never given up).",
    "MetricsPipeline.metric_resolution": "metrics-server's scrape interval.",
    "MetricsPipeline.sync_period": "The HPA controller's sync period.",
    "MetricsPipeline.cpu_initialization_period": "Within this long of a pod's start, the "
    "HPA leaves out its CPU sample if the pod is not ready or the sample predates its readiness "
    "(`--horizontal-pod-autoscaler-cpu-initialization-period`).",
    "MetricsPipeline.initial_readiness_delay": "The period after a pod's start during which "
    "readiness changes count as its initial readiness "
    "(`--horizontal-pod-autoscaler-initial-readiness-delay`).",
    "MetricsPipeline.tolerance": "The HPA leaves the replicas alone while the "
    "usage-to-target ratio is within this of 1.",
    "MetricsPipeline.downscale_stabilization": "When scaling down, the HPA takes the highest "
    "recommendation of this past window (an HPA's own `behavior` overrides it).",
    "KubernetesWorkload.pod": "The workload's pod (a service needs one; a batch worker "
    "without one requests exactly its cpu, memory and gpu).",
    "KubernetesWorkload.hpa": f"An inline HPA `spec` (camelCase, as in a {_HPA} manifest, "
    "without `scaleTargetRef`).",
    "KubernetesWorkload.hpa_manifest": "An HPA manifest file, relative to the scenario's "
    "folder (the one that scales this workload, else its first).",
    "KubernetesWorkload.replicas": "Fixed replicas, no autoscaling.",
    "KubernetesWorkload.routing": "How requests are spread over ready replicas: `random` "
    "(a Service, kube-proxy), `round_robin`, `least_request` (Envoy), "
    "`join_shortest_queue` or `pooled` (one queue, the ideal bound).",
    "PodTemplate.cpu_request": "CPU the pod requests (CPU quantity); the HPA's utilization "
    "is usage over this.",
    "PodTemplate.cpu_limit": "The pod's CPU limit (at least the request); default none.",
    "PodTemplate.memory_request": "Memory the pod requests.",
    "PodTemplate.memory_limit": "The pod's memory limit (at least the request).",
    "PodTemplate.gpu": "GPUs the pod requests (`nvidia.com/gpu`): for a GPU-served model, "
    "set it here and give the node pool its `gpu`.",
    "PodTemplate.image_size": "The image's size, pulled on a node that does not have it.",
    "PodTemplate.pull_bandwidth": "Image pull speed per second (memory quantity per second).",
    "PodTemplate.container_start": "Time from the image on the node to the container started.",
    "PodTemplate.readiness_delay": "Time from the container started to the pod ready "
    "(readiness probe passing).",
    "PodTemplate.containers": "The pod's containers by name, for `ContainerResource` HPA "
    "metrics; the first uses all of the pod's usage.",
    "PodContainer.name": "The container's name.",
    "PodContainer.cpu_request": "The container's CPU request (CPU quantity).",
    "PodContainer.memory_request": "The container's memory request.",
    # --- the HPA spec (Kubernetes' names) ---------------------------------------------
    "HpaTemplate.metrics": f"The metrics to scale on, as in a {_HPA} (default: CPU "
    "utilization 80 %).",
    "HpaTemplate.minReplicas": "The fewest replicas.",
    "HpaTemplate.maxReplicas": "The most replicas.",
    "HpaTemplate.behavior": f"Scaling policies and stabilization windows, as in a {_HPA}.",
    "MetricSpec.type": "`Resource`, `ContainerResource`, `Pods`, `Object` or `External`.",
    "MetricSpec.resource": "A resource of the pods (`cpu`, `memory`).",
    "MetricSpec.containerResource": "A resource of one named container of the pods.",
    "MetricSpec.pods": "A custom metric averaged over the pods.",
    "MetricSpec.object": "A metric of another object.",
    "MetricSpec.external": "A metric from outside the cluster.",
    "*.name": "The name.",
    "*.target": "The target value of the metric.",
    "*.container": "The container's name.",
    "*.metric": "The metric's name and selector.",
    "*.selector": "A label selector of the metric's series.",
    "*.describedObject": "The object the metric describes.",
    "MetricTarget.type": "`Utilization` (percent of the request), `AverageValue` (per pod) "
    "or `Value`.",
    "MetricTarget.averageUtilization": "Target percent of the pods' request.",
    "MetricTarget.averageValue": "Target value per pod (a quantity).",
    "MetricTarget.value": "Target value of the whole metric (a quantity).",
    "CrossVersionObjectReference.apiVersion": "The object's API version.",
    "CrossVersionObjectReference.kind": "The object's kind.",
    # --- VMs ------------------------------------------------------------------------------
    "VmPlatform.kind": "`vm`: autoscaling groups of VMs.",
    "VmPlatform.instance": "The VM type every workload runs on (unless it names its own).",
    "VmPlatform.billing_minimum": "Every VM is billed at least this long.",
    "VmPlatform.max_batch_vms": "The most VMs batch workers may hold at once (a quota, such "
    "as a region's GPU quota); jobs wait for room. Default: no limit.",
    "VmPlatform.workloads": "How each workload runs here, by workload name.",
    "VmInstance.name": "The VM type's name (a label in the results).",
    "VmInstance.vcpu": "vCPUs per VM (CPU quantity).",
    "VmInstance.memory": "Memory per VM.",
    "VmInstance.gpu": "GPUs per VM (for a GPU-served model, set it here).",
    "VmInstance.price_per_hour": "Price of one VM per hour (any currency, the same for "
    "every platform).",
    "VmInstance.boot": "Time from launch to the app serving.",
    "VmInstance.guest_os_cpu": "CPU the guest OS keeps (CPU quantity).",
    "VmInstance.guest_os_memory": "Memory the guest OS keeps.",
    "VmInstance.hypervisor_overhead_pct": "Share of the vCPUs the hypervisor takes, in percent.",
    "VmWorkload.instance": "This workload's own VM type (to size batch workers' VMs, say).",
    "VmWorkload.autoscaling": "Target tracking on average CPU (a service needs this or "
    "`instances`).",
    "VmWorkload.instances": "A fixed number of VMs, no autoscaling.",
    "VmWorkload.per_vm": "App instances per VM.",
    "VmWorkload.routing": "How requests are spread over ready instances (as on Kubernetes; "
    "default `round_robin`, a load balancer).",
    "VmAutoscaling.metric": "The metric tracked: `cpu`, the group's average CPU.",
    "VmAutoscaling.target_pct": "Target average CPU, in percent.",
    "VmAutoscaling.min": "The fewest VMs.",
    "VmAutoscaling.max": "The most VMs.",
    "VmAutoscaling.metric_period": "The alarms' period (one datapoint each).",
    "VmAutoscaling.scale_out_datapoints": "Scale out when this many of the last "
    "`scale_out_evaluation_periods` datapoints are above target.",
    "VmAutoscaling.scale_out_evaluation_periods": "The datapoints the scale-out alarm looks at.",
    "VmAutoscaling.scale_in_datapoints": "Scale in when this many of the last "
    "`scale_in_evaluation_periods` datapoints are below target.",
    "VmAutoscaling.scale_in_evaluation_periods": "The datapoints the scale-in alarm looks at.",
    "VmAutoscaling.warmup": "A new VM counts in the average CPU only after this long; no scale-in "
    "while any VM is warming up.",
    "VmAutoscaling.cooldown": "No scale-in until this long after the last scaling activity.",
}
"""A description of each field that has no docstring of its own, by ``Model.name`` as
written (``*.name`` for a name shared by several models)."""


@functools.cache
def _field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstrings written under ``model``'s fields (and its bases'), by attribute name.

    Read from the source here, when a reference is made, rather than by pydantic's
    ``use_attribute_docstrings`` at every import of the schema."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[node.target.id] = inspect.cleandoc(after.value.value)
    return found


def description(model: type[BaseModel], name: str) -> str:
    """What field ``name`` (as written) of ``model`` means: its own description or
    docstring, else :data:`DESCRIPTIONS`."""
    attr, info = next((n, i) for n, i in model.model_fields.items() if field_name(model, n) == name)
    own = _prose(info.description or _field_docstrings(model).get(attr, ""))
    if own:
        return own
    key = f"{model.__name__.lstrip('_')}.{name}"
    return DESCRIPTIONS.get(key) or DESCRIPTIONS.get(f"*.{name}", "")


# --- JSON Schema ---------------------------------------------------------------------------


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _scalar_distributions(node: dict[str, Any]) -> None:
    """A delay may be written as a plain duration (a constant): say so."""
    found = node.get("discriminator")
    if not isinstance(found, dict) or found.get("propertyName") != "distribution":
        return
    tagged = {k: node.pop(k) for k in ("discriminator", "oneOf") if k in node}
    node["anyOf"] = [dict(fields.DURATION_SCHEMA.json_schema or {}), tagged]


_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _json_bounds(node: dict[str, Any]) -> None:
    """pydantic leaves a bound inside a union (``Float | None``) under its Python name
    (``gt``); JSON Schema calls it ``exclusiveMinimum``."""
    if node.get("type") in ("number", "integer"):
        for python, json_name in _BOUNDS.items():
            if python in node:
                node[json_name] = node.pop(python)


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, with the names a file writes and
    a description of every field."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["properties"].pop("base_dir", None)
    definitions = schema.get("$defs", {})
    for place in field_places(Scenario):
        model = place.model
        target = schema if model is Scenario else definitions.get(model.__name__)
        if target is None:
            continue
        for name, prop in target.get("properties", {}).items():
            if isinstance(prop, dict) and "description" not in prop:
                text = description(model, name)
                if text:
                    prop["description"] = text
            if isinstance(prop, dict):
                prop.pop("title", None)
    delays: list[dict[str, Any]] = []
    _walk(schema, delays.append)
    for node in delays:
        _scalar_distributions(node)
        _json_bounds(node)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **{k: v for k, v in schema.items() if k != "title"},
        "title": "capsim scenario",
    }


def schema_text() -> str:
    """:func:`scenario_json_schema` as JSON text, keys in a stable order."""
    return json.dumps(scenario_json_schema(), indent=2, sort_keys=False) + "\n"


# --- Markdown reference --------------------------------------------------------------------

_UNIT_TYPES: dict[Any, str] = {
    fields._duration_s: "duration (`90s`, `15m`, `1h30m`; a bare number is seconds)",
    fields._positive_duration_s: "duration > 0 (`90s`, `15m`; a bare number is seconds)",
    fields._millicores: "CPU (`500m`, `2`, `1.5`; a bare number is cores)",
    fields._positive_millicores: "CPU > 0 (`500m`, `2`; a bare number is cores)",
    fields._bytes: "memory (`512Mi`, `2Gi`; a bare number is bytes)",
    fields._positive_bytes: "memory > 0 (`512Mi`, `2Gi`; a bare number is bytes)",
}
_UNIT_TEXT: dict[Any, Callable[[Any], Any]] = {
    fields._duration_s: fields.duration_text,
    fields._positive_duration_s: fields.duration_text,
    fields._millicores: fields.cpu_text,
    fields._positive_millicores: fields.cpu_text,
    fields._bytes: fields.memory_text,
    fields._positive_bytes: fields.memory_text,
}


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lstrip("_").lower()


def _unit_func(metadata: list[Any]) -> Any:
    for item in metadata:
        func = getattr(item, "func", None)
        if func in _UNIT_TYPES:
            return func
    return None


def _split(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """``Annotated[X, *m]`` → ``(X, [*metadata, *m])``."""
    metadata = list(metadata)
    while typing.get_origin(annotation) is Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _number(value: float) -> str:
    """``1048576.0`` → ``1,048,576``; ``0.001`` → ``0.001``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


_ROLE = re.compile(r":(?:mod|class|func|meth|data|attr|exc):`~?([^`]+)`")


def _prose(text: str) -> str:
    """A docstring as one Markdown paragraph: Sphinx roles become code."""
    return _ROLE.sub(r"`\1`", " ".join(text.split()))


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if isinstance(item, annotated_types.BaseMetadata | FieldInfo) and value is not None:
                shown = _number(value)
                parts.append(f"{sign} {shown}")
    return ", ".join(dict.fromkeys(parts))


def _type_text(annotation: Any, metadata: list[Any]) -> str:
    annotation, metadata = _split(annotation, metadata)
    unit = _unit_func(metadata)
    origin = typing.get_origin(annotation)
    if unit is not None:
        text = _UNIT_TYPES[unit]
    elif origin in (typing.Union, __import__("types").UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        text = " or ".join(_type_text(a, []) for a in options)
        if len(options) > 1 and all(isinstance(o, type) for o in members(annotation)):
            text = "one of " + ", ".join(_type_text(a, []) for a in options)
            if any(getattr(o, "model_fields", {}).get("distribution") for o in options):
                text = "a duration (a constant delay), or " + text
    elif origin is Literal:
        text = " or ".join(f"`{v}`" for v in typing.get_args(annotation))
    elif origin in (tuple, list):
        text = f"list of {_type_text(typing.get_args(annotation)[0], [])}"
    elif origin is dict:
        text = f"mapping of name → {_type_text(typing.get_args(annotation)[1], [])}"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = f"[{annotation.__name__.lstrip('_')}](#{_anchor(annotation)})"
    elif annotation is bool:
        text = "boolean"
    elif annotation is int:
        text = "integer"
    elif annotation is float:
        text = "number"
    elif annotation is Path:
        text = "file path"
    elif annotation is str:
        patterns = [getattr(m, "pattern", None) for m in metadata]
        text = "name (DNS-1123 label)" if NAME_PATTERN in patterns else "text"
    elif annotation is Any:
        text = "any"
    else:
        text = getattr(annotation, "__name__", str(annotation)).lower()
    bounds = _bounds(metadata)
    return f"{text}, {bounds}" if bounds else text


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "none"
    annotation, metadata = _split(info.annotation, info.metadata)
    unit = _unit_func(metadata)
    if unit is not None and isinstance(value, int | float):
        shown: Any = _UNIT_TEXT[unit](value)
    else:
        typed: Any = Annotated[annotation, *metadata] if metadata else annotation
        adapter: TypeAdapter[Any] = TypeAdapter(typed)
        shown = adapter.dump_python(
            value,
            mode="json",
            by_alias=True,
            exclude_none=True,
            context=fields.document_context(),
        )
    if shown == "" or shown == () or shown == []:
        return '`""`' if shown == "" else "`[]`"
    if isinstance(shown, float) and math.isfinite(shown) and shown == int(shown):
        shown = int(shown) if abs(shown) < 1e15 else shown
    text = yaml.safe_dump(shown, default_flow_style=True, width=10**6, sort_keys=False).strip()
    text = text.removesuffix("\n...").removesuffix(" ...").strip()
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(model: type[BaseModel], places: list[FieldPlace]) -> list[str]:
    name = model.__name__.lstrip("_")
    outer = [p for p in places if "parts[*]" not in p.path]
    where = ", ".join(f"`{p.path}`" + (f" ({p.tag})" if p.tag else "") for p in outer)
    if len(outer) < len(places):
        where += ", and in the `parts` of a `sum` or `product` load"
    doc = _prose(model.__doc__ or "") if model.__doc__ != BaseModel.__doc__ else ""
    lines = [f"### {name}", ""]
    if places[0].path:
        lines += [f"Written at {where}.", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for attr, info in model.model_fields.items():
        if info.exclude:
            continue
        written = field_name(model, attr)
        cells = [
            f"`{written}`",
            _type_text(info.annotation, info.metadata),
            _default_text(info),
            description(model, written),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


_PREAMBLE = """\
# Scenario reference

<!-- Generated by `capsim schema --format markdown > docs/scenario-reference.md`; do not
edit by hand: tests/test_scenario_reference.py checks it against the models. -->

Every field of a capsim scenario file, under the name the file writes, with its type,
units, default and meaning. Start from `capsim init my-scenario.yaml` (a commented
starter), look at the bundled scenarios (`capsim scenarios`), and point your editor at
the JSON Schema (`capsim schema > scenario.schema.json`, then
`# yaml-language-server: $schema=scenario.schema.json` on the first line of the file) for
completion and checks as you type. `capsim run FILE` lists every problem of a file at once.

**Units.** Durations are written `90s`, `15m`, `1h30m`, `7d` (a bare number is seconds);
CPU as Kubernetes quantities, `500m` or `2` (a bare number is cores); memory as `512Mi`,
`2Gi` (a bare number is bytes); a delay either as a duration (a constant) or as a
distribution, `{distribution: lognormal, median: 35s, p99: 90s}`. Paths are relative to
the scenario file's folder. A field marked *required* must be given; the others default
as shown. `*` in a path is any name (a platform, a workload), `[*]` any item of a list.
Where a model is one of several tagged alternatives (`kind: vm`), the tag picks it.
"""


def reference_markdown() -> str:
    """The scenario reference (``docs/scenario-reference.md``), from the models."""
    places: dict[type[BaseModel], list[FieldPlace]] = {}
    for place in field_places(Scenario):
        places.setdefault(place.model, []).append(place)
    lines = [_PREAMBLE, "## Contents", ""]
    lines += [f"- [{m.__name__.lstrip('_')}](#{_anchor(m)})" for m in places]
    lines += ["", "## Models", ""]
    for model, found in places.items():
        lines += _section(model, found)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the starter ---------------------------------------------------------------------------

STARTER = """\
# A capsim scenario: one service with an SLO, on Kubernetes (pods, an HPA, a cluster
# autoscaler) and on VMs (an autoscaling group). Run it with `capsim run FILE`.
# Every field: docs/scenario-reference.md. Checks as you type (VS Code's YAML extension):
# `capsim schema > scenario.schema.json`, then make this the first line of the file:
#   # yaml-language-server: $schema=scenario.schema.json
# Units: durations 90s, 15m, 1h30m, 7d (a bare number is seconds); CPU 500m or 2 (a bare
# number is cores); memory 512Mi, 2Gi (a bare number is bytes).
name: my-service            # a DNS-1123 label: lower case, digits and -
description: >
  A web service with a daily cycle, on pods with an HPA and on VMs with target tracking.
seed: 1                     # the same seed, the same run
duration: 2d                # simulated time

workloads:
  - kind: service           # a request-driven service (or `batch`: a stream of jobs)
    name: web
    load:                   # requests per second over time
      type: diurnal         # a daily cosine cycle (also: constant, step, ramp, spike, trace)
      base: 40              # requests/s at the trough
      peak: 400             # requests/s at the peak
      period: 1d
    cpu_ms_per_request: 20  # mean CPU time per request, milliseconds of one core
    memory_mib: 256         # memory a replica uses at rest, MiB
    concurrency: 4          # requests one replica serves at once
    timeout: 10s            # a request waiting longer is abandoned (an error)
    service_time: {distribution: exponential}   # the work's shape around its mean
    slo:
      p95_latency_ms: 200   # p95 latency within 200 ms ...
      window: 5m            # ... in each 5-minute window ...
      objective_pct: 99     # ... in 99 % of the windows
      max_error_rate: 0.001 # and at most 0.1 % of the requests fail

platforms:
  kubernetes:
    kind: kubernetes
    node_pools:
      - name: general
        instance: n2-standard-4     # a label in the results
        vcpu: 4                     # per node
        memory: 16Gi                # per node (GKE's reservation is taken off)
        price_per_hour: 0.19        # per node, any currency
        min_nodes: 1
        max_nodes: 20
        provision: {distribution: lognormal, median: 60s, p99: 120s}  # request to ready
    workloads:
      web:                          # the workload's name
        routing: random             # a Service: kube-proxy picks a pod at random
        pod:
          cpu_request: 500m         # the HPA's utilization is usage over this
          cpu_limit: "1"
          memory_request: 512Mi
          memory_limit: 1Gi
          image_size: 200Mi         # pulled on a node that does not have it yet
          readiness_delay: {distribution: lognormal, median: 10s, p99: 30s}
          # gpu: 1                  # GPUs per pod (give the node pool `gpu:` too)
        hpa:                        # an inline HPA spec, camelCase as in a manifest
          minReplicas: 2
          maxReplicas: 30
          metrics:
            - type: Resource
              resource:
                name: cpu
                target: {type: Utilization, averageUtilization: 70}  # percent of the request

  vm:
    kind: vm
    instance:
      name: n2-standard-2           # a label in the results
      vcpu: 2                       # per VM
      memory: 8Gi                   # per VM
      price_per_hour: 0.097         # per VM, any currency
      boot: {distribution: lognormal, median: 35s, p99: 90s}  # launch to serving
    billing_minimum: 1m             # every VM is billed at least this long
    workloads:
      web:
        routing: round_robin        # a load balancer
        per_vm: 1                   # app instances per VM
        autoscaling:                # target tracking on the group's average CPU
          target_pct: 50            # percent
          min: 2
          max: 30
          warmup: 2m                # a new VM's metrics count after this long
          cooldown: 5m              # no scale-in for this long after scaling
"""
"""A commented starter scenario (``capsim init``): a service with an SLO on Kubernetes
(HPA, cluster autoscaler) and on VMs (target tracking)."""
