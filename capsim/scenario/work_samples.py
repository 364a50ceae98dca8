"""Empirical work: a service's per-request CPU read from a file of samples, at the edge.

``service_time: {distribution: empirical, path: work.csv, column: cpu_ms}`` names a CSV
file (relative to the scenario) whose column holds measured CPU milliseconds per request,
one request per row. The file is read once while the scenario loads, with the trace
reader's safety rules (a regular file, at most ``MAX_TRACE_BYTES`` and
``MAX_TRACE_ROWS``), and reduced to what the expected service model uses: the samples'
mean and coefficient of variation. The mean must be the service's
``cpu_ms_per_request`` (within 1 %, so that the scenario states its work once and a
mismatch is caught), and the coefficient of variation at most 1 (the model's limit:
``README.md`` › *The service model*).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.scenario.limits import CPU_MS_PER_REQUEST_MAX, MAX_TRACE_ROWS
from capsim.scenario.load.traces import read_csv_table, row_name
from capsim.scenario.workloads import MAX_MODELLED_CV, ServiceTime, ServiceWorkload

__all__ = ["MEAN_TOLERANCE", "read_work_samples", "with_work_samples"]

FloatArray = npt.NDArray[np.float64]

MEAN_TOLERANCE = 0.01
"""How far the samples' mean may be from ``cpu_ms_per_request`` (relative)."""


def read_work_samples(path: Path, shown: str, column: str) -> FloatArray:
    """The CPU milliseconds in ``column`` of the CSV file ``path`` (``shown`` as the user
    wrote it), checked: at least two rows, every value a finite number above 0 and at
    most ``CPU_MS_PER_REQUEST_MAX``. Errors name the file, column, line and value."""
    frame, lines = read_csv_table(path, shown)
    if column not in frame:
        raise ValueError(f"{shown}: no column {column!r} (columns: {list(frame)})")
    if len(frame) > MAX_TRACE_ROWS:
        raise ValueError(f"{shown}: {len(frame):,} rows, more than the limit of {MAX_TRACE_ROWS:,}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~((values > 0) & (values <= CPU_MS_PER_REQUEST_MAX)))
    if bad.size:
        row = int(bad[0])
        raw = frame[column].iloc[row]
        raw = raw.item() if hasattr(raw, "item") else raw
        raise ValueError(
            f"{shown}: column {column!r}, {row_name(True, row, lines)}: CPU per request must "
            f"be milliseconds above 0 and at most {CPU_MS_PER_REQUEST_MAX:g}, got {raw!r}"
        )
    if values.size < 2:
        raise ValueError(f"{shown}: column {column!r}: at least two samples are needed")
    return values


def _checked_shape(workload: ServiceWorkload, base_dir: Path, max_cv: float) -> ServiceTime:
    shape = workload.service_time
    assert shape.path is not None
    samples = read_work_samples(base_dir / shape.path, str(shape.path), shape.column)
    mean = float(samples.mean())
    cv = float(samples.std() / mean)
    stated = workload.cpu_ms_per_request
    if abs(mean - stated) > MEAN_TOLERANCE * stated:
        raise ValueError(
            f"{shape.path}: the samples' mean is {mean:.6g} ms but cpu_ms_per_request is "
            f"{stated:g}; set cpu_ms_per_request to {mean:.6g}"
        )
    if cv > max_cv:
        raise ValueError(
            f"{shape.path}: the samples' coefficient of variation is {cv:.3g}, above "
            f"{max_cv:g}: the expected service model does not take work more variable than "
            "exponential (its waits have heavier tails than the model's and its p99 would be "
            "too low); set service_model: exact to simulate every request"
        )
    return shape.model_copy(update={"cv": math.sqrt(max(cv * cv, 0.0)), "samples": samples.size})


def with_work_samples(
    workloads: tuple[object, ...] | list[object], base_dir: Path, max_cv: float = MAX_MODELLED_CV
) -> tuple[list[object], list[tuple[int, str]]]:
    """``workloads`` with every empirical service time reduced to its samples' shape, and
    the problems found as ``(index, message)`` (the message starts with the file). The
    samples' coefficient of variation may be at most ``max_cv`` (the expected model's
    :data:`~capsim.scenario.workloads.MAX_MODELLED_CV`; the exact one takes any)."""
    out: list[object] = []
    problems: list[tuple[int, str]] = []
    for index, workload in enumerate(workloads):
        if isinstance(workload, ServiceWorkload) and workload.service_time.distribution == (
            "empirical"
        ):
            try:
                shape = _checked_shape(workload, base_dir, max_cv)
            except ValueError as exc:
                problems.append((index, str(exc)))
                out.append(workload)
                continue
            workload = workload.model_copy(update={"service_time": shape})
        out.append(workload)
    return out, problems
