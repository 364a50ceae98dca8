"""Recording a platform's run: per-tick sums, one row per record interval, events.

The engine calls :meth:`PlatformRecorder.ticks` for a block of ticks of all services at
once (NumPy), :meth:`PlatformRecorder.row` at each record boundary with the levels at that
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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.engine.folding import LAW_FIELDS, SUM_FIELDS, compiled_folds
from capsim.engine.recording import LatencyComponents, LatencySamples
from capsim.models import service as sv
from capsim.models.queueing import (
    ResponseTimeDistribution,
    pooled_row_means_s,
    pooled_row_quantiles_s,
)

__all__ = ["BATCH_LEVELS", "Levels", "PlatformRecorder"]

_CHUNK_COMPONENTS = 100_000  # latency components evaluated at once in finalize() (cache-sized)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Levels:
    """Per-workload values at a record instant (arrays over the platform's workloads)."""

    replicas_desired: npt.NDArray[np.int64]
    replicas_ready: npt.NDArray[np.int64]
    replicas_total: npt.NDArray[np.int64]
    nodes: int | npt.NDArray[np.int64]
    cost_usd: float
    capacity_core_s: float = 0.0  # the platform's vCPU core-seconds bought so far
    capacity_byte_s: float = 0.0  # and memory byte-seconds
    capacity_gpu_s: float = 0.0  # and GPU-seconds
    jobs_queued: npt.NDArray[np.int64] | None = None
    jobs_running: npt.NDArray[np.int64] | None = None


_SUMS = (
    "arrived",
    "served",
    "dropped",
    "abandoned",
    "in_flight",
    "queued",
    "in_flight_per_pod",
    "queue_per_pod",
    "rps_per_pod",
    "slots_busy_pct",
    "retried",
    "failed",
    "cpu_used",
    "memory_used",
    "cpu_requested",
    "cpu_capacity",
    "gpu_used",
)
_CPU_USED = _SUMS.index("cpu_used")
_MEMORY = _SUMS.index("memory_used")
# Batch workloads report interval means of these (cores, MiB, GPUs), the last rows of _SUMS.
# Services use no GPU in the model.
BATCH_LEVELS = _SUMS[_CPU_USED:]
assert len(_SUMS) == SUM_FIELDS  # fold_sums' rows
assert _SUMS.index("cpu_capacity") == 15
assert _SUMS.index("memory_used") == 13  # close_row's


@dataclass
class PlatformRecorder:
    """Accumulates one platform's run; ``services`` are the workloads with a load."""

    platform: str
    workloads: list[str]
    services: list[int]
    n_ticks: int
    tick_s: float
    arrival_rates: FloatArray  # (n_ticks, services): the whole run's load
    concurrency: FloatArray  # (services,): request slots per replica
    rows_expected: int = 0  # record rows the run will close (room is made for more)
    columns: dict[str, list[Any] | npt.NDArray[Any]] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    samples: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]] | None = None
    """``service_model: exact``: per service, every completion's response (s) and tick,
    in completion order (set before :meth:`finalize`); the latency columns are then
    measured, not pooled laws."""
    token_samples: (
        list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int32]] | None]
        | None
    ) = None
    """LLM services (None for others): every completion's TTFT and TPOT (s) and tick."""
    _llm: FloatArray | None = None  # (n_ticks, services, 4): see gpu_ticks
    _gpu_reporting: set[int] = field(default_factory=set)  # services gpu_ticks wrote

    def gpu_ticks(
        self, first: int, levels: FloatArray, gpus: FloatArray, which: Sequence[int]
    ) -> None:
        """Services ``which`` (GPU and LLM services), their per-tick levels from tick
        ``first`` (``levels``: ticks × services × (replicas' worth of GPUs busy, KV share
        reserved, output tokens/s, replicas present; NaN where a service has none)):
        kept as GPUs busy, busy share of the replicas present, KV share and tokens/s."""
        if self._llm is None:
            self._llm = np.zeros((self.n_ticks, len(self.services), 4))
        self._gpu_reporting.update(which)
        block = self._llm[first : first + levels.shape[0]]
        for s in which:
            busy, present = levels[:, s, 0], levels[:, s, 3]
            block[:, s, 0] = busy * gpus[s]
            block[:, s, 1] = np.where(present > 0, busy / np.maximum(present, 1e-300), 0.0)
            block[:, s, 2] = levels[:, s, 1]
            block[:, s, 3] = levels[:, s, 2]

    def _token_fields(self, i: int) -> dict[str, Any]:
        """Service ``i``'s TTFT and TPOT samples for its LatencySamples (none: not LLM)."""
        if self.token_samples is None or self.token_samples[i] is None:
            return {}
        ttft, tpot, _ = self.token_samples[i]  # type: ignore[misc]
        return {"ttft_s": ttft, "tpot_s": tpot}

    def _llm_columns(self) -> dict[str, FloatArray]:
        """Per row: the LLM services' interval means (GPUs busy, GPU busy %, KV-cache
        usage %, output tokens/s) and TTFT/TPOT p95 (ms); NaN for other workloads."""
        assert self._llm is not None
        rows, n = len(self._intervals), len(self.workloads)
        names = ("gpu_busy", "gpu_busy_pct", "kv_cache_usage_pct", "output_tokens_per_s")
        out = {name: np.full((rows, n), np.nan) for name in names}
        scale = (1.0, 100.0, 100.0, 1.0)
        reporting = sorted(self._gpu_reporting)
        for row, (first, last) in enumerate(self._intervals):
            if last <= first:
                continue
            means = self._llm[first:last].mean(axis=0)
            for k, name in enumerate(names):
                for i in reporting:
                    out[name][row, self.services[i]] = scale[k] * means[i, k]
        llm = [i for i, t in enumerate(self.token_samples or []) if t is not None]
        if not llm:
            return out
        starts = np.array([first for first, _ in self._intervals], dtype=np.int64)
        for column, index in (("ttft_p95_ms", 0), ("tpot_p95_ms", 1)):
            values = np.full((rows, n), np.nan)
            for i in llm:
                assert self.token_samples is not None
                samples = self.token_samples[i]
                assert samples is not None
                data: npt.NDArray[np.float32] = samples[index]  # type: ignore[assignment]
                ticks = samples[2]
                keep = np.isfinite(data)
                values[:, self.services[i]] = _row_p95_ms(data[keep], ticks[keep], starts)
            out[column] = values
        return out

    def __post_init__(self) -> None:
        shape = (self.n_ticks, len(self.services))
        # each tick's latency law, in LAW_FIELDS order (written by fold_sums)
        self._laws = np.empty((len(LAW_FIELDS), *shape))
        (
            self._served,
            self._fixed,
            self._wait_p,
            self._wait_rate,
            self._service_rate,
            self._wait_limit,
            self._share2,
            self._mu2,
        ) = self._laws
        for law, value in zip(self._laws, (0.0, 0.0, 0.0, 1.0, 1.0, np.inf, 0.0, 1.0), strict=True):
            law.fill(value)
        self._acc = np.zeros((len(_SUMS), len(self.services)))  # per-tick sums, services
        self._service_at = np.array(self.services, dtype=np.intp)  # their columns
        self._ends = np.zeros((2, len(self.services)))  # queued, in system at the last tick
        self._no_busy = np.zeros(len(self.services))
        self.in_system_at_start = np.zeros(len(self.services))
        self._first_tick = 0
        self._ticks_in_interval = 0
        self._intervals: list[tuple[int, int]] = []  # ticks [first, last) of each row
        # per row (up to the rows expected, then grown): the interval means (_SUMS ×
        # rows × workloads: each column contiguous), backlog and requests in the system
        rows = self.rows_expected
        self._means = np.zeros((len(_SUMS), rows, len(self.workloads)))
        self._backlog = np.zeros((rows, len(self.workloads)))
        self._in_system = np.zeros((rows, len(self.workloads)))
        self._rows = 0
        self._row_levels: list[tuple[float, Levels]] = []

    def ticks(
        self,
        first: int,
        out: FloatArray,
        ready: npt.NDArray[np.int64],
        cpu_requested_cores: FloatArray,
        cpu_capacity_cores: FloatArray,
    ) -> None:
        """Add ticks ``first, first + 1, …`` of the services: ``out`` is the model's
        ``(ticks, services, OUT_FIELDS)`` block; replicas, requests and capacity held over
        the block. Arrivals are summed from ``arrival_rates`` when a row closes, the same
        sum however the ticks were blocked."""
        numpy_order = out.shape[1] == 1 and out.shape[0] >= 8  # see fold_sums
        busy_slots = self._no_busy
        if numpy_order:
            pods = np.maximum(ready, 1).astype(np.float64)
            busy = np.minimum(out[:, :, sv.O_IN_FLIGHT] / pods, self.concurrency)
            busy_slots = busy.sum(axis=0)
        fold_sums = compiled_folds()[1]
        fold_sums(
            first, out, ready, cpu_requested_cores, cpu_capacity_cores, busy_slots,
            numpy_order, self.concurrency, self.tick_s, self._acc, self._ends, self._laws,
        )  # fmt: skip
        count = out.shape[0]
        self._ticks_in_interval += count

    def row(
        self, time_s: float, next_tick: int, levels: Levels, batch_means: FloatArray | None = None
    ) -> None:
        """Close the interval ending at ``time_s`` (ticks before ``next_tick``).

        ``batch_means`` (``BATCH_LEVELS`` × workloads) are the interval means of the
        workloads that are not services; their other sums stay zero.
        """
        ticks = self._ticks_in_interval
        i = self._rows
        if i == self._means.shape[1]:  # more rows than expected: room for as many again
            more = max(i, 16)
            n = len(self.workloads)
            self._means = np.concatenate([self._means, np.zeros((len(_SUMS), more, n))], axis=1)
            self._backlog = np.concatenate([self._backlog, np.zeros((more, n))])
            self._in_system = np.concatenate([self._in_system, np.zeros((more, n))])
        if batch_means is not None:
            self._means[len(_SUMS) - len(BATCH_LEVELS) :, i] = batch_means
        if ticks:
            self._acc[0] = self.arrival_rates[self._first_tick : next_tick].sum(axis=0)
        close_row = compiled_folds()[3]
        close_row(
            i, ticks, self._acc, self._ends, self._service_at, self._means, self._backlog,
            self._in_system,
        )  # fmt: skip
        self._rows = i + 1
        self._row_levels.append((time_s, levels))
        self._intervals.append((self._first_tick, next_tick))
        self._first_tick = next_tick
        self._ticks_in_interval = 0

    def finalize(self) -> None:
        """Build every column at once (latency request-weighted and exact)."""
        n, rows = len(self.workloads), len(self._row_levels)
        # each column a contiguous (rows, workloads) block, flattened without a copy
        sums = self._means[:, :rows].transpose(1, 0, 2)
        backlog, in_system = self._backlog[:rows], self._in_system[:rows]
        used, capacity = sums[:, _CPU_USED], sums[:, _CPU_USED + 3]
        levels = [level for _, level in self._row_levels]

        def level(name: str, default: int = 0) -> FloatArray:
            values = [getattr(x, name) for x in levels]
            values = [default if value is None else value for value in values]
            if values and all(type(value) is np.ndarray for value in values):
                return np.stack(values)  # (the dtype: NumPy's result type of all)
            dtypes = {np.asarray(value).dtype for value in values}
            column = np.zeros((rows, n), dtype=np.result_type(*dtypes) if dtypes else np.int64)
            for i, value in enumerate(values):
                column[i] = value  # a scalar broadcasts over the workloads
            return column

        mean, p95, p99 = self._latency_columns()
        columns: dict[str, Any] = {
            "time_s": np.repeat([t for t, _ in self._row_levels], n),
            "platform": [self.platform] * (rows * n),
            "workload": list(self.workloads) * rows,
            "arrival_rate": sums[:, 0],
            "served_rate": sums[:, 1],
            "dropped_rate": sums[:, 2],
            "abandoned_rate": sums[:, 3],
            "backlog": backlog,
            "in_system": in_system,
            "in_flight": sums[:, 4],
            "queued": sums[:, 5],
            "in_flight_per_pod": sums[:, 6],
            "queue_per_pod": sums[:, 7],
            "rps_per_pod": sums[:, 8],
            "slots_busy_pct": sums[:, 9],
            "retry_rate": sums[:, 10],
            "failed_rate": sums[:, 11],
            "latency_mean_ms": mean,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "replicas_desired": level("replicas_desired"),
            "replicas_ready": level("replicas_ready"),
            "replicas_total": level("replicas_total"),
            "cpu_used_cores": used,
            "cpu_requested_cores": sums[:, _CPU_USED + 2],
            "cpu_capacity_cores": capacity,
            "utilization_pct": np.where(
                capacity > 0, 100.0 * used / np.where(capacity > 0, capacity, 1.0), 0.0
            ),
            "memory_used_bytes": sums[:, _MEMORY],
            "nodes": level("nodes"),
            "cost_usd": np.repeat([x.cost_usd for x in levels], n),
            "platform_cpu_cores": np.repeat(self._interval_means("capacity_core_s"), n),
            "platform_memory_bytes": np.repeat(self._interval_means("capacity_byte_s"), n),
            "gpu_used": sums[:, _CPU_USED + 4],
            "platform_gpus": np.repeat(self._interval_means("capacity_gpu_s"), n),
            "jobs_queued": level("jobs_queued"),
            "jobs_running": level("jobs_running"),
        }
        if self._llm is not None:
            llm = self._llm_columns()
            gpu = columns["gpu_used"].reshape(rows, n).copy()
            busy = np.nan_to_num(llm.pop("gpu_busy"))
            columns["gpu_used"] = gpu + busy  # services' GPUs busy (batch: held)
            columns.update(llm)
        # numbers stay arrays (8 bytes a value; Python floats in lists took ~4× that)
        self.columns = {
            name: (np.asarray(value).ravel() if not isinstance(value, list) else value)
            for name, value in columns.items()
        }

    def _interval_means(self, name: str) -> FloatArray:
        """Mean over each row's interval of a quantity whose integral ``name`` holds."""
        times = np.array([0.0] + [t for t, _ in self._row_levels])
        integral = np.array([0.0] + [getattr(x, name) for _, x in self._row_levels])
        spans = np.diff(times)
        return np.where(spans > 0, np.diff(integral) / np.where(spans > 0, spans, 1.0), 0.0)

    def _measured_columns(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean, p95, p99 (ms) of the responses completed in each row's ticks (NaN where
        none completed); quantiles are empirical (the smallest response with a share
        ``q`` at or below it)."""
        assert self.samples is not None
        shape = (len(self._intervals), len(self.workloads))
        mean, p95, p99 = (np.full(shape, np.nan) for _ in range(3))
        starts = np.array([first for first, _ in self._intervals], dtype=np.int64)
        for i, (response, tick) in enumerate(self.samples):
            if not response.size or not starts.size:
                continue
            row = np.searchsorted(starts, tick, side="right") - 1
            # Sort by (row, response) in one pass: a float32 ≥ 0 orders as its bits do.
            key = (row.astype(np.uint64) << np.uint64(32)) | response.view(np.uint32)
            key.sort()
            ordered = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
            ordered = ordered.astype(np.float64)
            rows = (key >> np.uint64(32)).astype(np.int64)
            count = np.bincount(rows, minlength=starts.size)
            offset = np.concatenate([[0], np.cumsum(count)[:-1]])
            has = count > 0
            total = np.bincount(rows, weights=ordered, minlength=starts.size)
            w = self.services[i]
            mean[has, w] = 1000.0 * total[has] / count[has]
            for column, q in ((p95, 0.95), (p99, 0.99)):
                index = np.ceil(np.round(q * count[has], 9)).astype(np.int64) - 1
                column[has, w] = 1000.0 * ordered[offset[has] + np.clip(index, 0, count[has] - 1)]
        return mean, p95, p99

    def _latency_columns(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Request-weighted mean, p95, p99 (ms) of every row, pooled over its ticks."""
        if self.samples is not None:
            return self._measured_columns()
        n, k = len(self.workloads), len(self.services)
        mean = np.full((len(self._intervals), n), np.nan)
        p95 = np.full_like(mean, np.nan)
        p99 = np.full_like(mean, np.nan)
        by_length: dict[int, list[int]] = {}
        for row, (first, last) in enumerate(self._intervals):
            by_length.setdefault(last - first, []).append(row)
        for length, rows in by_length.items():
            if length == 0 or k == 0:
                continue
            for chunk in _chunks(rows, max(1, _CHUNK_COMPONENTS // (length * k))):
                starts = np.array([self._intervals[r][0] for r in chunk])
                ticks = starts[:, None] + np.arange(length)[None, :]  # (rows, length)
                law = ResponseTimeDistribution(
                    _gather(self._fixed, ticks),
                    _gather(self._wait_p, ticks),
                    _gather(self._wait_rate, ticks),
                    _gather(self._service_rate, ticks),
                    _gather(self._wait_limit, ticks),
                    _gather(self._share2, ticks),
                    _gather(self._mu2, ticks),
                )
                served = _gather(self._served, ticks)
                means = pooled_row_means_s(law, served).reshape(len(chunk), k)
                quantiles = pooled_row_quantiles_s(law, served, (0.95, 0.99))
                cells = np.ix_(chunk, self.services)
                mean[cells] = 1000.0 * means
                p95[cells] = 1000.0 * quantiles[0].reshape(len(chunk), k)
                p99[cells] = 1000.0 * quantiles[1].reshape(len(chunk), k)
        return mean, p95, p99

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

    def latency_components(
        self,
    ) -> dict[tuple[str, str], LatencyComponents | LatencySamples]:
        """The per-tick latency laws of each service (or its measured responses), for the
        run summary."""
        if self.samples is not None:
            return {
                (self.platform, self.workloads[w]): LatencySamples(
                    response_s=self.samples[i][0],
                    in_system_at_start=float(self.in_system_at_start[i]),
                    response_tick=self.samples[i][1],
                    **self._token_fields(i),
                )
                for i, w in enumerate(self.services)
            }
        return {
            (self.platform, self.workloads[w]): LatencyComponents(
                served=self._served[:, i].copy(),
                fixed_wait_s=self._fixed[:, i].copy(),
                wait_probability=self._wait_p[:, i].copy(),
                wait_rate_per_s=self._wait_rate[:, i].copy(),
                service_rate_per_s=self._service_rate[:, i].copy(),
                wait_limit_s=self._wait_limit[:, i].copy(),
                in_system_at_start=float(self.in_system_at_start[i]),
                service_share2=self._share2[:, i].copy(),
                service_rate2_per_s=self._mu2[:, i].copy(),
            )
            for i, w in enumerate(self.services)
        }


def _row_p95_ms(
    values: npt.NDArray[np.float32], ticks: npt.NDArray[np.int32], starts: npt.NDArray[np.int64]
) -> FloatArray:
    """Empirical p95 (ms) of ``values`` by the row their tick falls in (NaN: none)."""
    out = np.full(starts.size, np.nan)
    if not values.size or not starts.size:
        return out
    row = np.searchsorted(starts, ticks, side="right") - 1
    order = np.lexsort((values, row))
    rows, ordered = row[order], values[order].astype(np.float64)
    count = np.bincount(rows, minlength=starts.size)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    index = np.ceil(np.round(0.95 * count[has], 9)).astype(np.int64) - 1
    out[has] = 1000.0 * ordered[offset[has] + np.clip(index, 0, count[has] - 1)]
    return out


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _gather(values: FloatArray, ticks: npt.NDArray[np.int64]) -> FloatArray:
    """Per-tick values (ticks, services) at ``ticks`` (rows, length) → (rows × services,
    length): one row per (interval, service), its ticks along the row."""
    length = ticks.shape[1]
    return values[ticks].transpose(0, 2, 1).reshape(-1, length)
