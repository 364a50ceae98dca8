"""What the engine hands over at the end of a run: the schemas of its tables and the
:class:`Recording` that :mod:`capsim.results` turns into a run result.

Tables (column → dtype; extra columns are kept after these):

* time series: one row per platform, workload and record instant; a row describes the
  record interval that *ends* at its ``time_s`` (:mod:`capsim.engine.recorder` says
  how each column is aggregated);
* events: every scaling decision with its reason, and every pod, node, VM and job
  lifecycle change;
* jobs: one row per submitted batch job, with NaN for times not reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.scenario.workloads import Slo

__all__ = [
    "EVENT_COLUMNS",
    "JOB_COLUMNS",
    "STRING",
    "TIMESERIES_COLUMNS",
    "LatencyComponents",
    "LatencySamples",
    "Recording",
]

FloatArray = npt.NDArray[np.float64]

_F, _I, STRING = "float64", "int64", "str"
TIMESERIES_COLUMNS: Mapping[str, str] = {
    "time_s": _F, "platform": STRING, "workload": STRING,
    "arrival_rate": _F, "served_rate": _F, "dropped_rate": _F, "abandoned_rate": _F,
    "backlog": _F, "in_system": _F, "in_flight": _F, "queued": _F,
    "in_flight_per_pod": _F, "queue_per_pod": _F, "rps_per_pod": _F, "slots_busy_pct": _F,
    "retry_rate": _F, "failed_rate": _F,
    "latency_mean_ms": _F, "latency_p95_ms": _F, "latency_p99_ms": _F,
    "replicas_desired": _I, "replicas_ready": _I, "replicas_total": _I,
    "cpu_used_cores": _F, "cpu_requested_cores": _F, "cpu_capacity_cores": _F,
    "utilization_pct": _F, "memory_used_bytes": _F, "nodes": _I, "cost_usd": _F,
    "jobs_queued": _I, "jobs_running": _I,
    "platform_cpu_cores": _F, "platform_memory_bytes": _F,
    "gpu_used": _F, "platform_gpus": _F,
}  # fmt: skip
EVENT_COLUMNS: Mapping[str, str] = {
    "time_s": _F, "platform": STRING, "workload": STRING, "kind": STRING,
    "from": _F, "to": _F, "reason": STRING, "detail": STRING,
}  # fmt: skip
JOB_COLUMNS: Mapping[str, str] = {
    "platform": STRING, "workload": STRING, "job": STRING,
    "submit_s": _F, "start_s": _F, "end_s": _F, "workers": _I,
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class LatencyComponents:
    """One service's latency law per simulation tick (arrays of one length).

    ``served``: requests served in the tick (≥ 0); the rest are the
    :class:`~capsim.models.queueing.ResponseTimeDistribution` fields (NaN allowed where
    nothing was served).
    """

    served: FloatArray
    fixed_wait_s: FloatArray
    wait_probability: FloatArray
    wait_rate_per_s: FloatArray
    service_rate_per_s: FloatArray
    wait_limit_s: FloatArray | float = float("inf")
    in_system_at_start: float = 0.0  # requests in the warm replicas at time 0
    service_share2: FloatArray | float = 0.0  # two-phase work: share of the second phase
    service_rate2_per_s: FloatArray | float = 1.0


@dataclass(frozen=True, eq=False)
class LatencySamples:
    """One service's measured response times under ``service_model: exact``: every
    completion of the run (s, single precision), in completion order, and the tick each
    completed in."""

    response_s: npt.NDArray[np.float32]
    in_system_at_start: float = 0.0  # requests in the warm replicas at time 0
    response_tick: npt.NDArray[np.int32] | None = None  # the tick each one completed in
    ttft_s: npt.NDArray[np.float32] | None = None  # LLM services: time to first token
    tpot_s: npt.NDArray[np.float32] | None = None  # and per output token (NaN: 1 token)


@dataclass(frozen=True, eq=False)
class Recording:
    """Everything the engine hands over at the end of a run (schemas: module constants).

    ``latency``: (platform, workload) → per-tick components, services only; ``slo``:
    service → its SLO (None: none); ``scenario``:
    the scenario as run, JSON-serialisable.
    """

    scenario_name: str
    seed: int
    duration_s: float
    tick_s: float
    record_every_s: float
    timeseries: pd.DataFrame
    events: pd.DataFrame
    latency: Mapping[tuple[str, str], LatencyComponents | LatencySamples]
    slo: Mapping[str, Slo | None]
    platform_kinds: Mapping[str, str]
    workload_kinds: Mapping[str, str]
    jobs: pd.DataFrame
    scenario: Mapping[str, Any]
