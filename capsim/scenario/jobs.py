"""Batch jobs as plain data: when they are submitted, how long their workers compute, and
in which order a queue serves them.

Modelling assumptions:

* **Submissions** are a Poisson process (exponential gaps at ``poisson_per_hour``), the
  explicit ``times`` of the scenario, or a CSV column of submit times (seconds from the
  start of the run). Only jobs submitted before the end of the run exist.
* **Work.** A worker computes for a time drawn from the workload's ``duration``
  distribution once it is running (container started, or VM booted). The workers of a
  *gang* job (distributed training) start computing together, when the last one is
  running, and finish together: one draw per job. The workers of other jobs are
  independent: one draw per worker.
* **Queue order** is priority (higher first), then submission time, then the order of
  workloads and jobs in the scenario. A queued job that does not fit does not block the
  jobs behind it (best-effort FIFO, Kueue's default strategy), so a big gang job can wait
  while smaller jobs pass it.

The jobs are drawn once per run from the workload's own seed stream, so every platform of
a scenario sees the same jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.scenario.limits import MAX_DURATION_S
from capsim.scenario.load.traces import read_csv_table, row_name
from capsim.scenario.workloads import BatchArrivals, BatchWorkload

__all__ = ["JobSpec", "draw_jobs", "queue_key", "read_submit_times", "submit_times"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class JobSpec:
    """One job of a batch workload: its submission time and each worker's compute time."""

    workload: str
    index: int  # within its workload, in submission order
    submit_s: float
    work_s: tuple[float, ...]  # per worker, seconds of compute
    gang: bool
    priority: int

    @property
    def name(self) -> str:
        return f"{self.workload}-{self.index}"

    @property
    def workers(self) -> int:
        return len(self.work_s)


def read_submit_times(arrivals: BatchArrivals, base_dir: Path) -> FloatArray:
    """The submit times in ``arrivals.path`` (relative to ``base_dir``), checked: a regular
    file within the trace-file limits (:func:`capsim.scenario.load.traces.read_bounded`),
    every row as wide as the header, the column exists, and the times are numbers from 0 to
    ``MAX_DURATION_S`` in increasing order. Errors start with ``path: `` and name the file,
    column, line and value."""
    assert arrivals.path is not None
    try:
        frame, lines = read_csv_table(base_dir / arrivals.path, str(arrivals.path))
    except ValueError as exc:
        raise ValueError(f"path: {exc}") from None
    if arrivals.column not in frame:
        raise ValueError(
            f"path: {arrivals.path}: no column {arrivals.column!r} (columns: {list(frame)})"
        )
    values = pd.to_numeric(frame[arrivals.column], errors="coerce").to_numpy(dtype=np.float64)
    where = f"path: {arrivals.path}: column {arrivals.column!r}"
    bad = np.flatnonzero(~((values >= 0) & (values <= MAX_DURATION_S)))
    if bad.size:
        row = int(bad[0])
        raw = frame[arrivals.column].iloc[row]
        raw = raw.item() if hasattr(raw, "item") else raw
        raise ValueError(
            f"{where}, {row_name(True, row, lines)}: submit time must be seconds from 0 to "
            f"{MAX_DURATION_S:.0e}, got {raw!r}"
        )
    falls = np.flatnonzero(np.diff(values) < 0)
    if falls.size:
        row = int(falls[0]) + 1
        raise ValueError(
            f"{where}, {row_name(True, row, lines)}: submit times must be in increasing order "
            f"({values[row]:g} after {values[row - 1]:g})"
        )
    return values


def submit_times(
    arrivals: BatchArrivals, duration_s: float, rng: np.random.Generator, base_dir: Path
) -> FloatArray:
    """Submission times in ``[0, duration_s)``, increasing."""
    if arrivals.path is not None:
        times = read_submit_times(arrivals, base_dir)
        return times[times < duration_s]
    if arrivals.times_s is not None:
        times = np.asarray(arrivals.times_s, dtype=np.float64)
        return times[times < duration_s]
    assert arrivals.poisson_per_hour is not None
    mean_gap_s = 3600.0 / arrivals.poisson_per_hour
    expected = duration_s / mean_gap_s
    chunk = max(16, int(expected + 6.0 * np.sqrt(expected) + 1))
    gaps = rng.exponential(mean_gap_s, chunk)
    times = np.cumsum(gaps)
    while times[-1] < duration_s:
        more = np.cumsum(rng.exponential(mean_gap_s, chunk)) + times[-1]
        times = np.concatenate([times, more])
    return times[times < duration_s]


def draw_jobs(
    workload: BatchWorkload, duration_s: float, rng: np.random.Generator, base_dir: Path
) -> list[JobSpec]:
    """Every job of ``workload`` submitted before ``duration_s`` (see the module docs)."""
    submits = submit_times(workload.arrivals, duration_s, rng, base_dir)
    per_job = 1 if workload.gang else workload.workers
    work = workload.duration.sample(rng, submits.size * per_job).reshape(submits.size, per_job)
    if workload.gang:
        work = np.repeat(work, workload.workers, axis=1)
    return [
        JobSpec(
            workload.name,
            index,
            float(submit),
            tuple(float(x) for x in work[index]),
            workload.gang,
            workload.priority,
        )
        for index, submit in enumerate(submits)
    ]


def queue_key(job: JobSpec, workload_order: int) -> tuple[int, float, int, int]:
    """Sort key of the job queue: priority (higher first), submission, scenario order."""
    return (-job.priority, job.submit_s, workload_order, job.index)
