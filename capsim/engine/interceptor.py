"""An interceptor holding requests while a service has no ready replica (scale from zero).

With ``interceptor:`` on a Kubernetes workload, a request sent while none of the
service's replicas is ready is not refused: it waits in front of the service (as the
KEDA HTTP add-on's interceptor holds requests during a cold start, or Knative's
activator) until a replica is ready, then goes to the service as if it had just arrived
there, its latency and its client timeout still counted from when it was sent. A request
held for ``timeout`` (at most the client's timeout) gives up: **abandoned**, an error.
With ``max_pending``, a request finding that many already held is **dropped**.

Replicas change only between the engine's blocks of ticks, so a block either has a ready
replica from its start (the held requests go in at its first instant, in the order they
were sent) or has none (every request sent in it is held). Held requests count as in the
service and waiting (requests in flight, queue length) while they wait: what an
autoscaler scaling on the interceptor's pending requests sees.

This module keeps the held requests and the per-tick bookkeeping around a per-request
core (:mod:`capsim.engine.exact`, :mod:`capsim.engine.llm`); the cores take each
request's send time as its origin.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

__all__ = ["Feed", "HeldRequests", "TickIndex"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TickIndex:
    """Where a core keeps what the interceptor adjusts: count and integral columns."""

    arrived: int
    abandoned: int
    dropped: int
    in_system: int  # integral column of requests in the system
    queued: int  # integral column of requests waiting

    @classmethod
    def of(cls, core: ModuleType) -> TickIndex:
        """The columns of a per-request core module (its ``COUNT_*``/``INTEGRAL_*``)."""
        return cls(
            arrived=core.COUNT_ARRIVED,
            abandoned=core.COUNT_ABANDONED,
            dropped=core.COUNT_DROPPED_NO_REPLICA,
            in_system=core.INTEGRAL_IN_SYSTEM,
            queued=core.INTEGRAL_QUEUED,
        )


@dataclass(frozen=True)
class Feed:
    """What goes to the core in one block: arrival instants at the service, when each
    was sent, its payload rows (the caller's per-request data), and how many of them
    (the first ones) are held requests going in."""

    times: FloatArray
    origins: FloatArray
    payload: npt.NDArray[np.generic]
    dispatched: int


def _sum_min(sorted_x: FloatArray, cumulative: FloatArray, t: FloatArray) -> FloatArray:
    """``Σ_i min(t, x_i)`` for each ``t`` (``sorted_x`` ascending, ``cumulative`` its
    running sum with a leading 0)."""
    below = np.searchsorted(sorted_x, t, side="right")
    result: FloatArray = cumulative[below] + t * (sorted_x.size - below)
    return result


class HeldRequests:
    """The requests an interceptor holds for one service (module docstring)."""

    def __init__(self, hold_s: float, max_pending: int | None, payload_columns: int) -> None:
        self.hold_s = hold_s
        self.max_pending = max_pending
        self.origins = np.zeros(0)
        self.payload = np.zeros((0, payload_columns))

    @property
    def count(self) -> int:
        return int(self.origins.size)

    def block(
        self, edges: FloatArray, times: FloatArray, payload: npt.NDArray[np.generic], ready: int
    ) -> tuple[Feed, dict[str, FloatArray]]:
        """The core's feed for a block over ``edges`` whose new requests are ``times``
        (sorted) with ``payload`` rows, ``ready`` replicas ready throughout; and the
        per-tick adjustments: ``arrived``, ``abandoned``, ``dropped`` (counts),
        ``held_s`` (request-seconds held) and ``held_end`` (held at each tick's end)."""
        m = edges.size - 1
        start, end = float(edges[0]), float(edges[-1])
        zeros = np.zeros(m)
        adjust = {"arrived": zeros.copy(), "abandoned": zeros.copy(), "dropped": zeros.copy()}
        adjust |= {"held_s": zeros.copy(), "held_end": zeros.copy()}
        # held requests that gave up by the block's start (an expiry at the start comes
        # before the requests go in: abandonments before arrivals)
        due = self.origins + self.hold_s <= start
        if due.any():
            adjust["abandoned"][0] += float(due.sum())
            self.origins, self.payload = self.origins[~due], self.payload[~due]
        if ready > 0:
            feed = Feed(
                np.concatenate([np.full(self.count, start), times]),
                np.concatenate([self.origins, times]),
                np.concatenate([self.payload.astype(payload.dtype), payload]),
                self.count,
            )
            self.origins, self.payload = np.zeros(0), self.payload[:0]
            return feed, adjust
        tick = np.minimum(np.searchsorted(edges, times, side="right") - 1, m - 1)
        np.add.at(adjust["arrived"], tick, 1.0)
        keep = self._admit(times, tick, adjust)
        origins = np.concatenate([self.origins, times[keep]])
        held_payload = np.concatenate([self.payload.astype(payload.dtype), payload[keep]])
        expiry = origins + self.hold_s
        gone = expiry < end
        self._book_holding(edges, np.maximum(origins, start), expiry, adjust)
        expired = np.minimum(np.searchsorted(edges, expiry[gone], side="right") - 1, m - 1)
        np.add.at(adjust["abandoned"], expired, 1.0)
        self.origins, self.payload = origins[~gone], held_payload[~gone]
        empty = Feed(np.zeros(0), np.zeros(0), payload[:0], 0)
        return empty, adjust

    def _admit(
        self, times: FloatArray, tick: IntArray, adjust: dict[str, FloatArray]
    ) -> npt.NDArray[np.bool_]:
        """Which new requests find room (all, without ``max_pending``); the others are
        dropped in their tick. Held requests leave at their expiry, in time order."""
        if self.max_pending is None:
            return np.ones(times.size, dtype=bool)
        leaving = sorted(self.origins + self.hold_s)
        keep = np.zeros(times.size, dtype=bool)
        held, gone = self.count, 0
        accepted: deque[float] = deque()
        for i, t in enumerate(times):
            while gone < len(leaving) and leaving[gone] <= t:
                gone += 1
                held -= 1
            while accepted and accepted[0] + self.hold_s <= t:
                accepted.popleft()
                held -= 1
            if held < self.max_pending:
                keep[i] = True
                held += 1
                accepted.append(float(t))
            else:
                adjust["dropped"][tick[i]] += 1.0
        return keep

    @staticmethod
    def _book_holding(
        edges: FloatArray, starts: FloatArray, ends: FloatArray, adjust: dict[str, FloatArray]
    ) -> None:
        """Request-seconds held in each tick and held at each tick's end, for requests
        held over ``[starts[i], ends[i])`` (an end past the block: still held at its end)."""
        if not starts.size:
            return
        s, e = np.sort(starts), np.sort(np.minimum(ends, edges[-1]))
        cs = np.concatenate([[0.0], np.cumsum(s)])
        ce = np.concatenate([[0.0], np.cumsum(e)])
        held_to = _sum_min(e, ce, edges) - _sum_min(s, cs, edges)  # ∫ held from -inf to t
        adjust["held_s"] += np.diff(held_to)
        at_end = np.searchsorted(s, edges[1:], side="right") - np.searchsorted(
            np.sort(ends), edges[1:], side="right"
        )
        adjust["held_end"] += at_end

    @staticmethod
    def apply(
        adjust: dict[str, FloatArray],
        dispatched: int,
        counts: IntArray,
        integrals: FloatArray,
        in_system: IntArray,
        index: TickIndex,
    ) -> None:
        """Put a block's adjustments into the core's per-tick results (in place): held
        requests arrived when sent (not when they went in), gave up or were dropped in
        the interceptor, and were in the system and waiting while held."""
        if dispatched:
            counts[0, index.arrived] -= dispatched
        counts[:, index.arrived] += adjust["arrived"].astype(np.int64)
        counts[:, index.abandoned] += adjust["abandoned"].astype(np.int64)
        counts[:, index.dropped] += adjust["dropped"].astype(np.int64)
        integrals[:, index.in_system] += adjust["held_s"]
        integrals[:, index.queued] += adjust["held_s"]
        in_system += adjust["held_end"].astype(np.int64)
