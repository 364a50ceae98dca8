"""When periodic work runs: exact instants (``k × period``), a fixed order at equal times.

The engine runs its periodic controllers (record rows, metrics scrapes, HPA syncs, the
cluster autoscaler, VM alarms) at these instants; the fast path replays the same
schedule. Times closer than :data:`SAME_INSTANT_S` are one instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["SAME_INSTANT_S", "Periodic"]

SAME_INSTANT_S = 1e-9  # times closer than this are one instant

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")


class Periodic(Generic[T]):
    """Times of periodic jobs in order, exact (``k × period``, no accumulated drift).

    ``periods`` pairs any job (a task, a name) with its period. Iterating yields ``(time,
    jobs due)`` for every time before ``end_s``; the jobs come in the order they were
    given, which is the order the engine runs them at equal times.
    """

    def __init__(self, periods: Sequence[tuple[T, float]], end_s: float) -> None:
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
        starts = np.flatnonzero(np.diff(flat, prepend=-math.inf) > SAME_INSTANT_S)
        masks = np.bitwise_or.reduceat(np.left_shift(1, index), starts) if flat.size else starts
        instants = flat[starts]
        keep = instants < self._end_s - SAME_INSTANT_S
        return instants[keep], masks[keep].astype(np.int64)

    def __iter__(self) -> Iterator[tuple[float, list[T]]]:
        times, masks = self.instants()
        due: dict[int, list[T]] = {}
        for now, mask in zip(times.tolist(), masks.tolist(), strict=True):
            if mask not in due:  # in the order the periods were given
                due[mask] = [job for i, (job, _) in enumerate(self._periods) if mask >> i & 1]
            yield now, list(due[mask])
