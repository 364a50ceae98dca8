"""The service model's per-tick fields (``capsim.models.service.O_*``) from what a
per-request core measured: one writer for :mod:`capsim.engine.exact` and
:mod:`capsim.engine.llm`, so both banks report alike."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.models import service as sv

__all__ = ["Measured", "write_measured"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Measured:
    """One block of a service, per tick: completions, drops, abandonments (counts), the
    time integrals of requests in the system, waiting and in service (request-seconds),
    requests in the system at each tick's end; and the steady mean work of a request
    (s) with the most requests/s the ready replicas serve."""

    served: FloatArray
    dropped: FloatArray
    abandoned: FloatArray
    in_system_s: FloatArray
    queued_s: FloatArray
    busy_s: FloatArray
    in_system_end: FloatArray
    mean_s: float
    capacity: float


def write_measured(o: FloatArray, m: Measured, dt: float) -> None:
    """Write ``m`` into ``o`` (ticks × fields): counts as they are, integrals as tick
    means, and a latency law that defers to the measured responses."""
    o[:, sv.O_SERVED] = m.served
    o[:, sv.O_DROPPED] = m.dropped
    o[:, sv.O_ABANDONED] = m.abandoned
    o[:, sv.O_CAPACITY] = m.capacity
    o[:, sv.O_IN_FLIGHT] = m.in_system_s / dt
    o[:, sv.O_QUEUED] = m.queued_s / dt
    o[:, sv.O_BUSY] = m.busy_s / dt
    o[:, sv.O_IN_SYSTEM] = m.in_system_end
    o[:, sv.O_MU] = 1.0 / m.mean_s
    o[:, sv.O_MU2] = 1.0
    o[:, sv.O_WAIT_RATE] = 1.0
    o[:, sv.O_WAIT_LIMIT] = math.inf
