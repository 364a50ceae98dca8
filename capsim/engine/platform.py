"""What every simulated platform shares: the SimPy loop, the load tick, the CPU integral.

A platform subclass says how many replicas of each service are ready, what they request
and may use, which periodic controllers it runs, and the levels it reports at each record
instant. This base steps the service model for all services at once per tick and keeps,
per service, the integral of CPU used per replica, so that metrics can report the mean
over any window, as metrics-server and CloudWatch do. Batch jobs are a component of the
platform (:class:`~capsim.engine.batch.BatchJobs`), which places their workers.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from capsim.engine.batch import BatchJobs, JobRun
from capsim.engine.exact import ExactServiceBank
from capsim.engine.folding import compiled_folds
from capsim.engine.progress import ProgressCallback
from capsim.engine.recorder import Levels, PlatformRecorder
from capsim.engine.schedule import PeriodicTask
from capsim.engine.services import ServiceBank
from capsim.models.schedule import SAME_INSTANT_S, Periodic
from capsim.models.service import O_CPU, O_SERVED
from capsim.scenario import ServiceWorkload
from capsim.scenario.inputs import Inputs
from capsim.scenario.manifests import METRIC_COLUMNS, pod_metric_column

__all__ = ["PlatformSim"]


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PlatformSim:
    """Base of the Kubernetes and VM simulations (see the module docstring)."""

    def __init__(
        self,
        name: str,
        inputs: Inputs,
        rng: np.random.Generator,
        cpu_limit_cores: Sequence[float],
        routing: Sequence[str],
        accelerators: Sequence[tuple[float, float | None]] | None = None,
        interceptors: Sequence[tuple[float, int | None] | None] | None = None,
    ) -> None:
        scenario = inputs.scenario
        self.name = name
        self.inputs = inputs
        self.rng = rng
        self.env = simpy.Environment()
        self.workloads = list(scenario.workloads)
        self.services = [i for i, w in enumerate(self.workloads) if isinstance(w, ServiceWorkload)]
        service_workloads = [w for w in self.workloads if isinstance(w, ServiceWorkload)]
        self.bank: ServiceBank | ExactServiceBank
        if scenario.service_model == "exact":
            self.bank = ExactServiceBank(
                service_workloads,
                cpu_limit_cores,
                routing,
                inputs.tick_s,
                [inputs.request_seeds(w.name, name) for w in service_workloads],
                scenario.base_dir,
                inputs.n_ticks * inputs.tick_s,
                accelerators,
                interceptors,
            )
        else:
            self.bank = ServiceBank(
                service_workloads,
                cpu_limit_cores,
                routing,
                inputs.tick_s,
                inputs.n_ticks * inputs.tick_s,
                accelerators,
            )
        self.rates = (
            np.stack([inputs.arrival_rates[w.name] for w in service_workloads], axis=1)
            if service_workloads
            else np.zeros((inputs.n_ticks, 0))
        )
        self.recorder = PlatformRecorder(
            name,
            [w.name for w in self.workloads],
            self.services,
            inputs.n_ticks,
            inputs.tick_s,
            # exact: the arrivals drawn replace the load's rates tick by tick
            arrival_rates=self.rates.copy() if scenario.service_model == "exact" else self.rates,
            concurrency=np.array([float(w.concurrency) for w in service_workloads]),
            rows_expected=int(scenario.duration_s // inputs.record_every_s) + 2,
        )
        n = len(self.services)
        self.cpu_integral = np.zeros(n)  # core-seconds per replica up to the current tick
        self.cpu_rate = np.zeros(n)  # cores per replica during the current tick
        self.memory_mib = np.zeros(n)  # per replica during the current tick
        # per service: requests in flight per ready pod, requests/s served per ready pod,
        # the service-wide metrics (SIMULATED_SERVICE_METRICS, in order), then GPU
        # utilization (%) and KV-cache usage (0-1) per pod (METRIC_COLUMNS)
        columns = METRIC_COLUMNS
        self.pods_integral = np.zeros((n, columns))  # their integrals up to the current tick
        self.pods_rate = np.zeros((n, columns))  # their values during the current tick
        held = list(accelerators) if accelerators is not None else [(0.0, None)] * n
        self.service_gpus = np.array([gpus for gpus, _ in held], dtype=np.float64).reshape(n)
        """GPUs one replica of each service holds."""
        self._cpu_limits = np.array(cpu_limit_cores, dtype=np.float64).reshape(n)
        self._gpu_services = [  # services whose work runs on GPUs, not LLMs (own bank)
            i for i, w in enumerate(service_workloads) if w.gpu_ms_per_request is not None
        ]
        self._host_cpu_s = np.array([w.cpu_ms_per_request / 1000.0 for w in service_workloads])
        self._idle_cores = np.array([w.idle_cpu_millicores / 1000.0 for w in service_workloads])
        self.tick_start_s = 0.0
        self.next_tick = 0  # index of the next tick to step
        self.on_progress: ProgressCallback | None = None
        self.batch_jobs = BatchJobs(
            self.env, self.workloads, inputs.jobs, self.recorder, self.submit
        )

    # --- what a platform provides ---------------------------------------------------

    def tasks(self) -> list[PeriodicTask]:
        """The platform's periodic controllers, in the order they run at equal times."""
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

    def _record(self, now: float, next_tick: int) -> None:
        batch = self.batch_jobs.interval_means(now)
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
        (:meth:`~capsim.engine.services.ServiceBank.step` steps them one by one).
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
        if first == 0:  # warm replicas have served the first tick's load for long
            self.bank.warm(self.rates[0], ready.astype(np.float64))
            self.recorder.in_system_at_start = self.bank.in_system()
        out = self.bank.step(self.rates[first:last], ready.astype(np.float64))
        accelerated: list[int] = []
        levels = np.zeros((out.shape[0], out.shape[1], 4))
        if self._gpu_services:
            self._book_gpu_work(out, ready, levels)
            accelerated += self._gpu_services
        arrivals = self.rates[first:last]
        if isinstance(self.bank, ExactServiceBank):
            self.recorder.arrival_rates[first:last] = self.bank.arrived / tick_s
            arrivals = self.recorder.arrival_rates[first:last]
            if self.bank.llm:
                levels[:, self.bank.llm] = self.bank.gpu_levels[:, self.bank.llm]
                accelerated += self.bank.llm
        if accelerated:
            self.recorder.gpu_ticks(first, levels, self.service_gpus, accelerated)
            self._fold_accelerator_metrics(levels, accelerated)
        # The integrals are folded tick by tick, I(k + 1) = I(k) + cpu(k) × tick_s, in
        # this order however the ticks are blocked: metric samples are then the same
        # floats for any block lengths (the fast path folds the same way).
        fold_integrals = compiled_folds()[0]
        fold_integrals(
            out, ready, tick_s, self.cpu_integral, self.cpu_rate, self.memory_mib,
            self.pods_integral, self.pods_rate, np.ascontiguousarray(arrivals),
        )  # fmt: skip
        self.tick_start_s = (last - 1) * tick_s
        capacity = ready * self.bank.cpu_limit_cores
        self.recorder.ticks(first, out, ready, self.cpu_requested_cores(), capacity)
        self.next_tick = last

    def _fold_accelerator_metrics(self, levels: FloatArray, services: Sequence[int]) -> None:
        """Fold the GPU utilization (%) and KV-cache usage (0-1) per pod of ``services``
        over the block as :func:`~capsim.engine.folding.fold_integrals` folds the other
        metrics (``levels``: ticks × services × (GPUs busy in replicas' worth, KV share,
        tokens/s, replicas present)); a service without a KV cache reports 0."""
        dt_s = self.inputs.tick_s
        gpu, kv = pod_metric_column("gpu_utilization"), pod_metric_column("kv_cache_usage")
        for s in services:
            busy, present = levels[:, s, 0], levels[:, s, 3]
            share = np.where(present > 0, busy / np.maximum(present, 1e-300), 0.0)
            for column, values in ((gpu, 100.0 * share), (kv, np.nan_to_num(levels[:, s, 1]))):
                x = self.pods_integral[s, column] + self.pods_rate[s, column] * dt_s
                for t in range(values.shape[0] - 1):
                    x = x + values[t] * dt_s
                self.pods_integral[s, column] = x
                self.pods_rate[s, column] = values[-1]

    def _book_gpu_work(self, out: FloatArray, ready: IntArray, levels: FloatArray) -> None:
        """GPU services: the model's "CPU" is the work its GPUs did (GPUs busy per
        replica); written to ``levels`` as GPUs busy, and replaced by the host CPU per
        replica (served per second × ``cpu_ms_per_request`` + idle CPU, capped at the
        CPU limit)."""
        tick_s = self.inputs.tick_s
        for s in self._gpu_services:
            if ready[s] <= 0:
                continue
            busy = out[:, s, O_CPU].copy()  # GPUs busy per replica (time mean)
            served = out[:, s, O_SERVED] / tick_s / ready[s]
            host = served * self._host_cpu_s[s] + self._idle_cores[s]
            out[:, s, O_CPU] = np.minimum(host, self._cpu_limits[s])
            gpus = max(self.service_gpus[s], 1.0)
            levels[:, s, 0] = busy * ready[s] / gpus  # replicas' worth of GPUs busy
            levels[:, s, 1] = np.nan
            levels[:, s, 2] = np.nan
            levels[:, s, 3] = ready[s]

    def _loop(self) -> Generator[simpy.Event, Any, None]:
        """Controllers and record rows at their times; the ticks in between, in blocks.

        At equal times the order is: events (pod and node changes), record row, the tick
        starting then, controllers; times within :data:`SAME_INSTANT_S` are equal.
        """
        inputs = self.inputs
        tick_s = inputs.tick_s
        jobs: list[tuple[PeriodicTask | None, float]] = [(None, inputs.record_every_s)]
        jobs += [(task, task.period_s) for task in self.tasks()]
        for now, due in Periodic(jobs, inputs.scenario.duration_s):
            next_tick_s = self.next_tick * tick_s
            if due[0] is None:  # the record row
                if next_tick_s < now - SAME_INSTANT_S:  # ticks before the row are still to run
                    yield from self._run_ticks(self._tick_index(now, inclusive=False))
                if self.env.peek() <= now + SAME_INSTANT_S:  # (no generator when none)
                    yield from self._settle(now)
                if now > 0:
                    self._record(now, self.next_tick)
                due = due[1:]
            if not due:
                continue
            if self._idle(due, now):
                continue
            if self.next_tick * tick_s <= now + SAME_INSTANT_S:  # a tick starts by then
                yield from self._run_ticks(self._tick_index(now, inclusive=True))
            if self.env.peek() <= now + SAME_INSTANT_S:
                yield from self._settle(now)
            if now > self.env.now:
                yield self.env.timeout(now - self.env.now)
            for task in due:
                assert task is not None
                task.run(now)
        yield from self._run_ticks(inputs.n_ticks)

    def _idle(self, due: Sequence[PeriodicTask | None], now: float) -> bool:
        """Whether the instant ``now`` can be skipped: no event of any process is pending
        up to it (so the state there is the state now: ticks change no controller's
        inputs but the metrics, which only a scrape reads), no tick starts by then (the
        ticks are blocked as without the skip: a row's sums add block by block), and
        every task due says it would change nothing. Skipping then changes no output."""
        if self.next_tick * self.inputs.tick_s <= now + SAME_INSTANT_S:
            return False
        for task in due:
            idle = None if task is None else task.idle
            if idle is None or not idle(now):
                return False
        return self.env.peek() > now + SAME_INSTANT_S

    def run(self) -> PlatformRecorder:
        """Simulate the whole duration; the recorder holds the result."""
        self.setup()
        self.env.process(self._loop())
        self.batch_jobs.start()
        end = self.inputs.scenario.duration_s
        self.env.run(until=end)
        while self.env.peek() <= end + SAME_INSTANT_S:  # changes at the end: in the last row
            self.env.step()
        self._record(end, self.inputs.n_ticks)
        if isinstance(self.bank, ExactServiceBank):
            self.recorder.samples = [self.bank.samples(s) for s in range(len(self.services))]
            self.recorder.token_samples = [
                self.bank.token_samples(s) for s in range(len(self.services))
            ]
        self.recorder.finalize()
        return self.recorder
