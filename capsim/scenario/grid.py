"""A run's time grid (tick, ticks, record interval) and the size checks on it, done before
anything is allocated: :func:`run_grid` is called when a scenario is parsed and again when
its inputs are prepared, so a run that would not fit is refused in one line naming the
field and the size against its limit (:mod:`capsim.scenario.limits`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from capsim.scenario.base import ScenarioError
from capsim.scenario.limits import (
    MAX_BATCH_TASKS,
    MAX_DELAY_CELLS,
    MAX_GRID_CELLS,
    MAX_RECORD_INSTANTS,
    MAX_RECORDED_ROWS,
    MAX_TICKS,
)
from capsim.scenario.load import default_tick_s
from capsim.scenario.workloads import BatchWorkload, ServiceWorkload
from capsim.units import format_duration


class Scenario(Protocol):
    """What the grid needs of a :class:`capsim.scenario.schema.Scenario` (a protocol, so
    that the schema can check its grid without an import cycle)."""

    @property
    def duration_s(self) -> float: ...
    @property
    def tick_s(self) -> float | None: ...
    @property
    def record_every_s(self) -> float | None: ...
    @property
    def workloads(self) -> Sequence[ServiceWorkload | BatchWorkload]: ...
    @property
    def platforms(self) -> Mapping[str, object]: ...
    @property
    def base_dir(self) -> Path: ...


__all__ = ["RunGrid", "check_batch_sizes", "run_grid"]

DEFAULT_RECORD_S = 60.0  # the record interval when the scenario gives none (whole ticks)


@dataclass(frozen=True)
class RunGrid:
    """The time grid of a run: ``n_ticks`` ticks of ``tick_s``, a row every ``record_every_s``."""

    tick_s: float
    n_ticks: int
    record_every_s: float


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


def run_grid(scenario: Scenario, where: str) -> RunGrid:
    """The grid of ``scenario``, checked: duration and record interval in whole ticks, and
    ticks, ticks × services × platforms, record instants and recorded rows within their
    limits. Raises :class:`ScenarioError` starting with ``where`` (the file)."""
    tick = _tick_s(scenario)
    duration = scenario.duration_s
    field = "tick" if scenario.tick_s is not None else "duration"
    if duration / tick > MAX_TICKS:
        raise ScenarioError(
            f"{where}: {field}: {format_duration(duration)} at a {tick:g} s tick is "
            f"{duration / tick:.3g} ticks, more than the limit of {MAX_TICKS:,}; "
            "use a longer tick or a shorter duration"
        )
    n_ticks = _whole_multiple(duration, tick, "duration", where)
    for index, w in enumerate(scenario.workloads):
        if isinstance(w, ServiceWorkload) and w.slo is not None:
            _whole_multiple(w.slo.window_s, tick, f"workloads[{index}].slo.window", where)
    services = sum(isinstance(w, ServiceWorkload) for w in scenario.workloads)
    platforms = len(scenario.platforms)
    cells = n_ticks * services * platforms
    if cells > MAX_GRID_CELLS:
        raise ScenarioError(
            f"{where}: {field}: {n_ticks:,} ticks of {tick:g} s × {services} services × "
            f"{platforms} platforms is {cells:,} cells, more than the limit of "
            f"{MAX_GRID_CELLS:,}; use a longer tick, a shorter duration or fewer workloads"
        )
    _check_delay_cells(scenario, tick, platforms, where)
    every = scenario.record_every_s or tick * max(1, round(DEFAULT_RECORD_S / tick))
    per_row = _whole_multiple(every, tick, "record_every", where)
    instants = -(-n_ticks // per_row)
    if instants > MAX_RECORD_INSTANTS:
        raise ScenarioError(
            f"{where}: record_every: {format_duration(every)} over "
            f"{format_duration(duration)} is {instants:,} rows per platform, more than the "
            f"limit of {MAX_RECORD_INSTANTS:,}; record less often"
        )
    rows = instants * len(scenario.workloads) * platforms
    if rows > MAX_RECORDED_ROWS:
        raise ScenarioError(
            f"{where}: record_every: {instants:,} rows × {len(scenario.workloads)} workloads × "
            f"{platforms} platforms is {rows:,} time-series rows, more than the limit of "
            f"{MAX_RECORDED_ROWS:,}; record less often"
        )
    return RunGrid(tick, n_ticks, every)


def _check_delay_cells(scenario: Scenario, tick: float, platforms: int, where: str) -> None:
    """The service model's delay lines (abandonments τ after arrival; retries after their
    back-off) within ``MAX_DELAY_CELLS`` cells over the run's services and platforms."""
    total = 0.0
    for index, w in enumerate(scenario.workloads):
        if not isinstance(w, ServiceWorkload):
            continue
        retries = w.retries
        reached = min(w.timeout_s, scenario.duration_s)  # a longer timeout is never reached
        cells = (reached / tick + 2.0) + retries.max_retries * (
            (w.timeout_s + retries.max_backoff_s) / tick + 2.0
        )
        total += cells * max(platforms, 1)
        if total > MAX_DELAY_CELLS:
            raise ScenarioError(
                f"{where}: workloads[{index}].timeout: {format_duration(w.timeout_s)} (with "
                f"{retries.max_retries} retries) at a {tick:g} s tick brings the run's delay "
                f"lines to {total:.3g} cells, more than the limit of {MAX_DELAY_CELLS:,}; "
                "use a longer tick or shorter timeouts"
            )


def check_batch_sizes(scenario: Scenario, submit_counts: dict[str, int], where: str) -> None:
    """Each batch workload's jobs × workers within ``MAX_BATCH_TASKS`` (expected, for Poisson
    arrivals). ``submit_counts`` holds the number of submit times of workloads whose
    arrivals come from a file."""
    for index, workload in enumerate(scenario.workloads):
        if not isinstance(workload, BatchWorkload):
            continue
        arrivals = workload.arrivals
        if arrivals.poisson_per_hour is not None:
            jobs = arrivals.poisson_per_hour * scenario.duration_s / 3600.0
        elif arrivals.times_s is not None:
            jobs = float(len(arrivals.times_s))
        else:
            jobs = float(submit_counts.get(workload.name, 0))
        tasks = jobs * workload.workers
        if tasks > MAX_BATCH_TASKS:
            raise ScenarioError(
                f"{where}: workloads[{index}].arrivals: {jobs:,.0f} jobs × {workload.workers} "
                f"workers is {tasks:,.0f} tasks in the run, more than the limit of "
                f"{MAX_BATCH_TASKS:,}"
            )
