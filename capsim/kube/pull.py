"""Prometheus history of one Deployment → a trace the simulator reads.

The queries are the kube-prometheus / kube-state-metrics names (REFERENCE §3), each
de-duplicated before it is summed (``max by`` the series' identity), so that a target
scraped by two jobs (two Prometheus replicas behind Thanos, a kubelet scraped twice) is
counted once:

* ``cpu_cores``: ``rate(container_cpu_usage_seconds_total{container!="",image!=""}[w])``
  summed over the Deployment's pods (``container!=""`` drops the cgroup totals that would
  double-count), kept only where the window holds at least two raw samples
  (``and count_over_time(…[w]) > 1``, see *Gaps* below);
* ``memory_bytes``: ``container_memory_working_set_bytes{container!=""}`` summed (the
  last raw sample in the window, ``last_over_time(…[w])``, as for every gauge below);
* ``replicas_ready``: ``kube_deployment_status_replicas_ready`` (or, with ``--selector``,
  the number of matching pods with CPU samples: running pods, ready or not);
* ``requests_per_s``: the user's ``--rate-query``, when given;
* ``cpu_request_cores`` / ``memory_request_bytes``: the request **per pod**
  (``kube_pod_container_resource_requests`` summed per pod, then the pods' maximum);
* ``hpa_min_replicas``, ``hpa_max_replicas``, ``hpa_current_replicas``,
  ``hpa_desired_replicas``, ``hpa_target_cpu_utilization``: the HPA that scales the
  Deployment (``kube_horizontalpodautoscaler_*``), when there is one.

Pods belong to the Deployment through ``kube_pod_owner`` (owner a ReplicaSet) joined with
``kube_replicaset_owner`` (owner the Deployment), or match a ``--selector`` pod-name
regex. A ``cluster`` label matcher narrows every query for multi-cluster stores.

**Names are checked before any query** (:class:`Target`, ``ValueError`` naming the flag and
the value), by the API server's rules and in its words (:mod:`capsim.kube.names`): the
namespace and a container name are DNS-1123 labels, the Deployment name a DNS-1123
subdomain. ``--cluster`` and ``--selector`` (any text a label value or a regex may be) go
into label matchers as PromQL string literals, escaped by :func:`label_matchers`; control
characters (a newline included) and text that is not UTF-8 are refused there, so nothing
given can end a string literal and add PromQL of its own. ``--rate-query`` is the user's
own PromQL, sent as given (wrapped in ``sum(…)``); it must be UTF-8 without control
characters other than whitespace.

**Gaps** (``NaN``, an empty CSV cell, reported; nothing is interpolated) are defined by
the raw samples, the same on every server: a point ``t`` of a gauge is empty when the window
``[t − w, t]`` (``w`` = the rate window) holds no raw sample, and a point of a counter's rate
when it holds fewer than two. Prometheus's own ``rate()`` already gives nothing there, but
VictoriaMetrics' ``rate()`` gives 0 at the start of a gap (it takes the last sample before
the window as the base) and its gauges fade after its own staleness interval; the
``count_over_time`` mask and ``last_over_time`` make both servers agree. The user's
``--rate-query`` is taken as given (no mask).

**What is kept of an answer**: ``NaN`` is a gap; ``±Inf``, a negative value, a value beyond
:data:`MAX_VALUE` (replica counts: beyond the Kubernetes API's int32), or more than one
series for a column is refused (``PrometheusError`` naming the URL, the column, the time and
the value) and nothing is returned: the caller writes nothing. A ``cpu_cores`` (or
``--rate-query``) column with no value at all, every point a gap, is refused the same way:
there is no load to replay.

**Every error names the Prometheus URL** (without its userinfo or query), and for an answer
the column and the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.kube.names import dns1123_label, dns1123_subdomain
from capsim.kube.prometheus import (
    MAX_POINTS_PER_PULL,
    Prometheus,
    PrometheusError,
    Series,
    count_points,
    label_matchers,
    promql_string,
    redact_url,
)
from capsim.units import format_iso_utc

__all__ = ["MAX_VALUE", "PulledTrace", "Target", "pull_trace", "target_queries"]

FloatArray = npt.NDArray[np.float64]

#: The largest value kept in any column (1e15 cores, bytes or requests per second is no
#: real measurement); replica and HPA columns stop at the API's int32 maximum.
MAX_VALUE = 1e15
_INT32_MAX = 2**31 - 1
_COUNT_COLUMNS = frozenset(
    {
        "replicas_ready",
        "hpa_min_replicas",
        "hpa_max_replicas",
        "hpa_current_replicas",
        "hpa_desired_replicas",
        "hpa_target_cpu_utilization",
    }
)


@dataclass(frozen=True)
class Target:
    """Which workload to pull, and how its pods are found."""

    namespace: str
    deployment: str
    selector: str | None = None  # a pod-name regex instead of the owner join
    container: str | None = None
    cluster: str | None = None
    rate_query: str | None = None
    rate_window_s: float = 300.0

    def __post_init__(self) -> None:
        """Refuse (``ValueError``, one line naming the flag and the value) what the API
        server would refuse as a name, and what could break out of a PromQL string."""
        checks = [
            ("--namespace", self.namespace, dns1123_label),
            ("--deployment", self.deployment, dns1123_subdomain),
        ]
        if self.container is not None:
            checks.append(("--container", self.container, dns1123_label))
        for flag, value, rule in checks:
            problems = rule(value)
            if problems:
                raise ValueError(f"{flag}: Invalid value: {'; '.join(problems)}, got {value!r}")
        for flag, text in (
            ("--cluster", self.cluster),
            ("--selector", self.selector),
            ("--rate-query", self.rate_query),
        ):
            if text is None:
                continue
            problem = _text_problem(text, whitespace_ok=flag == "--rate-query")
            if problem:
                raise ValueError(f"{flag}: {problem}, got {_shown(text)}")
        if not (math.isfinite(self.rate_window_s) and self.rate_window_s >= 1.0):
            raise ValueError(
                "--rate-window: must be a finite duration of at least 1 s, got "
                f"{self.rate_window_s}"
            )

    def _base(self) -> list[tuple[str, str, str]]:
        matchers = [("namespace", "=", self.namespace)]
        if self.cluster is not None:
            matchers.append(("cluster", "=", self.cluster))
        return matchers

    def last(self, selector: str) -> str:
        """A gauge's last raw sample in the window (a gap where the window has none)."""
        return f"last_over_time({selector}[{_window(self.rate_window_s)}])"

    def pods(self) -> str:
        """A vector with one series (value 1) per pod of the Deployment, ``(namespace, pod)``,
        through the owner chain (not used with ``selector``: that filters ``pod`` directly)."""
        base = label_matchers(self._base())
        deployment = label_matchers(
            [*self._base(), ("owner_kind", "=", "Deployment"), ("owner_name", "=", self.deployment)]
        )
        owner = self.last(f'kube_pod_owner{{{base},owner_kind="ReplicaSet"}}')
        replicaset = self.last(f"kube_replicaset_owner{{{deployment}}}")
        return (
            "max by (namespace, pod) ("
            f'label_replace({owner}, "replicaset", "$1", "owner_name", "(.*)")'
            " * on (namespace, replicaset) group_left() "
            f"max by (namespace, replicaset) ({replicaset} * 0 + 1))"
        )

    def _containers(self, extra: list[tuple[str, str, str]]) -> str:
        matchers = [*self._base(), ("container", "!=", ""), *extra]
        if self.selector is not None:
            matchers.append(("pod", "=~", self.selector))
        if self.container is not None:
            matchers.append(("container", "=", self.container))
        return label_matchers(matchers)

    def _of_pods(self, per_container: str) -> str:
        """``per_container`` (by namespace, pod, container), kept for the Deployment's pods
        (with ``selector``, the matchers already keep only those)."""
        if self.selector is not None:
            return per_container
        return f"({per_container}) * on (namespace, pod) group_left() ({self.pods()})"


def _shown(text: str) -> str:
    """A flag's value for a message: at most 80 characters, surrogates escaped."""
    short = text if len(text) <= 80 else text[:79] + "…"
    return repr(short.encode("utf-8", "backslashreplace").decode("utf-8"))


def _text_problem(text: str, whitespace_ok: bool = False) -> str | None:
    """Why ``text`` cannot go into a query: empty, not UTF-8 (an undecodable byte in the
    command line), or control characters (whitespace allowed where ``whitespace_ok``)."""
    if not text.strip():
        return "empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not UTF-8 text"
    allowed = "\t\n\r" if whitespace_ok else ""
    if any((ord(c) < 0x20 and c not in allowed) or 0x7F <= ord(c) < 0xA0 for c in text):
        return "control characters (a newline, a tab, …) are not allowed"
    return None


def _window(seconds: float) -> str:
    return f"{round(seconds)}s"


def target_queries(target: Target) -> dict[str, str]:
    """The PromQL of every column (see the module docstring)."""
    window = _window(target.rate_window_s)
    counter = f"container_cpu_usage_seconds_total{{{target._containers([('image', '!=', '')])}}}"
    by = "max by (namespace, pod, container)"
    # The rate only where the window holds two raw samples or more (module docstring: Gaps).
    cpu = target._of_pods(
        f"{by} (rate({counter}[{window}])) and ({by} (count_over_time({counter}[{window}])) > 1)"
    )
    memory = target._of_pods(
        f"{by} ("
        + target.last(
            f"container_memory_working_set_bytes{{{target._containers([('image', '!=', '')])}}}"
        )
        + ")"
    )
    base = label_matchers(target._base())

    def request(resource: str, unit: str) -> str:
        per_container = (
            f"{by} ("
            + target.last(
                "kube_pod_container_resource_requests{"
                f"{target._containers([('resource', '=', resource), ('unit', '=', unit)])}}}"
            )
            + ")"
        )
        return f"max(sum by (namespace, pod) ({target._of_pods(per_container)}))"

    info = target.last(
        "kube_horizontalpodautoscaler_info{"
        f'{base},scaletargetref_kind="Deployment",scaletargetref_name={_q(target.deployment)}}}'
    )
    hpa_of = (
        "on (namespace, horizontalpodautoscaler) group_left() "
        f"max by (namespace, horizontalpodautoscaler) ({info})"
    )

    def hpa(metric: str, extra: str = "") -> str:
        selector = f"{base}{extra}"
        series = target.last(f"kube_horizontalpodautoscaler_{metric}{{{selector}}}")
        return f"max(max by (namespace, horizontalpodautoscaler) ({series}) * {hpa_of})"

    queries = {
        "cpu_cores": f"sum({cpu})",
        "memory_bytes": f"sum({memory})",
        "replicas_ready": (
            f"count(max by (namespace, pod) ({cpu}))"
            if target.selector is not None
            else "max("
            + target.last(
                "kube_deployment_status_replicas_ready{"
                f"{label_matchers([*target._base(), ('deployment', '=', target.deployment)])}}}"
            )
            + ")"
        ),
        "cpu_request_cores": request("cpu", "core"),
        "memory_request_bytes": request("memory", "byte"),
        "hpa_min_replicas": hpa("spec_min_replicas"),
        "hpa_max_replicas": hpa("spec_max_replicas"),
        "hpa_current_replicas": hpa("status_current_replicas"),
        "hpa_desired_replicas": hpa("status_desired_replicas"),
        "hpa_target_cpu_utilization": hpa(
            "spec_target_metric", ',metric_name="cpu",metric_target_type="utilization"'
        ),
    }
    if target.rate_query is not None:
        queries = {"requests_per_s": f"sum({target.rate_query})", **queries}
    return queries


def _q(text: str) -> str:
    return promql_string(text)


@dataclass(frozen=True)
class PulledTrace:
    """The trace (``timestamp`` + columns on the step grid; gaps are its NaNs) and the
    columns it lacks."""

    frame: pd.DataFrame
    step_s: float
    missing: tuple[str, ...] = ()  # columns whose query matched nothing (left out)


#: Columns that must have data, or the pull is pointless.
REQUIRED = ("cpu_cores",)


def pull_trace(
    prometheus: Prometheus, target: Target, start_s: float, end_s: float, step_s: float
) -> PulledTrace:
    """Every column over ``[start, end]`` on the step grid (see the module docstring).

    The whole pull runs under one deadline (``prometheus.timeout_s``). More than
    :data:`MAX_POINTS_PER_PULL` points is refused before any request; every answer is
    checked (module docstring: *What is kept*) before anything is returned.
    ``PrometheusError`` when the required CPU series matches nothing: the message says
    what the store has instead (deployments in the namespace, or no cAdvisor data).
    """
    where = redact_url(prometheus.url)
    points = count_points(start_s, end_s, step_s)
    if points > MAX_POINTS_PER_PULL:
        raise PrometheusError(
            f"{where}: {points:,} points per series from {format_iso_utc(start_s)} to "
            f"{format_iso_utc(end_s)} every {step_s:g} s, more than the limit of "
            f"{MAX_POINTS_PER_PULL:,}"
        )
    grid: FloatArray = start_s + step_s * np.arange(points, dtype=float)
    columns: dict[str, FloatArray] = {}
    missing: list[str] = []
    with prometheus.deadline():
        for name, promql in target_queries(target).items():
            series = prometheus.query_range(promql, float(grid[0]), float(grid[-1]), step_s)
            if not series:
                if name in REQUIRED:
                    raise PrometheusError(_nothing_matched(prometheus, target, start_s, end_s))
                if name == "requests_per_s":
                    raise PrometheusError(
                        f"{where}: --rate-query {_shown(target.rate_query or '')} matched "
                        f"no series between {format_iso_utc(start_s)} and "
                        f"{format_iso_utc(end_s)}"
                    )
                missing.append(name)
                continue
            column = _column(prometheus, name, promql, series, grid, step_s)
            if name in (*REQUIRED, "requests_per_s") and np.isnan(column).all():
                raise PrometheusError(
                    f"{where}/api/v1/query_range: {name}: no value at any of the {points:,} "
                    f"points between {format_iso_utc(start_s)} and {format_iso_utc(end_s)} "
                    "(every one NaN, a gap): no load to replay; nothing was written"
                )
            columns[name] = column
    frame = pd.DataFrame({"timestamp": [format_iso_utc(t) for t in grid], **columns})
    return PulledTrace(frame=frame, step_s=step_s, missing=tuple(missing))


def _column(
    prometheus: Prometheus,
    name: str,
    promql: str,
    series: list[Series],
    grid: FloatArray,
    step_s: float,
) -> FloatArray:
    """One column on the grid from its one series, checked: NaN is a gap; infinities,
    negatives and absurd magnitudes are refused."""
    where = f"{redact_url(prometheus.url)}/api/v1/query_range: {name}"
    if len(series) != 1:
        shown = ", ".join(str(dict(s.labels)) for s in series[:3])
        raise PrometheusError(
            f"{where}: expected one series (the query is aggregated), got {len(series)}: "
            f"{shown[:200]}"
        )
    (only,) = series
    limit = float(_INT32_MAX) if name in _COUNT_COLUMNS else MAX_VALUE
    values = only.values
    bad = np.isinf(values) | (values < 0) | (values > limit)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = float(values[first])
        why = (
            "an infinite value"
            if math.isinf(value)
            else "a negative value"
            if value < 0
            else f"a value beyond {limit:g}, no real measurement"
        )
        raise PrometheusError(
            f"{where}: {why} at {format_iso_utc(float(only.times_s[first]))}, got {value!r} "
            f"({int(bad.sum())} such samples); nothing was written"
        )
    column: FloatArray = np.full(grid.size, np.nan)
    index = np.rint((only.times_s - grid[0]) / step_s).astype(np.int64)
    column[index] = values  # the client checked: on the grid, inside, each once
    return column


def _nothing_matched(prometheus: Prometheus, target: Target, start_s: float, end_s: float) -> str:
    """Why the CPU query is empty, from what the store does have."""
    base = label_matchers(target._base())
    what = (
        f"pods matching {target.selector!r}"
        if target.selector is not None
        else f"Deployment {target.namespace}/{target.deployment}"
    )
    lines = [
        f"{redact_url(prometheus.url)}: no CPU series for {what} between "
        f"{format_iso_utc(start_s)} and {format_iso_utc(end_s)}"
    ]
    span = _window(end_s - start_s)
    try:
        deployments = prometheus.query(
            f"count by (deployment) (last_over_time(kube_deployment_created{{{base}}}[{span}]))",
            end_s,
        )
        cadvisor = prometheus.query(
            f"count(last_over_time(container_cpu_usage_seconds_total{{{base}}}[{span}]))", end_s
        )
    except PrometheusError:
        return lines[0]
    names = sorted(labels.get("deployment", "?") for labels, _ in deployments)
    lines.append(
        f"Deployments in namespace {target.namespace}: {names}"
        if names
        else f"no kube-state-metrics Deployments in namespace {target.namespace}"
    )
    if not cadvisor:
        lines.append(
            f"no cAdvisor CPU series (container_cpu_usage_seconds_total) in {target.namespace}"
        )
    return "; ".join(lines)
