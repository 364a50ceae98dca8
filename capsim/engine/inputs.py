"""The discrete-event engine: a scenario and a seed → a run result.

Each platform of the scenario runs in its own SimPy environment against the same load,
so platforms never influence each other.

* **Lifecycles are events.** A pod is scheduled, pulls its image, starts and becomes
  Ready. A node is requested and becomes ready. A VM boots and enters service. A batch
  job is submitted, placed, runs and ends (:mod:`capsim.engine.platform`).
* **Periodic work runs in a fixed order at equal times.** The order is: the load tick
  (every service stepped at once with NumPy), then the metrics scrape, then the
  autoscalers (the HPA sync, or VM alarms), then the cluster autoscaler. So what a
  controller sees at time ``t`` includes the tick that starts at ``t``.

**Randomness.** One seed per run. Streams are spawned with ``numpy.random.SeedSequence``:
one per workload for its load noise or its batch jobs (shared by every platform, so all
platforms see identical load and identical jobs), and one per platform for its delays.
Same scenario and seed give identical results.

**Warm start.** Runs start warm. Every autoscaled workload starts at the size its
autoscaler would settle at for the first tick's load, clamped to its bounds. Its pods
or VMs are already running and ready, and the nodes they need are ready. Fixed-size
workloads start at their size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.engine.progress import ProgressCallback
from capsim.engine.recorder import EVENT_COLUMNS, PlatformRecorder
from capsim.models.service import ServiceParams
from capsim.results.run_result import JOB_COLUMNS, Recording, RunResult
from capsim.scenario import (
    BatchWorkload,
    KubernetesPlatform,
    Scenario,
    ScenarioError,
    ServiceWorkload,
    VmPlatform,
)
from capsim.scenario.jobs import JobSpec, draw_jobs
from capsim.scenario.load import build_load, default_tick_s
from capsim.scenario.load.specs import REQUESTS_PER_S

__all__ = ["Inputs", "Periodic", "prepare_inputs", "run"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Inputs:
    """What every platform shares: the time grid and each service's arrival rate per tick."""

    scenario: Scenario
    seed: int
    tick_s: float
    n_ticks: int
    record_every_s: float
    arrival_rates: dict[str, FloatArray]  # workload name → requests/s per tick
    jobs: dict[str, list[JobSpec]]  # batch workload name → its jobs
    platform_seeds: dict[str, np.random.SeedSequence]


def _tick_s(scenario: Scenario) -> float:
    if scenario.tick_s is not None:
        return scenario.tick_s
    ticks = [
        default_tick_s(w.load, base_dir=scenario.base_dir)
        for w in scenario.workloads
        if isinstance(w, ServiceWorkload)
    ]
    return min(ticks, default=1.0)


def _whole_multiple(value: float, unit: float, what: str, where: str) -> int:
    count = round(value / unit)
    if count < 1 or not math.isclose(count * unit, value, rel_tol=1e-9, abs_tol=1e-9):
        raise ScenarioError(
            f"{where}: {what} ({value:g} s) must be a whole number of ticks ({unit:g} s)"
        )
    return count


def _arrival_rate(
    workload: ServiceWorkload, values: FloatArray, unit: str, where: str
) -> FloatArray:
    """Requests/s per tick; a CPU-demand trace (``cpu_cores``) drives the service by its
    CPU: rate = cores / CPU seconds per request."""
    if unit == REQUESTS_PER_S:
        return values
    if unit == "cpu_cores":
        return values * 1000.0 / workload.cpu_ms_per_request
    raise ScenarioError(
        f"{where}: load unit {unit!r} cannot drive a service (use {REQUESTS_PER_S} or cpu_cores)"
    )


def prepare_inputs(scenario: Scenario, seed: int | None = None) -> Inputs:
    """Build the time grid, the load of every service and the seed streams."""
    seed = scenario.seed if seed is None else seed
    where = str(scenario.base_dir / f"{scenario.name}")
    tick = _tick_s(scenario)
    n_ticks = _whole_multiple(scenario.duration_s, tick, "duration", where)
    every = scenario.record_every_s or tick * max(1, round(60.0 / tick))
    _whole_multiple(every, tick, "record_every", where)
    root = np.random.SeedSequence(seed)
    load_root, platform_root = root.spawn(2)
    load_seeds = load_root.spawn(len(scenario.workloads))
    rates: dict[str, FloatArray] = {}
    jobs: dict[str, list[JobSpec]] = {}
    for index, workload in enumerate(scenario.workloads):
        if isinstance(workload, BatchWorkload):
            rng = np.random.default_rng(load_seeds[index])
            jobs[workload.name] = draw_jobs(workload, scenario.duration_s, rng, scenario.base_dir)
            continue
        series = build_load(
            workload.load,
            duration_s=scenario.duration_s,
            tick_s=tick,
            rng=np.random.default_rng(load_seeds[index]),
            base_dir=scenario.base_dir,
            where=f"workloads[{index}].load",
        )
        rates[workload.name] = _arrival_rate(
            workload,
            np.asarray(series.values, dtype=float),
            series.unit,
            f"{where}: workloads[{index}].load",
        )
    platform_seeds = dict(
        zip(scenario.platforms, platform_root.spawn(len(scenario.platforms)), strict=True)
    )
    return Inputs(scenario, seed, tick, n_ticks, every, rates, jobs, platform_seeds)


class Periodic:
    """Times of periodic jobs in order, exact (``k × period``, no accumulated drift).

    Yields ``(time, names due)`` for every time before ``end_s``; names come in the order
    the periods were given, which is the order the engine runs them at equal times.
    """

    def __init__(self, periods: Sequence[tuple[str, float]], end_s: float) -> None:
        self._periods = list(periods)
        self._end_s = end_s

    def instants(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Every instant before the end and which periods are due then, as arrays: times,
        and a bit mask per time (bit ``i`` = the ``i``-th period given)."""
        # All times at once: job i runs at k × period_i; times within 1e-9 s are one instant.
        times = [
            np.arange(math.ceil(self._end_s / period - 1e-9) + 1) * period
            for _, period in self._periods
        ]
        index = np.concatenate([np.full(t.size, i) for i, t in enumerate(times)])
        flat = np.concatenate(times)
        order = np.lexsort((index, flat))
        flat, index = flat[order], index[order]
        starts = np.flatnonzero(np.diff(flat, prepend=-math.inf) > 1e-9)
        masks = np.bitwise_or.reduceat(np.left_shift(1, index), starts) if flat.size else starts
        instants = flat[starts]
        keep = instants < self._end_s - 1e-9
        return instants[keep], masks[keep].astype(np.int64)

    def __iter__(self) -> Iterator[tuple[float, list[str]]]:
        times, masks = self.instants()
        names: dict[int, list[str]] = {}
        for now, mask in zip(times.tolist(), masks.tolist(), strict=True):
            if mask not in names:  # in the order the periods were given
                names[mask] = [name for i, (name, _) in enumerate(self._periods) if mask >> i & 1]
            yield now, list(names[mask])


def service_params(
    workloads: Sequence[ServiceWorkload], cpu_limit_cores: Sequence[float]
) -> ServiceParams:
    """The service model's constants for ``workloads`` with per-replica CPU limits."""
    return ServiceParams.of(
        cpu_ms_per_request=[w.cpu_ms_per_request for w in workloads],
        concurrency=[w.concurrency for w in workloads],
        cpu_limit_cores=list(cpu_limit_cores),
        timeout_s=[w.timeout_s for w in workloads],
        idle_cpu_cores=[w.idle_cpu_millicores / 1000.0 for w in workloads],
        memory_mib=[w.memory_mib for w in workloads],
        memory_mib_per_request=[w.memory_mib_per_request for w in workloads],
    )


def _frame(columns: dict[str, list[object]]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in (
        "replicas_desired",
        "replicas_ready",
        "replicas_total",
        "nodes",
        "jobs_queued",
        "jobs_running",
    ):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    return frame


def run(
    scenario: Scenario, seed: int | None = None, progress: bool | ProgressCallback = False
) -> RunResult:
    """Simulate every platform of ``scenario`` and return the result (see module docs).

    ``progress=True`` draws a bar per platform on stderr; a callable instead receives
    ``(platform, simulated seconds done, total)`` at every record row.
    """
    from capsim.engine.kubernetes import KubernetesSim
    from capsim.engine.platform import PlatformSim
    from capsim.engine.vm import VmSim

    inputs = prepare_inputs(scenario, seed)
    report: ProgressCallback | None = None
    if callable(progress):
        report = progress
    elif progress:
        from capsim.engine.progress import ProgressBars

        report = ProgressBars()
    recorders: list[PlatformRecorder] = []
    job_rows: list[tuple[object, ...]] = []
    for name, platform in scenario.platforms.items():
        rng = np.random.default_rng(inputs.platform_seeds[name])
        sim: PlatformSim
        if isinstance(platform, KubernetesPlatform):
            sim = KubernetesSim(name, platform, inputs, rng)
        else:
            assert isinstance(platform, VmPlatform)
            sim = VmSim(name, platform, inputs, rng)
        sim.on_progress = report
        recorders.append(sim.run())
        job_rows.extend(sim.job_rows())
    columns: dict[str, list[object]] = {}
    for recorder in recorders:
        for key, values in recorder.columns.items():
            columns.setdefault(key, []).extend(values)
    events = pd.DataFrame([e for r in recorders for e in r.events], columns=list(EVENT_COLUMNS))
    latency = {key: value for r in recorders for key, value in r.latency_components().items()}
    recording = Recording(
        scenario_name=scenario.name,
        seed=inputs.seed,
        duration_s=scenario.duration_s,
        tick_s=inputs.tick_s,
        record_every_s=inputs.record_every_s,
        timeseries=_frame(columns),
        events=events,
        latency=latency,
        slo={
            w.name: ((w.slo.p95_latency_ms, w.slo.max_error_rate) if w.slo else (None, None))
            for w in scenario.workloads
            if isinstance(w, ServiceWorkload)
        },
        platform_kinds={name: p.kind for name, p in scenario.platforms.items()},
        workload_kinds={w.name: w.kind for w in scenario.workloads},
        jobs=pd.DataFrame(job_rows, columns=list(JOB_COLUMNS)),
        scenario=scenario.model_dump(mode="json", by_alias=False, exclude={"base_dir"}),
    )
    return RunResult.from_recording(recording)
