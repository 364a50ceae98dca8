"""metrics-server samples of a set of pods → a trace on a regular grid (``capsim live
metrics-server``).

metrics-server (``metrics.k8s.io/v1beta1``, what ``kubectl top`` and the HPA read) keeps
no history: each PodMetrics holds only the pod's latest usage, averaged over ``window``
(15 s by default) and ending at ``timestamp``. So capsim samples it itself, every
``interval`` for ``duration``, and writes one CSV row per sample:

``timestamp``
    The **scheduled** time of the sample, ``start + k × interval`` (ISO 8601 UTC, whole
    seconds, ``2026-11-25T10:00:15Z``), not the time the answer arrived: capsim's trace
    reader needs a regular step. ``start`` is the first whole second at or after the
    recording begins, so ``interval`` must be a whole number of seconds (at least 1).
``cpu_cores``
    The sum over the pods and their containers of ``usage.cpu``, in cores, converted
    exactly (:func:`capsim.units.parse_quantity`: ``123456789n`` is 0.123456789) and
    written with at most 9 decimals (nanocores, metrics-server's own resolution) and no
    float noise.
``memory_bytes``
    The sum of ``usage.memory`` in bytes, an integer (``65536Ki`` is 67108864; a fraction of
    a byte, which metrics-server never reports, is rounded up as ``Quantity.Value()``
    does).
``pods``
    How many pods reported (PodMetrics items matching the label selector).

Pods come and go between samples (scaling, rollouts): only the ``pods`` column says so.
A sample where **no pod reports** is a real row ``0,0,0`` -- to metrics-server a
Deployment scaled to zero and pods not scraped yet look the same, and both use nothing it
can see.

A sample that **could not be taken** is a gap: its row keeps its timestamp and has empty
values, so the grid stays regular and the trace reader's ``gaps: error | hold | fill``
decides what to do. That happens when the request fails in a way that may pass (no
answer, 429, 5xx: metrics-server restarting) or when the sample's slot had already passed
by a whole interval when the previous request returned. A failure that will not pass
(401, 403, 404, an answer that is not PodMetrics) stops the recording; so does any
failure of the very first request, which checks the credentials and that metrics.k8s.io
is served before anything is written.

The loop (:func:`record`) takes the clock and the sleep as arguments, and the request as
a callable, so tests run it instantly on a fake clock. :class:`TraceCsv` writes rows as
they come and flushes after each, so an interrupted recording keeps every row so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from capsim.kube.client import ApiError, ClusterUnreachableError
from capsim.units import format_duration, format_iso_utc, parse_quantity

__all__ = [
    "COLUMNS",
    "Sample",
    "TraceCsv",
    "Usage",
    "csv_row",
    "exists_message",
    "format_cores",
    "is_transient",
    "pod_usage",
    "record",
    "sample_count",
    "selector_of",
]

#: CSV columns after ``timestamp``, with their units.
COLUMNS: dict[str, str] = {
    "cpu_cores": "CPU used by the pods, cores (sum over pods and containers)",
    "memory_bytes": "memory used by the pods, bytes (sum over pods and containers)",
    "pods": "pods that reported a sample",
}
CSV_HEADER = "timestamp," + ",".join(COLUMNS) + "\n"
NANO = 10**9

Clock = Callable[[], float]
"""Unix seconds now (``time.time``)."""
Sleep = Callable[[float], None]
"""Wait this many seconds (``time.sleep``)."""


@dataclass(frozen=True)
class Usage:
    """What the pods of one sample used: exact cores, bytes, and how many pods reported."""

    cpu_cores: Fraction
    memory_bytes: int
    pods: int


@dataclass(frozen=True)
class Sample:
    """One grid point: its scheduled Unix second and the usage, or ``None`` and why not."""

    time_s: int
    usage: Usage | None
    gap_reason: str = ""


def selector_of(deployment: Mapping[str, Any]) -> str:
    """A Deployment's ``spec.selector`` as label-selector text (``app=web,tier in (a,b)``).

    ``matchLabels`` become ``k=v`` (sorted by key), then each ``matchExpressions`` entry in
    order: ``In``/``NotIn`` with one value as ``k=v``/``k!=v``, with several as ``k in
    (a,b)``/``k notin (a,b)``; ``Exists`` as ``k``; ``DoesNotExist`` as ``!k``. Raises
    ``ValueError`` naming the Deployment and field when the selector is missing, empty or
    has an unknown operator.
    """
    meta = deployment.get("metadata") or {}
    where = f"Deployment {meta.get('namespace', '?')}/{meta.get('name', '?')}: spec.selector"
    selector = (deployment.get("spec") or {}).get("selector")
    if not isinstance(selector, Mapping):
        raise ValueError(f"{where}: missing (a Deployment selects its pods with it)")
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        field = f"{where}.matchExpressions[{index}]"
        if not key:
            raise ValueError(f"{field}.key: missing")
        if operator in ("In", "NotIn"):
            if not values:
                raise ValueError(f"{field}.values: {operator} needs at least one value")
            if len(values) == 1:
                parts.append(f"{key}{'=' if operator == 'In' else '!='}{values[0]}")
            else:
                parts.append(f"{key} {operator.lower()} ({','.join(values)})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(
                f"{field}.operator: {operator!r} is not In, NotIn, Exists or DoesNotExist"
            )
    if not parts:
        raise ValueError(f"{where}: empty (it would select every pod in the namespace)")
    return ",".join(parts)


def pod_usage(items: Iterable[Mapping[str, Any]]) -> Usage:
    """The summed usage of PodMetrics ``items`` (exact; see the module doc for units).

    Raises ``ValueError`` naming the pod, the container and the field when a container's
    ``usage.cpu`` or ``usage.memory`` is missing or not a quantity.
    """
    cpu, memory, pods = Fraction(0), Fraction(0), 0
    for item in items:
        meta = item.get("metadata") or {}
        pod = f"PodMetrics {meta.get('namespace', '?')}/{meta.get('name', '?')}"
        for index, container in enumerate(item.get("containers") or []):
            usage = container.get("usage") or {}
            for resource in ("cpu", "memory"):
                field = f"{pod}: containers[{index}] ({container.get('name', '?')}).usage"
                if resource not in usage:
                    raise ValueError(f"{field}.{resource}: missing")
                try:
                    value = parse_quantity(usage[resource])
                except ValueError as exc:
                    raise ValueError(f"{field}.{resource}: {exc}") from None
                if value < 0:
                    raise ValueError(f"{field}.{resource}: negative: {usage[resource]!r}")
                if resource == "cpu":
                    cpu += value
                else:
                    memory += value
        pods += 1
    return Usage(cpu_cores=cpu, memory_bytes=math.ceil(memory), pods=pods)


def format_cores(cores: Fraction) -> str:
    """Exact cores as decimal text with at most 9 decimals (``0.123456789``, ``2``, ``0.5``);
    anything finer than a nanocore is rounded half to even."""
    nanos = round(cores * NANO)
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    whole, fraction = divmod(nanos, NANO)
    decimals = f"{fraction:09d}".rstrip("0")
    return f"{sign}{whole}.{decimals}" if decimals else f"{sign}{whole}"


def csv_row(sample: Sample) -> str:
    """One CSV line (with its newline); a gap has empty values."""
    if sample.usage is None:
        return f"{format_iso_utc(sample.time_s)},,,\n"
    usage = sample.usage
    return (
        f"{format_iso_utc(sample.time_s)},{format_cores(usage.cpu_cores)},"
        f"{usage.memory_bytes},{usage.pods}\n"
    )


def sample_count(interval_s: float, duration_s: float) -> int:
    """How many samples ``duration_s`` holds: ``floor(duration / interval)``, the rows
    covering ``[start, start + duration)``. Raises ``ValueError`` naming the flag when
    ``interval`` is not a whole number of seconds >= 1 or ``duration`` is shorter."""
    if not (interval_s >= 1 and float(interval_s).is_integer()):
        raise ValueError(
            f"--interval: must be a whole number of seconds, at least 1s (the trace's "
            f"timestamps are whole seconds), got {interval_s:g} s"
        )
    if not math.isfinite(duration_s) or duration_s < interval_s:
        raise ValueError(
            f"--duration ({format_duration(duration_s) if math.isfinite(duration_s) else 'inf'})"
            f" must be at least one --interval ({format_duration(interval_s)})"
        )
    return int(duration_s // interval_s)


def is_transient(error: Exception) -> bool:
    """Whether a failed sample may succeed later: no answer, 429 or a 5xx."""
    if isinstance(error, ClusterUnreachableError):
        return True
    return isinstance(error, ApiError) and (error.code == 429 or error.code >= 500)


def record(
    fetch: Callable[[], Sequence[Mapping[str, Any]]],
    *,
    interval_s: float,
    duration_s: float,
    clock: Clock,
    sleep: Sleep,
    on_sample: Callable[[Sample], None],
    transient: Callable[[Exception], bool] = is_transient,
) -> int:
    """Sample ``fetch`` (one PodMetrics list) on the grid ``start + k × interval``.

    ``start`` is ``ceil(clock())`` when called; there are :func:`sample_count` samples.
    Before each, sleeps until its time. Each sample, or gap (see the module doc), goes to
    ``on_sample`` in order; returns how many were passed on. The first request's errors,
    and later ones that ``transient`` says will not pass, are raised; so is whatever
    ``sleep`` raises (``KeyboardInterrupt``), after the samples so far were passed on.
    """
    count = sample_count(interval_s, duration_s)
    step = int(interval_s)
    start = math.ceil(clock())
    for k in range(count):
        due = start + k * step
        now = clock()
        if now < due:
            sleep(due - now)
        elif k > 0 and now >= due + step:
            late = f"{now - due:.0f} s"
            on_sample(Sample(due, None, f"missed: the previous request ended {late} after it"))
            continue
        try:
            items = fetch()
        except Exception as error:
            if k == 0 or not transient(error):
                raise
            on_sample(Sample(due, None, " ".join(str(error).split())))
            continue
        on_sample(Sample(due, pod_usage(items)))
    return count


class TraceCsv:
    """The trace CSV: created with its header on the first row (never over an existing
    file), each row flushed as it is written, so an interrupted run keeps them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.gaps: list[Sample] = []
        self.first: Sample | None = None
        self.last: Sample | None = None
        self._stream: TextIO | None = None

    def __call__(self, sample: Sample) -> None:
        """Append one row (the :func:`record` callback)."""
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._stream = self.path.open("x", encoding="utf-8", newline="")
            except FileExistsError:
                raise ValueError(exists_message(self.path)) from None
            self._stream.write(CSV_HEADER)
            self.first = sample
        self._stream.write(csv_row(sample))
        self._stream.flush()
        self.rows += 1
        self.last = sample
        if sample.usage is None:
            self.gaps.append(sample)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def exists_message(path: Path) -> str:
    """The error for an ``--out`` that already exists."""
    return (
        f"--out {path}: the file exists; capsim never overwrites or appends to a recording: "
        "choose another path or delete it"
    )
