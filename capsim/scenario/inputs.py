"""The run's inputs, shared by every platform: the time grid, each service's arrival
rate per tick, each batch workload's jobs, and the seed streams.

**Randomness.** One seed per run. Streams are spawned with ``numpy.random.SeedSequence``:
one per workload for its load noise or its batch jobs (shared by every platform, so all
platforms see identical load and identical jobs), and one per platform for its delays.
Same scenario and seed give identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.models.requests import WARM_UP_S
from capsim.scenario import BatchWorkload, Scenario, ScenarioError, ServiceWorkload
from capsim.scenario.grid import run_grid
from capsim.scenario.jobs import JobSpec, draw_jobs
from capsim.scenario.limits import MAX_EXACT_REQUESTS
from capsim.scenario.load import WorkloadError, build_load
from capsim.scenario.load.specs import REQUESTS_PER_S

__all__ = ["Inputs", "prepare_inputs"]

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

    def request_seeds(
        self, workload: str, platform: str
    ) -> tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence]:
        """The seeds of ``service_model: exact`` for ``workload`` on ``platform``: its
        arrival gaps and its work (the same on every platform: the platforms are compared
        on the same requests) and its routing (the platform's own). Children of the run's
        seed with spawn keys ``(2, workload index, 0 | 1)`` and ``(2, workload index, 2,
        platform index)``: disjoint from the load and platform streams (keys 0 and 1)."""
        scenario = self.scenario
        index = [w.name for w in scenario.workloads].index(workload)
        where = list(scenario.platforms).index(platform)

        def child(*key: int) -> np.random.SeedSequence:
            return np.random.SeedSequence(self.seed, spawn_key=(2, index, *key))

        return child(0), child(1), child(2, where)


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


COUNT_TOLERANCE = 1e-6
"""How far from a whole number a tick's requests may be under ``arrivals.exact_counts``."""


def _check_counts(
    scenario: Scenario, rates: dict[str, FloatArray], tick_s: float, where: str
) -> None:
    """``arrivals.exact_counts``: every tick's requests (rate × tick) are a whole number."""
    for index, w in enumerate(scenario.workloads):
        if not isinstance(w, ServiceWorkload) or not w.arrivals.exact_counts:
            continue
        counts = rates[w.name] * tick_s
        off = np.flatnonzero(np.abs(counts - np.round(counts)) > COUNT_TOLERANCE)
        if off.size:
            k = int(off[0])
            raise ScenarioError(
                f"{where}: workloads[{index}].arrivals.exact_counts: the load gives "
                f"{counts[k]:.6g} requests in the tick at {k * tick_s:g} s, not a whole "
                f"number (the tick is {tick_s:g} s; a trace of counts per tick is needed)"
            )


def _check_exact_requests(
    scenario: Scenario, rates: dict[str, FloatArray], tick_s: float, where: str
) -> None:
    """``service_model: exact`` keeps every request's response: refuse a run whose
    expected requests (warm-up included, every platform) pass :data:`MAX_EXACT_REQUESTS`
    before anything is simulated."""
    if scenario.service_model != "exact" or not rates:
        return
    per_platform = sum(
        float(r.sum()) * tick_s + (float(r[0]) * WARM_UP_S if r.size else 0.0)
        for r in rates.values()
    )
    total = per_platform * len(scenario.platforms)
    if total > MAX_EXACT_REQUESTS:
        raise ScenarioError(
            f"{where}: service_model: exact would simulate about {total:.3g} requests "
            f"({len(scenario.platforms)} platform(s)), more than the limit of "
            f"{MAX_EXACT_REQUESTS:.3g}; shorten the duration or use service_model: expected"
        )


def prepare_inputs(scenario: Scenario, seed: int | None = None) -> Inputs:
    """Build the time grid, the load of every service and the seed streams. The grid is
    checked against the run-size limits first (:func:`capsim.scenario.grid.run_grid`),
    before anything is allocated."""
    seed = scenario.seed if seed is None else seed
    where = scenario.source or f"scenario {scenario.name!r}"
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError(f"{where}: seed: must be an integer >= 0, got {seed!r}")
    grid = run_grid(scenario, where)
    tick, n_ticks, every = grid.tick_s, grid.n_ticks, grid.record_every_s
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
        try:
            series = build_load(
                workload.load,
                duration_s=scenario.duration_s,
                tick_s=tick,
                rng=np.random.default_rng(load_seeds[index]),
                base_dir=scenario.base_dir,
                where=f"workloads[{index}].load",
            )
        except WorkloadError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        rates[workload.name] = _arrival_rate(
            workload,
            np.asarray(series.values, dtype=float),
            series.unit,
            f"{where}: workloads[{index}].load",
        )
    _check_counts(scenario, rates, tick, where)
    _check_exact_requests(scenario, rates, tick, where)
    platform_seeds = dict(
        zip(scenario.platforms, platform_root.spawn(len(scenario.platforms)), strict=True)
    )
    return Inputs(scenario, seed, tick, n_ticks, every, rates, jobs, platform_seeds)
