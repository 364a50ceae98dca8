"""What every simulated platform shares: the SimPy loop, the load tick, the CPU integral,
and the life of batch jobs.

A platform subclass says how many replicas of each service are ready, what they request
and may use, which periodic controllers it runs, and the levels it reports at each record
instant. This base steps the service model for all services at once per tick and keeps,
per service, the integral of CPU used per replica, so that metrics can report the mean
over any window, as metrics-server and CloudWatch do.

**Batch jobs.** This base submits every job at its time (:mod:`capsim.scenario.jobs`) and
hands it to the platform (:meth:`PlatformSim.submit`), which places its workers (pods on
shared nodes, or one VM each) and calls :meth:`PlatformSim.work` for each worker once it
is running. ``work`` holds gang workers at a barrier until all are running, computes, and
records the job's start (first worker computing; for a gang, all of them) and end (last
worker done). A job's *wait* is start − submit, so it includes queueing, scheduling,
image pulls, container start and VM boot.

Batch resources are levels that change at events; their time integrals give exact
interval means for the time series: CPU used (a computing worker uses its ``cpu``,
capped at what its pod or VM allows), memory used, CPU requested (pods bound, or VMs'
vCPUs) and CPU capacity (the CPU a placed worker may use).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from capsim.engine.inputs import Inputs, Periodic, service_params
from capsim.engine.progress import ProgressCallback
from capsim.engine.recorder import BATCH_LEVELS, Levels, PlatformRecorder
from capsim.models.service import advance, advance_block
from capsim.scenario import BatchWorkload, ServiceWorkload
from capsim.scenario.jobs import JobSpec, queue_key

__all__ = ["SAME_INSTANT_S", "JobRun", "Machines", "PlatformSim"]

SAME_INSTANT_S = 1e-9  # times closer than this are one instant (as in engine.Periodic)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Machines:
    """What a platform has bought: every node or VM, from its request to its removal.

    Cost is per second with ``billing_minimum_s``; capacity is the machines' whole vCPUs
    and memory (what is paid for, before any reservation or guest OS), integrated over
    time so a record row can report its interval mean.
    """

    billing_minimum_s: float
    _live: dict[int, tuple[float, float, float, float, float]] = dataclasses.field(
        default_factory=dict
    )  # id → (requested_s, price_per_hour, vcpu cores, memory bytes, gpus)
    _closed: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def open(
        self,
        key: int,
        requested_s: float,
        price_per_hour: float,
        cpu_cores: float,
        memory_b: float,
        gpus: float = 0.0,
    ) -> None:
        self._live[key] = (requested_s, price_per_hour, cpu_cores, memory_b, gpus)

    def close(self, key: int, now: float) -> None:
        requested_s, price, cores, memory, gpus = self._live.pop(key)
        held = now - requested_s
        self._closed[0] += price * max(held, self.billing_minimum_s) / 3600.0
        self._closed[1] += cores * held
        self._closed[2] += memory * held
        self._closed[3] += gpus * held

    def totals(self, now: float) -> tuple[float, float, float, float]:
        """(cost in USD, vCPU core-seconds, memory byte-seconds, GPU-seconds) from 0 to
        ``now``."""
        cost = cores = memory = gpu_s = 0.0
        minimum = self.billing_minimum_s
        for requested_s, price, cpu, mem, gpus in self._live.values():
            held = now - requested_s
            cost += price * max(held, minimum)
            cores += cpu * held
            memory += mem * held
            gpu_s += gpus * held
        closed = self._closed
        return (
            closed[0] + cost / 3600.0,
            closed[1] + cores,
            closed[2] + memory,
            closed[3] + gpu_s,
        )


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


class PlatformSim:
    """Base of the Kubernetes and VM simulations (see the module docstring)."""

    def __init__(
        self, name: str, inputs: Inputs, rng: np.random.Generator, cpu_limit_cores: Sequence[float]
    ) -> None:
        scenario = inputs.scenario
        self.name = name
        self.inputs = inputs
        self.rng = rng
        self.env = simpy.Environment()
        self.workloads = list(scenario.workloads)
        self.services = [i for i, w in enumerate(self.workloads) if isinstance(w, ServiceWorkload)]
        service_workloads = [w for w in self.workloads if isinstance(w, ServiceWorkload)]
        self.params = service_params(service_workloads, cpu_limit_cores)
        self.rates = (
            np.stack([inputs.arrival_rates[w.name] for w in service_workloads], axis=1)
            if service_workloads
            else np.zeros((inputs.n_ticks, 0))
        )
        self.backlog = np.zeros(len(self.services))  # requests queued per service
        self.recorder = PlatformRecorder(
            name,
            [w.name for w in self.workloads],
            self.services,
            inputs.n_ticks,
            inputs.tick_s,
            arrival_rates=self.rates,
        )
        n = len(self.services)
        self.cpu_integral = np.zeros(n)  # core-seconds per replica up to the current tick
        self.cpu_rate = np.zeros(n)  # cores per replica during the current tick
        self.memory_mib = np.zeros(n)  # per replica during the current tick
        self.tick_start_s = 0.0
        self.next_tick = 0  # index of the next tick to step
        self.on_progress: ProgressCallback | None = None
        self._setup_batch()

    # --- what a platform provides ---------------------------------------------------

    def periods(self) -> list[tuple[str, float]]:
        """The platform's periodic jobs, in the order they run at equal times."""
        raise NotImplementedError

    def handle(self, job: str, now: float) -> None:
        raise NotImplementedError

    def ready_replicas(self) -> IntArray:
        """Ready replicas of each service, now."""
        raise NotImplementedError

    def cpu_requested_cores(self) -> FloatArray:
        raise NotImplementedError

    def levels(self, now: float) -> Levels:
        raise NotImplementedError

    def setup(self) -> None:
        """Create the warm initial state at time 0."""
        raise NotImplementedError

    def submit(self, run: JobRun, now: float) -> None:
        """Take a newly submitted job (queue it, or start its workers)."""
        raise NotImplementedError

    # --- batch jobs --------------------------------------------------------------------

    def _setup_batch(self) -> None:
        n = len(self.workloads)
        self.batch = [i for i, w in enumerate(self.workloads) if isinstance(w, BatchWorkload)]
        self.job_runs: list[JobRun] = []
        self.queue: list[JobRun] = []  # submitted, not all workers placed; in queue order
        self._batch_level = np.zeros((len(BATCH_LEVELS), n))
        self._batch_integral = np.zeros((len(BATCH_LEVELS), n))
        self._batch_since_s = 0.0
        self._row_integral = np.zeros((len(BATCH_LEVELS), n))
        self._row_start_s = 0.0
        self._workers = np.zeros((3, n), dtype=np.int64)  # wanted, placed, computing
        self._jobs = np.zeros((2, n), dtype=np.int64)  # queued (not started), running

    def _submissions(self) -> Generator[simpy.Event, Any, None]:
        order = {w.name: i for i, w in enumerate(self.workloads)}
        specs = sorted(
            (spec for jobs in self.inputs.jobs.values() for spec in jobs),
            key=lambda j: (j.submit_s, order[j.workload], j.index),
        )
        for spec in specs:
            if spec.submit_s > self.env.now:
                yield self.env.timeout(spec.submit_s - self.env.now)
            w = order[spec.workload]
            run = JobRun(spec, w, queue_key(spec, w))
            self.job_runs.append(run)
            self._workers[0, w] += spec.workers
            self._jobs[0, w] += 1
            now = self.env.now
            self.recorder.event(now, spec.workload, "job_submitted", detail=self._job_detail(run))
            self.submit(run, now)

    @staticmethod
    def _job_detail(run: JobRun) -> str:
        spec = run.spec
        return f"{spec.name}: {spec.workers} worker(s)" + (" (gang)" if spec.gang else "")

    def enqueue(self, run: JobRun) -> None:
        bisect.insort(self.queue, run, key=lambda r: r.key)

    def batch_change(
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
        self._batch_integral += self._batch_level * (now - self._batch_since_s)
        self._batch_since_s = now
        level = self._batch_level[:, w]
        level += (cpu_used, memory_mib, cpu_requested, cpu_capacity, gpu_used)

    def worker_placed(self, run: JobRun, cpu_requested: float, cpu_capacity: float) -> None:
        run.placed += 1
        self._workers[1, run.workload] += 1
        self.batch_change(run.workload, cpu_requested=cpu_requested, cpu_capacity=cpu_capacity)

    def worker_removed(self, run: JobRun, cpu_requested: float, cpu_capacity: float) -> None:
        self._workers[1, run.workload] -= 1
        self.batch_change(run.workload, cpu_requested=-cpu_requested, cpu_capacity=-cpu_capacity)

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
            self._jobs[:, w] += (-1, 1)
            self.recorder.event(now, spec.workload, "job_start", detail=self._job_detail(run))
        cpu = min(workload.cpu_millicores / 1000.0, cpu_cap_cores)
        memory = workload.memory_bytes / 2**20
        self._workers[2, w] += 1
        self.batch_change(w, cpu_used=cpu, memory_mib=memory, gpu_used=workload.gpu)
        yield self.env.timeout(spec.work_s[worker])
        self._workers[2, w] -= 1
        self._workers[0, w] -= 1
        self.batch_change(w, cpu_used=-cpu, memory_mib=-memory, gpu_used=-workload.gpu)
        run.done += 1
        if run.done == spec.workers:
            run.end_s = self.env.now
            self._jobs[1, w] -= 1
            self.recorder.event(
                self.env.now, spec.workload, "job_end", detail=self._job_detail(run)
            )

    def with_batch(self, levels: Levels) -> Levels:
        """``levels`` with the batch workloads' columns: desired = workers of unfinished
        jobs, total = workers placed, ready = workers computing; jobs queued and running."""
        if not self.batch:
            return levels
        columns = {}
        for name, row in (("replicas_desired", 0), ("replicas_total", 1), ("replicas_ready", 2)):
            values = getattr(levels, name).copy()
            values[self.batch] = self._workers[row, self.batch]
            columns[name] = values
        return dataclasses.replace(
            levels, **columns, jobs_queued=self._jobs[0].copy(), jobs_running=self._jobs[1].copy()
        )

    def job_rows(self) -> list[tuple[object, ...]]:
        """One row per submitted job: platform, workload, job, submit_s, start_s, end_s,
        workers (NaN times not reached)."""
        nan = float("nan")
        return [
            (
                self.name,
                run.spec.workload,
                run.spec.name,
                run.spec.submit_s,
                nan if run.start_s is None else run.start_s,
                nan if run.end_s is None else run.end_s,
                run.spec.workers,
            )
            for run in self.job_runs
        ]

    def _batch_means(self, now: float) -> FloatArray:
        """Mean batch levels (cpu used, memory MiB, cpu requested, capacity) since the last
        record row."""
        integral = self._batch_integral + self._batch_level * (now - self._batch_since_s)
        span = now - self._row_start_s
        means: FloatArray = (integral - self._row_integral) / span if span > 0 else integral * 0
        self._row_integral = integral
        self._row_start_s = now
        return means

    def _record(self, now: float, next_tick: int) -> None:
        batch = self._batch_means(now) if self.batch else None
        self.recorder.row(now, next_tick, self.levels(now), batch)
        if self.on_progress is not None:
            self.on_progress(self.name, now, self.inputs.scenario.duration_s)

    # --- shared machinery ------------------------------------------------------------

    def cpu_integral_at(self, now: float) -> FloatArray:
        """Core-seconds used per replica from 0 to ``now`` (for windowed means)."""
        return self.cpu_integral + self.cpu_rate * (now - self.tick_start_s)

    def _tick_index(self, time_s: float, *, inclusive: bool) -> int:
        """Number of ticks starting before ``time_s`` (or at it, when ``inclusive``)."""
        ticks = time_s / self.inputs.tick_s
        nearest = round(ticks)
        if math.isclose(ticks, nearest, rel_tol=0.0, abs_tol=1e-9):
            count = nearest + 1 if inclusive else nearest
        else:
            count = math.ceil(ticks)
        return min(max(count, 0), self.inputs.n_ticks)

    def _run_ticks(self, until: int) -> Generator[simpy.Event, Any, None]:
        """Run ticks ``[next_tick, until)``, many at once where nothing happens between.

        Every event at or before a tick's start (within :data:`SAME_INSTANT_S`, as
        :meth:`_tick_index` counts) happens before that tick. Ready replicas change only at
        events, so the ticks up to the next event are one block with fixed replicas
        (:func:`~capsim.models.service.step_block`); while a backlog lasts, blocks are one tick
        long. The result is the tick-by-tick recurrence, whatever the block lengths.
        """
        tick_s = self.inputs.tick_s
        while self.next_tick < until:
            upcoming = self.env.peek()  # the next event of any other process
            if (
                upcoming < math.inf
                and self._tick_index(upcoming, inclusive=False) <= self.next_tick
            ):
                yield self.env.timeout(max(0.0, upcoming - self.env.now))  # it comes first
                continue
            start_s = self.next_tick * tick_s
            if start_s > self.env.now:
                yield self.env.timeout(start_s - self.env.now)
                continue  # events due at the start come first
            last = until
            if upcoming < math.inf:
                last = min(until, self._tick_index(upcoming, inclusive=False))
            if self.backlog.any():
                last = self.next_tick + 1
            self._step_block(self.next_tick, last)

    def _settle(self, now: float) -> Generator[simpy.Event, Any, None]:
        """Let every event at or before ``now`` (within :data:`SAME_INSTANT_S`) happen, so
        a controller or a record row at ``now`` sees them, whatever order they were
        scheduled in."""
        while self.env.peek() <= now + SAME_INSTANT_S:
            yield self.env.timeout(max(0.0, self.env.peek() - self.env.now))

    def _step_block(self, first: int, last: int) -> None:
        """Step ticks ``[first, last)`` with the current replicas (see :meth:`_run_ticks`)."""
        tick_s = self.inputs.tick_s
        ready = self.ready_replicas()
        replicas = ready.astype(np.float64)
        # The CPU integral is folded tick by tick, I(k + 1) = I(k) + cpu(k) × tick_s, in
        # this order however the ticks are blocked: metric samples are then the same
        # floats for any block lengths (the batched sweep folds the same way).
        integral = self.cpu_integral + self.cpu_rate * tick_s  # up to the start of `first`
        if last - first == 1:  # one tick: plain arrays, less overhead
            self.backlog, out = advance(
                self.params, self.backlog, self.rates[first], replicas, tick_s
            )
            self.cpu_integral = integral
            self.cpu_rate = out.cpu_used_cores_per_replica
            self.memory_mib = out.memory_used_mib_per_replica
        else:
            self.backlog, out = advance_block(
                self.params, self.backlog, self.rates[first:last], replicas, tick_s
            )
            last = first + out.backlog.shape[0]  # the ticks the block kept
            cpu = out.cpu_used_cores_per_replica
            steps = np.concatenate([integral[None, :], cpu[:-1] * tick_s])
            self.cpu_integral = np.add.accumulate(steps, axis=0)[-1]
            self.cpu_rate = cpu[-1]
            self.memory_mib = out.memory_used_mib_per_replica[-1]
        self.tick_start_s = (last - 1) * tick_s
        capacity = ready * self.params.cpu_limit_cores
        self.recorder.ticks(first, out, ready, self.cpu_requested_cores(), capacity)
        self.next_tick = last

    def _loop(self) -> Generator[simpy.Event, Any, None]:
        """Controllers and record rows at their times; the ticks in between, in blocks.

        At equal times the order is: events (pod and node changes), record row, the tick
        starting then, controllers; times within :data:`SAME_INSTANT_S` are equal.
        """
        inputs = self.inputs
        tick_s = inputs.tick_s
        jobs = [("record", inputs.record_every_s), *self.periods()]
        for now, due in Periodic(jobs, inputs.scenario.duration_s):
            next_tick_s = self.next_tick * tick_s
            if due[0] == "record":
                if next_tick_s < now - SAME_INSTANT_S:  # ticks before the row are still to run
                    yield from self._run_ticks(self._tick_index(now, inclusive=False))
                yield from self._settle(now)
                if now > 0:
                    self._record(now, self.next_tick)
                due = due[1:]
            if not due:
                continue
            if self.next_tick * tick_s <= now + SAME_INSTANT_S:  # a tick starts by then
                yield from self._run_ticks(self._tick_index(now, inclusive=True))
            yield from self._settle(now)
            if now > self.env.now:
                yield self.env.timeout(now - self.env.now)
            for job in due:
                self.handle(job, now)
        yield from self._run_ticks(inputs.n_ticks)

    def run(self) -> PlatformRecorder:
        """Simulate the whole duration; the recorder holds the result."""
        self.setup()
        self.env.process(self._loop())
        if self.batch:
            self.env.process(self._submissions())
        end = self.inputs.scenario.duration_s
        self.env.run(until=end)
        while self.env.peek() <= end + SAME_INSTANT_S:  # changes at the end: in the last row
            self.env.step()
        self._record(end, self.inputs.n_ticks)
        self.recorder.finalize()
        return self.recorder
