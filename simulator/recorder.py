"""Recording a platform's run: per-tick sums, one row per record interval, events.

The engine calls :meth:`PlatformRecorder.tick` once per tick for all services at once
(NumPy), :meth:`PlatformRecorder.row` at each record boundary with the levels at that
instant, and :meth:`PlatformRecorder.event` for decisions and lifecycle changes. Columns
are plain lists and arrays; DataFrames are built once, at the end, by the engine.

Interval statistics:

* rates (arrivals, served, dropped) are means over the interval;
* CPU used, requested and capacity are time-weighted means;
* latency is request-weighted over every request served in the interval, pooled
  exactly over the per-tick laws;
* replicas, nodes and cost are the values at the end of the interval.

The per-tick latency laws are kept, so the run summary can pool all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.queueing import (
    ResponseTimeDistribution,
    pooled_row_means_s,
    pooled_row_quantiles_s,
)
from simulator.result import LatencyComponents
from simulator.service import TickOutput

__all__ = ["EVENT_COLUMNS", "Levels", "PlatformRecorder"]

_CHUNK_COMPONENTS = 2_000_000  # latency components evaluated at once in finalize()

FloatArray = npt.NDArray[np.float64]

EVENT_COLUMNS = ("time_s", "platform", "workload", "kind", "from", "to", "reason", "detail")


@dataclass(frozen=True)
class Levels:
    """Per-workload values at a record instant (arrays over the platform's workloads)."""

    replicas_desired: npt.NDArray[np.int64]
    replicas_ready: npt.NDArray[np.int64]
    replicas_total: npt.NDArray[np.int64]
    nodes: int | npt.NDArray[np.int64]
    cost_usd: float
    jobs_queued: npt.NDArray[np.int64] | None = None
    jobs_running: npt.NDArray[np.int64] | None = None


@dataclass
class PlatformRecorder:
    """Accumulates one platform's run; ``services`` are the workloads with a load."""

    platform: str
    workloads: list[str]
    services: list[int]
    n_ticks: int
    tick_s: float
    columns: dict[str, list[Any]] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.workloads)
        shape = (self.n_ticks, len(self.services))
        self._served = np.zeros(shape)
        self._fixed = np.zeros(shape)
        self._wait_p = np.zeros(shape)
        self._wait_rate = np.ones(shape)
        self._service_rate = np.ones(shape)
        self._sums = {
            name: np.zeros(n)
            for name in (
                "arrived",
                "served",
                "dropped",
                "cpu_used",
                "cpu_requested",
                "cpu_capacity",
                "memory_used",
            )
        }
        self._backlog = np.zeros(n)
        self._first_tick = 0
        self._ticks_in_interval = 0
        self._intervals: list[tuple[int, int]] = []  # ticks [first, last) of each row

    def tick(
        self,
        index: int,
        arrival_rate: FloatArray,
        out: TickOutput,
        ready: npt.NDArray[np.int64],
        cpu_requested_cores: FloatArray,
        cpu_capacity_cores: FloatArray,
    ) -> None:
        """Add tick ``index`` of the services (arrays over ``services``)."""
        dt = self.tick_s
        s = self.services
        sums = self._sums
        sums["arrived"][s] += arrival_rate * dt
        sums["served"][s] += out.served_rate * dt
        sums["dropped"][s] += out.dropped_rate * dt
        sums["cpu_used"][s] += out.cpu_used_cores_per_replica * ready * dt
        sums["memory_used"][s] += out.memory_used_mib_per_replica * 2**20 * ready * dt
        sums["cpu_requested"][s] += cpu_requested_cores * dt
        sums["cpu_capacity"][s] += cpu_capacity_cores * dt
        self._backlog[s] = out.backlog
        self._served[index] = out.served_rate * dt
        law = out.latency
        self._fixed[index] = np.nan_to_num(law.fixed_wait_s)
        self._wait_p[index] = np.nan_to_num(law.wait_probability)
        self._wait_rate[index] = np.nan_to_num(law.wait_rate_per_s, nan=1.0)
        self._service_rate[index] = np.nan_to_num(law.service_rate_per_s, nan=1.0)
        self._ticks_in_interval += 1

    def add_requested(self, workload: int, cpu_requested_cores: float) -> None:
        """Requested CPU of a workload without a load (batch), for one tick."""
        self._sums["cpu_requested"][workload] += cpu_requested_cores * self.tick_s

    def row(self, time_s: float, next_tick: int, levels: Levels) -> None:
        """Close the interval ending at ``time_s`` (ticks before ``next_tick``)."""
        n = len(self.workloads)
        span = self._ticks_in_interval * self.tick_s
        self._intervals.append((self._first_tick, next_tick))
        nan = np.full(n, np.nan)
        sums = self._sums
        per_s = 1.0 / span if span > 0 else 0.0
        used, capacity = sums["cpu_used"] * per_s, sums["cpu_capacity"] * per_s
        zeros = np.zeros(n, dtype=np.int64)
        values: dict[str, Any] = {
            "time_s": np.full(n, time_s),
            "platform": [self.platform] * n,
            "workload": list(self.workloads),
            "arrival_rate": sums["arrived"] * per_s,
            "served_rate": sums["served"] * per_s,
            "dropped_rate": sums["dropped"] * per_s,
            "backlog": self._backlog.copy(),
            "latency_mean_ms": nan,
            "latency_p95_ms": nan,
            "latency_p99_ms": nan,
            "replicas_desired": levels.replicas_desired,
            "replicas_ready": levels.replicas_ready,
            "replicas_total": levels.replicas_total,
            "cpu_used_cores": used,
            "cpu_requested_cores": sums["cpu_requested"] * per_s,
            "cpu_capacity_cores": capacity,
            "utilization_pct": np.where(
                capacity > 0, 100.0 * used / np.where(capacity > 0, capacity, 1.0), 0.0
            ),
            "memory_used_bytes": sums["memory_used"] * per_s,
            "nodes": np.broadcast_to(levels.nodes, (n,)),
            "cost_usd": np.full(n, levels.cost_usd),
            "jobs_queued": zeros if levels.jobs_queued is None else levels.jobs_queued,
            "jobs_running": zeros if levels.jobs_running is None else levels.jobs_running,
        }
        for name, column in values.items():
            self.columns.setdefault(name, []).extend(np.asarray(column).tolist())
        for array in sums.values():
            array[:] = 0.0
        self._first_tick = next_tick
        self._ticks_in_interval = 0

    def finalize(self) -> None:
        """Fill the latency columns of every row at once (request-weighted, exact)."""
        if not self.services or not self._intervals:
            return
        n, k = len(self.workloads), len(self.services)
        mean = np.full((len(self._intervals), n), np.nan)
        p95 = np.full_like(mean, np.nan)
        p99 = np.full_like(mean, np.nan)
        by_length: dict[int, list[int]] = {}
        for row, (first, last) in enumerate(self._intervals):
            by_length.setdefault(last - first, []).append(row)
        for length, rows in by_length.items():
            if length == 0:
                continue
            for chunk in _chunks(rows, max(1, _CHUNK_COMPONENTS // (length * k))):
                starts = np.array([self._intervals[r][0] for r in chunk])
                ticks = starts[:, None] + np.arange(length)[None, :]  # (rows, length)
                law = ResponseTimeDistribution(
                    _gather(self._fixed, ticks),
                    _gather(self._wait_p, ticks),
                    _gather(self._wait_rate, ticks),
                    _gather(self._service_rate, ticks),
                )
                served = _gather(self._served, ticks)
                means = pooled_row_means_s(law, served).reshape(len(chunk), k)
                quantiles = pooled_row_quantiles_s(law, served, (0.95, 0.99))
                cells = np.ix_(chunk, self.services)
                mean[cells] = 1000.0 * means
                p95[cells] = 1000.0 * quantiles[0].reshape(len(chunk), k)
                p99[cells] = 1000.0 * quantiles[1].reshape(len(chunk), k)
        self.columns["latency_mean_ms"] = mean.ravel().tolist()
        self.columns["latency_p95_ms"] = p95.ravel().tolist()
        self.columns["latency_p99_ms"] = p99.ravel().tolist()

    def event(
        self,
        time_s: float,
        workload: str,
        kind: str,
        from_: float | int | None = None,
        to: float | int | None = None,
        reason: str = "",
        detail: str = "",
    ) -> None:
        self.events.append((time_s, self.platform, workload, kind, from_, to, reason, detail))

    def latency_components(self) -> dict[tuple[str, str], LatencyComponents]:
        """The per-tick latency laws of each service, for the run summary."""
        return {
            (self.platform, self.workloads[w]): LatencyComponents(
                served=self._served[:, i].copy(),
                fixed_wait_s=self._fixed[:, i].copy(),
                wait_probability=self._wait_p[:, i].copy(),
                wait_rate_per_s=self._wait_rate[:, i].copy(),
                service_rate_per_s=self._service_rate[:, i].copy(),
            )
            for i, w in enumerate(self.services)
        }


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _gather(values: FloatArray, ticks: npt.NDArray[np.int64]) -> FloatArray:
    """Per-tick values (ticks, services) at ``ticks`` (rows, length) → (rows × services,
    length): one row per (interval, service), its ticks along the row."""
    length = ticks.shape[1]
    return values[ticks].transpose(0, 2, 1).reshape(-1, length)
