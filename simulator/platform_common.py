"""What every simulated platform shares: the SimPy loop, the load tick, the CPU integral.

A platform subclass says how many replicas of each service are ready, what they request
and may use, which periodic controllers it runs, and the levels it reports at each record
instant. This base steps the service model for all services at once per tick and keeps,
per service, the integral of CPU used per replica, so that metrics can report the mean
over any window, as metrics-server and CloudWatch do.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from simulator.engine import Inputs, Periodic, service_params
from simulator.recorder import Levels, PlatformRecorder
from simulator.scenario import ServiceWorkload
from simulator.service import ServiceState, TickOutput, step

__all__ = ["PlatformSim"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
        self.state = ServiceState.empty(len(self.services))
        self.recorder = PlatformRecorder(
            name, [w.name for w in self.workloads], self.services, inputs.n_ticks, inputs.tick_s
        )
        n = len(self.services)
        self.cpu_integral = np.zeros(n)  # core-seconds per replica up to the current tick
        self.cpu_rate = np.zeros(n)  # cores per replica during the current tick
        self.memory_mib = np.zeros(n)  # per replica during the current tick
        self.tick_start_s = 0.0
        self.last: TickOutput | None = None

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

    # --- shared machinery ------------------------------------------------------------

    def cpu_integral_at(self, now: float) -> FloatArray:
        """Core-seconds used per replica from 0 to ``now`` (for windowed means)."""
        return self.cpu_integral + self.cpu_rate * (now - self.tick_start_s)

    def _tick(self, now: float) -> None:
        index = round(now / self.inputs.tick_s)
        self.cpu_integral = self.cpu_integral_at(now)
        self.tick_start_s = now
        ready = self.ready_replicas()
        arrival = self.rates[index]
        self.state, out = step(
            self.params, self.state, arrival, ready, self.inputs.tick_s, quantiles=False
        )
        self.cpu_rate = out.cpu_used_cores_per_replica
        self.memory_mib = out.memory_used_mib_per_replica
        self.last = out
        capacity = ready * self.params.cpu_limit_cores
        self.recorder.tick(index, arrival, out, ready, self.cpu_requested_cores(), capacity)

    def _loop(self) -> Generator[simpy.Event, Any, None]:
        inputs = self.inputs
        jobs = [("record", inputs.record_every_s), ("tick", inputs.tick_s), *self.periods()]
        for now, due in Periodic(jobs, inputs.scenario.duration_s):
            if now > self.env.now:
                yield self.env.timeout(now - self.env.now)
            for job in due:
                if job == "record":
                    if now > 0:
                        self.recorder.row(now, round(now / inputs.tick_s), self.levels(now))
                elif job == "tick":
                    self._tick(now)
                else:
                    self.handle(job, now)

    def run(self) -> PlatformRecorder:
        """Simulate the whole duration; the recorder holds the result."""
        self.setup()
        self.env.process(self._loop())
        end = self.inputs.scenario.duration_s
        self.env.run(until=end)
        self.recorder.row(end, self.inputs.n_ticks, self.levels(end))
        self.recorder.finalize()
        return self.recorder
