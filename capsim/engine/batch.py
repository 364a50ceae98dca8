"""Batch jobs on a platform: submission, the job queue, workers computing, and the levels
they hold.

:class:`BatchJobs` submits every job at its time (:mod:`capsim.scenario.jobs`) and hands
it to the platform (``submit``), which places its workers (pods on shared nodes, or one
VM each) and runs :meth:`BatchJobs.work` for each worker once it is running. ``work``
holds gang workers at a barrier until all are running, computes, and records the job's
start (first worker computing; for a gang, all of them) and end (last worker done). A
job's *wait* is start − submit, so it includes queueing, scheduling, image pulls,
container start and VM boot.

Batch resources are levels that change at events; their time integrals give exact
interval means for the time series: CPU used (a computing worker uses its ``cpu``,
capped at what its pod or VM allows), memory used, CPU requested (pods bound, or VMs'
vCPUs), CPU capacity (the CPU a placed worker may use) and GPUs used.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from capsim.engine.recorder import BATCH_LEVELS, Levels, PlatformRecorder
from capsim.scenario import BatchWorkload, ServiceWorkload
from capsim.scenario.jobs import JobSpec, queue_key

__all__ = ["BatchJobs", "JobRun"]

FloatArray = npt.NDArray[np.float64]

_DESIRED, _PLACED, _COMPUTING = 0, 1, 2  # rows of the worker counts
_QUEUED, _RUNNING = 0, 1  # rows of the job counts


@dataclass
class JobRun:
    """One submitted job on one platform: its progress and times (``None`` until reached)."""

    spec: JobSpec
    workload: int  # index among the scenario's workloads
    key: tuple[int, float, int, int]  # queue order
    placed: int = 0  # workers given a pod or a VM
    running: int = 0  # workers ready to compute (gang: waiting at the barrier)
    done: int = 0
    start_s: float | None = None
    end_s: float | None = None
    barrier: simpy.Event | None = None

    @property
    def detail(self) -> str:
        """How the event log names the job."""
        spec = self.spec
        return f"{spec.name}: {spec.workers} worker(s)" + (" (gang)" if spec.gang else "")


class BatchJobs:
    """The batch workloads of one platform (see the module docstring).

    ``submit(run, now)`` is the platform's: it queues the job or starts its workers.
    """

    def __init__(
        self,
        env: simpy.Environment,
        workloads: Sequence[ServiceWorkload | BatchWorkload],
        jobs: Mapping[str, list[JobSpec]],
        recorder: PlatformRecorder,
        submit: Callable[[JobRun, float], None],
    ) -> None:
        n = len(workloads)
        self.env = env
        self.workloads = list(workloads)
        self.recorder = recorder
        self._jobs_to_submit = jobs
        self._submit = submit
        self.batch = [i for i, w in enumerate(self.workloads) if isinstance(w, BatchWorkload)]
        self.job_runs: list[JobRun] = []
        self.queue: list[JobRun] = []  # submitted, not all workers placed; in queue order
        self._level = np.zeros((len(BATCH_LEVELS), n))
        self._integral = np.zeros((len(BATCH_LEVELS), n))
        self._since_s = 0.0
        self._row_integral = np.zeros((len(BATCH_LEVELS), n))
        self._row_start_s = 0.0
        self.workers = np.zeros((3, n), dtype=np.int64)  # wanted, placed, computing
        self.jobs = np.zeros((2, n), dtype=np.int64)  # queued (not started), running

    def start(self) -> None:
        """Start submitting jobs (when the platform has batch workloads)."""
        if self.batch:
            self.env.process(self._submissions())

    def _submissions(self) -> Generator[simpy.Event, Any, None]:
        order = {w.name: i for i, w in enumerate(self.workloads)}
        specs = sorted(
            (spec for jobs in self._jobs_to_submit.values() for spec in jobs),
            key=lambda j: (j.submit_s, order[j.workload], j.index),
        )
        for spec in specs:
            if spec.submit_s > self.env.now:
                yield self.env.timeout(spec.submit_s - self.env.now)
            w = order[spec.workload]
            run = JobRun(spec, w, queue_key(spec, w))
            self.job_runs.append(run)
            self.workers[_DESIRED, w] += spec.workers
            self.jobs[_QUEUED, w] += 1
            now = self.env.now
            self.recorder.event(now, spec.workload, "job_submitted", detail=run.detail)
            self._submit(run, now)

    def enqueue(self, run: JobRun) -> None:
        bisect.insort(self.queue, run, key=lambda r: r.key)

    def change(
        self,
        w: int,
        *,
        cpu_used: float = 0.0,
        memory_mib: float = 0.0,
        cpu_requested: float = 0.0,
        cpu_capacity: float = 0.0,
        gpu_used: float = 0.0,
    ) -> None:
        """Change the batch levels of workload ``w`` now (cores, MiB, GPUs), integrating
        first."""
        now = self.env.now
        self._integral += self._level * (now - self._since_s)
        self._since_s = now
        level = self._level[:, w]
        level += (cpu_used, memory_mib, cpu_requested, cpu_capacity, gpu_used)

    def worker_placed(self, run: JobRun, cpu_requested: float, cpu_capacity: float) -> None:
        run.placed += 1
        self.workers[_PLACED, run.workload] += 1
        self.change(run.workload, cpu_requested=cpu_requested, cpu_capacity=cpu_capacity)

    def worker_removed(self, run: JobRun, cpu_requested: float, cpu_capacity: float) -> None:
        self.workers[_PLACED, run.workload] -= 1
        self.change(run.workload, cpu_requested=-cpu_requested, cpu_capacity=-cpu_capacity)

    def work(
        self, run: JobRun, worker: int, cpu_cap_cores: float
    ) -> Generator[simpy.Event, Any, None]:
        """One running worker: (gang) wait for the others, compute, finish the job."""
        spec, w = run.spec, run.workload
        workload = self.workloads[w]
        assert isinstance(workload, BatchWorkload)
        run.running += 1
        if spec.gang and run.running < spec.workers:
            if run.barrier is None:
                run.barrier = self.env.event()
            yield run.barrier
        elif spec.gang and run.barrier is not None:
            run.barrier.succeed()
        now = self.env.now
        if run.start_s is None:
            run.start_s = now
            self.jobs[:, w] += (-1, 1)
            self.recorder.event(now, spec.workload, "job_start", detail=run.detail)
        cpu = min(workload.cpu_millicores / 1000.0, cpu_cap_cores)
        memory = workload.memory_bytes / 2**20
        self.workers[_COMPUTING, w] += 1
        self.change(w, cpu_used=cpu, memory_mib=memory, gpu_used=workload.gpu)
        yield self.env.timeout(spec.work_s[worker])
        self.workers[_COMPUTING, w] -= 1
        self.workers[_DESIRED, w] -= 1
        self.change(w, cpu_used=-cpu, memory_mib=-memory, gpu_used=-workload.gpu)
        run.done += 1
        if run.done == spec.workers:
            run.end_s = self.env.now
            self.jobs[_RUNNING, w] -= 1
            self.recorder.event(self.env.now, spec.workload, "job_end", detail=run.detail)

    def with_batch(self, levels: Levels) -> Levels:
        """``levels`` with the batch workloads' columns: desired = workers of unfinished
        jobs, total = workers placed, ready = workers computing; jobs queued and running."""
        if not self.batch:
            return levels
        columns = {}
        rows = (
            ("replicas_desired", _DESIRED),
            ("replicas_total", _PLACED),
            ("replicas_ready", _COMPUTING),
        )
        for name, row in rows:
            values = getattr(levels, name).copy()
            values[self.batch] = self.workers[row, self.batch]
            columns[name] = values
        return dataclasses.replace(
            levels,
            **columns,
            jobs_queued=self.jobs[_QUEUED].copy(),
            jobs_running=self.jobs[_RUNNING].copy(),
        )

    def job_rows(self, platform: str) -> list[tuple[object, ...]]:
        """One row per submitted job: platform, workload, job, submit_s, start_s, end_s,
        workers (NaN times not reached)."""
        nan = float("nan")
        return [
            (
                platform,
                run.spec.workload,
                run.spec.name,
                run.spec.submit_s,
                nan if run.start_s is None else run.start_s,
                nan if run.end_s is None else run.end_s,
                run.spec.workers,
            )
            for run in self.job_runs
        ]

    def interval_means(self, now: float) -> FloatArray | None:
        """Mean batch levels (``BATCH_LEVELS`` × workloads) since the last record row, or
        None without batch workloads."""
        if not self.batch:
            return None
        integral = self._integral + self._level * (now - self._since_s)
        span = now - self._row_start_s
        means: FloatArray = (integral - self._row_integral) / span if span > 0 else integral * 0
        self._row_integral = integral
        self._row_start_s = now
        return means
