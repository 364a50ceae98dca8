"""Per-request discrete-event core of ``service_model: exact`` (one service, tick by tick).

Pure maths in the Numba subset: plain NumPy arrays and scalars, no clock, no randomness.
Every random variate (arrival instants, work sizes, routing uniforms) is drawn by the
caller from NumPy Generators and handed in, so the compiled kernel
(:mod:`capsim.fastpath.requests_jit`) and this plain-Python one give the same results, bit
for bit. Units: seconds (``_s``), core-seconds of work (``_core_s``), requests.

**The model** (issue 15 design §3.2, without retries):

* *Arrivals* come at the given sorted instants, each with its work ``S_i`` in core-seconds.
* *Routing* happens at arrival, over the routable replicas (index order):
  ``random`` (uniform), ``round_robin`` (a cyclic pointer over the routable list),
  ``least_request`` with ``choices = d`` (``d`` distinct replicas sampled uniformly, the
  one with the fewest requests in system wins; ties go to the earliest sampled, which is
  a uniform tie-break since the sample order is random; ``choices = 0`` means all
  replicas, i.e. join-the-shortest-queue with uniform tie-break), and ``pooled`` (one FCFS
  queue in front of all slots; an arrival takes a free slot on the routable replica with
  the fewest busy slots, lowest index on ties). No routable replica: **dropped**.
* *A replica* has ``c`` slots and ``k`` cores. Every busy slot progresses at
  ``min(1, k / n_busy)`` core-seconds per second (processor sharing once ``n_busy > k``).
  Beyond the slots, a FCFS queue holding at most ``queue_limit`` requests (for
  ``pooled``, the shared queue holds at most ``queue_limit``); a full queue **drops** the
  arrival.
* *Client timeout* ``τ`` from arrival: a request still queued at ``arrival + τ``
  **abandons** then (it leaves the queue at exactly that instant and used no CPU). A
  request that reached a slot completes; if its response exceeds ``τ`` it counts as
  **timed out** (its CPU was used, the client had gone), otherwise as **served**. This is
  Ciw's reneging with deterministic patience plus a check of the response afterwards.
* *Lifecycle:* between calls the caller may change ``routable[r]``. A replica that stops
  being routable keeps serving its slots and its own queue until empty or until
  ``deadline_s[r]`` (set by the caller, e.g. now + grace); what is left then is
  **dropped**. A pooled queue belongs to the service: a non-routable replica takes none
  of it, and a replica that becomes routable pulls from it at once.
* *Simultaneous events* (measure zero for continuous laws): completions first, then
  abandonments, then grace deadlines, then arrivals.

**Conservation** in integers at every call's end:
``arrived = served + timed_out + abandoned + dropped + in_system`` (``dropped`` being the
three drop counters), see :func:`in_system` and the ``COUNT_*`` indices.

**Cost.** One indexed binary heap over replicas, keyed by each replica's next event
(completion, queue-head abandonment, or grace deadline); processor-sharing completions
re-time one replica only, O(c). Per request: O(log R + c) for random, round-robin and
least-request with small ``d``; O(R) for ``choices = 0`` and ``pooled`` (a scan).
Processor sharing is tracked with a per-replica *virtual work* clock (the work every busy
slot of that replica has received since it last was empty): a slot finishes when the
clock reaches its admission value plus its size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

Routing = Literal["random", "round_robin", "least_request", "pooled"]

ROUTING_RANDOM = 0
ROUTING_ROUND_ROBIN = 1
ROUTING_LEAST_REQUEST = 2
ROUTING_POOLED = 3
ROUTING_CODES: dict[str, int] = {
    "random": ROUTING_RANDOM,
    "round_robin": ROUTING_ROUND_ROBIN,
    "least_request": ROUTING_LEAST_REQUEST,
    "pooled": ROUTING_POOLED,
}

# Cumulative counters, ``RequestState.counts`` (int64).
COUNT_ARRIVED = 0
COUNT_SERVED = 1
"""Completed with response ≤ τ."""
COUNT_TIMED_OUT = 2
"""Completed with response > τ (CPU used, client gone)."""
COUNT_ABANDONED = 3
"""Left the queue at arrival + τ, no CPU used."""
COUNT_DROPPED_NO_REPLICA = 4
COUNT_DROPPED_QUEUE_FULL = 5
COUNT_DROPPED_GRACE = 6
"""Still in a draining replica (slots or queue) at its deadline."""
N_COUNTS = 7

# Columns of the per-replica integrals array (R + 1 rows; row R is the pooled queue).
INTEGRAL_IN_SYSTEM = 0
"""∫ requests in system (slots + queue) dt, request-seconds."""
INTEGRAL_QUEUED = 1
"""∫ requests queued dt, request-seconds."""
INTEGRAL_BUSY = 2
"""∫ busy slots dt, slot-seconds."""
INTEGRAL_CPU = 3
"""CPU used, core-seconds (= ∫ min(n_busy, k) dt)."""
N_INTEGRALS = 4

# Kernel return status.
STATUS_DONE = 0
STATUS_NEED_QUEUE_SPACE = 1
"""Stopped before the arrival that would overflow a queue's ring buffer: grow and resume."""
STATUS_NEED_RESPONSE_SPACE = 2
"""Stopped before a completion with no room left in the response buffer: resume."""

# Next-event kinds per heap entry (``RequestState.event_kind``).
EVENT_NONE = 0
EVENT_COMPLETION = 1
EVENT_ABANDON = 2
EVENT_DEADLINE = 3

UNBOUNDED_QUEUE = np.iinfo(np.int64).max

WARM_UP_S = 600.0
"""``service_model: exact`` starts warm: the initial replicas serve this long (s) of the
first tick's load before ``t = 0``, unreported."""

FATE_TOLERANCE_S = 1e-9
"""A completion whose response is within this of τ counts as served: the virtual-work
clock is summed in pieces (one per call), so a response of exactly τ (deterministic work
equal to the timeout, say) may come out a few ulps either side, and rounding must not
decide a request's fate (seconds)."""


@dataclass(frozen=True)
class RequestParams:
    """Constants of one service's exact request model.

    ``slots`` (c) requests run at once per replica on ``cores`` (k) cores, each at
    ``min(1, k / n_busy)`` core-s/s. ``queue_limit_requests`` bounds each replica's FCFS
    queue (the shared queue for ``pooled``); None is unbounded. ``timeout_s`` is the
    client deadline from arrival (``inf``: none). ``choices`` is ``d`` of
    ``least_request`` (None: all replicas, JSQ); ignored by other routings.
    """

    slots: int
    cores: float
    timeout_s: float = math.inf
    queue_limit_requests: int | None = None
    routing: Routing = "random"
    choices: int | None = 2

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be ≥ 1, got {self.slots}")
        if not (self.cores > 0 and math.isfinite(self.cores)):
            raise ValueError(f"cores must be finite and > 0, got {self.cores}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 (inf for none), got {self.timeout_s}")
        if self.queue_limit_requests is not None and self.queue_limit_requests < 0:
            raise ValueError(f"queue_limit_requests must be ≥ 0, got {self.queue_limit_requests}")
        if self.routing not in ROUTING_CODES:
            raise ValueError(f"unknown routing {self.routing!r}")
        if self.choices is not None and self.choices < 1:
            raise ValueError(f"choices must be ≥ 1 or None (all), got {self.choices}")

    @property
    def routing_code(self) -> int:
        """The kernel's integer code for :attr:`routing`."""
        return ROUTING_CODES[self.routing]

    @property
    def choices_code(self) -> int:
        """The kernel's ``choices``: ``d``, or 0 for all replicas."""
        return 0 if self.choices is None else self.choices

    @property
    def queue_limit_code(self) -> int:
        """The kernel's queue limit (:data:`UNBOUNDED_QUEUE` for None)."""
        if self.queue_limit_requests is None:
            return int(UNBOUNDED_QUEUE)
        return self.queue_limit_requests

    @property
    def uniforms_per_request(self) -> int:
        """Routing uniforms the kernel reads per arrival (columns of ``route_u``)."""
        if self.routing == "random":
            return 1
        if self.routing == "least_request":
            return 1 if self.choices is None else self.choices
        return 0


class RequestState(NamedTuple):
    """Carried state of one service (R replica slots, c request slots, Q queue capacity).

    Replica rows ``0..R-1``; queue and heap row ``R`` is the pooled (shared) queue. Busy
    request slots of replica ``r`` are ``0..n_busy[r]-1`` (kept compact). Ring buffers:
    the queue of row ``q`` holds ``q_len[q]`` entries from ``q_head[q]`` (mod Q).
    """

    slot_finish: npt.NDArray[np.float64]
    """(R, c) virtual-work value at which the slot's request completes."""
    slot_arrival_s: npt.NDArray[np.float64]
    """(R, c) arrival instant of the slot's request."""
    slot_id: npt.NDArray[np.int64]
    """(R, c) request id (arrival order, 0-based over the run)."""
    n_busy: npt.NDArray[np.int64]
    """(R,) busy slots."""
    virtual: npt.NDArray[np.float64]
    """(R,) work received by each busy slot since the replica was last empty, core-s."""
    last_s: npt.NDArray[np.float64]
    """(R + 1,) instant up to which the row's integrals and virtual work are accounted."""
    routable: npt.NDArray[np.bool_]
    """(R,) receives new requests (set by the caller between calls)."""
    deadline_s: npt.NDArray[np.float64]
    """(R,) when not routable: instant its remaining requests are dropped (caller-set)."""
    q_arrival_s: npt.NDArray[np.float64]
    """(R + 1, Q) queued requests' arrival instants (ring buffer)."""
    q_size_core_s: npt.NDArray[np.float64]
    """(R + 1, Q) queued requests' work."""
    q_id: npt.NDArray[np.int64]
    """(R + 1, Q) queued requests' ids."""
    q_head: npt.NDArray[np.int64]
    """(R + 1,) ring-buffer head."""
    q_len: npt.NDArray[np.int64]
    """(R + 1,) queued requests."""
    heap: npt.NDArray[np.int64]
    """(R + 1,) binary min-heap of rows by next event instant."""
    heap_pos: npt.NDArray[np.int64]
    """(R + 1,) position of each row in the heap."""
    event_s: npt.NDArray[np.float64]
    """(R + 1,) next event instant of each row (inf: none)."""
    event_kind: npt.NDArray[np.int64]
    """(R + 1,) ``EVENT_*`` of that next event."""
    event_slot: npt.NDArray[np.int64]
    """(R,) slot that completes at the next completion."""
    routable_list: npt.NDArray[np.int64]
    """(R,) routable rows in index order (first ``n_routable``)."""
    scalars: npt.NDArray[np.int64]
    """(3,) ``[n_routable, round_robin_pointer, next_request_id]``."""
    clock_s: npt.NDArray[np.float64]
    """(1,) instant the state is accounted up to."""
    counts: npt.NDArray[np.int64]
    """(N_COUNTS,) cumulative ``COUNT_*`` counters."""


def new_state(
    params: RequestParams, max_replicas: int, queue_capacity: int = 64, start_s: float = 0.0
) -> RequestState:
    """An empty service at ``start_s`` with ``max_replicas`` replica rows, none routable.

    ``queue_capacity`` is each ring buffer's initial size; :func:`step` grows it on demand.
    """
    if max_replicas < 1:
        raise ValueError(f"max_replicas must be ≥ 1, got {max_replicas}")
    if queue_capacity < 1:
        raise ValueError(f"queue_capacity must be ≥ 1, got {queue_capacity}")
    r, c, q = max_replicas, params.slots, queue_capacity
    return RequestState(
        slot_finish=np.zeros((r, c)),
        slot_arrival_s=np.zeros((r, c)),
        slot_id=np.zeros((r, c), dtype=np.int64),
        n_busy=np.zeros(r, dtype=np.int64),
        virtual=np.zeros(r),
        last_s=np.full(r + 1, start_s),
        routable=np.zeros(r, dtype=np.bool_),
        deadline_s=np.full(r, math.inf),
        q_arrival_s=np.zeros((r + 1, q)),
        q_size_core_s=np.zeros((r + 1, q)),
        q_id=np.zeros((r + 1, q), dtype=np.int64),
        q_head=np.zeros(r + 1, dtype=np.int64),
        q_len=np.zeros(r + 1, dtype=np.int64),
        heap=np.arange(r + 1, dtype=np.int64),
        heap_pos=np.arange(r + 1, dtype=np.int64),
        event_s=np.full(r + 1, math.inf),
        event_kind=np.zeros(r + 1, dtype=np.int64),
        event_slot=np.zeros(r, dtype=np.int64),
        routable_list=np.zeros(r, dtype=np.int64),
        scalars=np.zeros(3, dtype=np.int64),
        clock_s=np.array([start_s]),
        counts=np.zeros(N_COUNTS, dtype=np.int64),
    )


def grow_queues(state: RequestState, capacity: int) -> RequestState:
    """The same state with every ring buffer re-laid from position 0 at ``capacity``."""
    rows, old = state.q_arrival_s.shape
    if capacity < int(state.q_len.max()):
        raise ValueError(f"capacity {capacity} < queued {int(state.q_len.max())}")
    arrival = np.zeros((rows, capacity))
    size = np.zeros((rows, capacity))
    ids = np.zeros((rows, capacity), dtype=np.int64)
    for row in range(rows):
        n = int(state.q_len[row])
        at = (int(state.q_head[row]) + np.arange(n)) % old
        arrival[row, :n] = state.q_arrival_s[row, at]
        size[row, :n] = state.q_size_core_s[row, at]
        ids[row, :n] = state.q_id[row, at]
    return state._replace(
        q_arrival_s=arrival,
        q_size_core_s=size,
        q_id=ids,
        q_head=np.zeros(rows, dtype=np.int64),
    )


def grow_replicas(state: RequestState, max_replicas: int) -> RequestState:
    """The same state with ``max_replicas`` replica rows (new rows empty, not routable).

    Row indices of existing replicas are kept; the pooled queue moves to the new last row.
    """
    old = state.n_busy.shape[0]
    if max_replicas < old:
        raise ValueError(f"cannot shrink from {old} to {max_replicas} replica rows")
    if max_replicas == old:
        return state
    extra = max_replicas - old

    def rows(a: npt.NDArray[Any], fill: float | int | bool) -> npt.NDArray[Any]:
        pad = np.full((extra, *a.shape[1:]), fill, dtype=a.dtype)
        return np.concatenate([a, pad])

    def rows_then_pool(a: npt.NDArray[Any], fill: float | int | bool) -> npt.NDArray[Any]:
        pad = np.full((extra, *a.shape[1:]), fill, dtype=a.dtype)
        return np.concatenate([a[:old], pad, a[old:]])

    clock = float(state.clock_s[0])
    n = max_replicas + 1
    return state._replace(
        slot_finish=rows(state.slot_finish, 0.0),
        slot_arrival_s=rows(state.slot_arrival_s, 0.0),
        slot_id=rows(state.slot_id, 0),
        n_busy=rows(state.n_busy, 0),
        virtual=rows(state.virtual, 0.0),
        last_s=rows_then_pool(state.last_s, clock),
        routable=rows(state.routable, False),
        deadline_s=rows(state.deadline_s, math.inf),
        q_arrival_s=rows_then_pool(state.q_arrival_s, 0.0),
        q_size_core_s=rows_then_pool(state.q_size_core_s, 0.0),
        q_id=rows_then_pool(state.q_id, 0),
        q_head=rows_then_pool(state.q_head, 0),
        q_len=rows_then_pool(state.q_len, 0),
        heap=np.arange(n, dtype=np.int64),  # rebuilt at every call's start
        heap_pos=np.arange(n, dtype=np.int64),
        event_s=np.full(n, math.inf),
        event_kind=np.zeros(n, dtype=np.int64),
        event_slot=np.zeros(max_replicas, dtype=np.int64),
        routable_list=np.zeros(max_replicas, dtype=np.int64),
    )


def join_replica(state: RequestState) -> tuple[RequestState, int]:
    """Make a new replica routable from the state's clock (it starts empty): the lowest
    free row (:func:`is_free`), growing the rows if none is free. Returns (state, row)."""
    for row in range(state.n_busy.shape[0]):
        if is_free(state, row):
            break
    else:
        row = state.n_busy.shape[0]
        state = grow_replicas(state, 2 * row)
    state.routable[row] = True
    state.deadline_s[row] = math.inf
    return state, row


def leave_replica(state: RequestState, row: int, grace_s: float) -> None:
    """Stop routing to ``row`` from the state's clock; what it still holds at clock +
    ``grace_s`` (inf: no limit) is dropped then."""
    if not state.routable[row]:
        raise ValueError(f"replica row {row} is not routable")
    state.routable[row] = False
    state.deadline_s[row] = float(state.clock_s[0]) + grace_s


def in_system(state: RequestState) -> int:
    """Requests in slots or queues now."""
    return int(state.n_busy.sum() + state.q_len.sum())


def dropped(counts: npt.NDArray[np.int64]) -> int:
    """All drops of a ``counts`` vector: no replica + queue full + grace deadline."""
    return int(
        counts[COUNT_DROPPED_NO_REPLICA]
        + counts[COUNT_DROPPED_QUEUE_FULL]
        + counts[COUNT_DROPPED_GRACE]
    )


def is_free(state: RequestState, replica: int) -> bool:
    """Whether row ``replica`` holds no replica: not routable and empty (reusable)."""
    return bool(
        not state.routable[replica] and state.n_busy[replica] == 0 and state.q_len[replica] == 0
    )


def advance_requests(
    state: RequestState,
    cores: float,
    queue_limit: int,
    timeout_s: float,
    routing: int,
    choices: int,
    arrival_s: npt.NDArray[np.float64],
    origin_s: npt.NDArray[np.float64],
    size_core_s: npt.NDArray[np.float64],
    route_u: npt.NDArray[np.float64],
    until_s: float,
    response_s: npt.NDArray[np.float64],
    response_id: npt.NDArray[np.int64],
    integrals: npt.NDArray[np.float64],
) -> tuple[int, int, int]:
    """Advance ``state`` from ``state.clock_s[0]`` to ``until_s`` (the kernel; Numba subset).

    Inputs: sorted ``arrival_s`` in ``[clock, until_s]`` with their ``size_core_s`` (> 0)
    and ``route_u`` (n, ≥ :attr:`RequestParams.uniforms_per_request`) uniforms in [0, 1).
    ``origin_s`` (≤ ``arrival_s``) is when each request was sent: its response and its
    timeout count from there (a request an interceptor held while no replica was ready
    reaches the service later than it was sent; the caller keeps ``origin + τ`` after
    ``arrival``). For every other request ``origin_s`` is ``arrival_s``.
    Each completion writes its response time and request id to ``response_s`` /
    ``response_id`` (in completion order); ``integrals`` (R + 1, N_INTEGRALS) is *added
    to* per row. Returns ``(status, arrivals consumed, responses written)``; on a
    ``STATUS_NEED_*`` the state is consistent at the stopping instant and the call can be
    resumed with the remaining arrivals (see :func:`step`). Validation is the caller's.
    """
    slot_finish = state.slot_finish
    slot_arrival = state.slot_arrival_s
    slot_id = state.slot_id
    n_busy = state.n_busy
    virtual = state.virtual
    last_s = state.last_s
    routable = state.routable
    deadline = state.deadline_s
    q_arr = state.q_arrival_s
    q_size = state.q_size_core_s
    q_id = state.q_id
    q_head = state.q_head
    q_len = state.q_len
    heap = state.heap
    heap_pos = state.heap_pos
    event_s = state.event_s
    event_kind = state.event_kind
    event_slot = state.event_slot
    rlist = state.routable_list
    scalars = state.scalars
    counts = state.counts

    n_rep = n_busy.shape[0]
    slots = slot_finish.shape[1]
    capacity = q_arr.shape[1]
    pool = n_rep  # heap/queue row of the shared queue
    rows = n_rep + 1
    inf = math.inf

    def touch(row: int, t: float) -> None:
        """Account row ``row`` (integrals, virtual work) up to ``t``."""
        dt = t - last_s[row]
        if dt > 0.0:
            ql = q_len[row]
            if row == pool:
                integrals[row, 0] += ql * dt
                integrals[row, 1] += ql * dt
            else:
                n = n_busy[row]
                integrals[row, 0] += (n + ql) * dt
                integrals[row, 1] += ql * dt
                if n > 0:
                    integrals[row, 2] += n * dt
                    if n > cores:
                        virtual[row] += dt * (cores / n)
                        integrals[row, 3] += cores * dt
                    else:
                        virtual[row] += dt
                        integrals[row, 3] += n * dt
            last_s[row] = t

    def rekey(row: int) -> None:
        """Recompute the row's next event (instant, kind)."""
        key = inf
        kind = 0
        if row == pool:
            if q_len[row] > 0:
                key = q_arr[row, q_head[row]] + timeout_s
                kind = 2
        else:
            n = n_busy[row]
            if n > 0:
                best = 0
                fin = slot_finish[row, 0]
                for j in range(1, n):
                    if slot_finish[row, j] < fin:
                        fin = slot_finish[row, j]
                        best = j
                rate = cores / n if n > cores else 1.0
                left = fin - virtual[row]
                if left < 0.0:
                    left = 0.0
                key = last_s[row] + left / rate
                kind = 1
                event_slot[row] = best
            if q_len[row] > 0:
                t_ab = q_arr[row, q_head[row]] + timeout_s
                if t_ab < key:
                    key = t_ab
                    kind = 2
            if (not routable[row]) and (n > 0 or q_len[row] > 0) and deadline[row] < key:
                key = deadline[row]
                kind = 3
        event_s[row] = key
        event_kind[row] = kind

    def sift_down(i: int) -> None:
        """Move the entry at heap position ``i`` down to its place."""
        row = heap[i]
        key = event_s[row]
        while True:
            child = 2 * i + 1
            if child >= rows:
                break
            if child + 1 < rows and event_s[heap[child + 1]] < event_s[heap[child]]:
                child += 1
            other = heap[child]
            if event_s[other] >= key:
                break
            heap[i] = other
            heap_pos[other] = i
            i = child
        heap[i] = row
        heap_pos[row] = i

    def sift(row: int) -> None:
        """Restore the heap property around ``row`` after its key changed."""
        i = heap_pos[row]
        key = event_s[row]
        while i > 0:
            parent = (i - 1) // 2
            other = heap[parent]
            if event_s[other] <= key:
                break
            heap[i] = other
            heap_pos[other] = i
            i = parent
        heap[i] = row
        heap_pos[row] = i
        sift_down(i)

    def admit(row: int, arrived_s: float, size: float, rid: int) -> None:
        """Start a request in the next free slot of replica ``row`` (touched already)."""
        j = n_busy[row]
        slot_finish[row, j] = virtual[row] + size
        slot_arrival[row, j] = arrived_s
        slot_id[row, j] = rid
        n_busy[row] = j + 1

    def abandon_heads(row: int, t: float) -> None:
        """Remove queue heads whose deadline arrival + τ is ≤ t (counted as abandoned)."""
        while q_len[row] > 0 and q_arr[row, q_head[row]] + timeout_s <= t:
            q_head[row] = (q_head[row] + 1) % capacity
            q_len[row] -= 1
            counts[3] += 1

    def pull(row: int, source: int, t: float) -> None:
        """Admit the head of queue ``source`` (if any, after abandonments) into ``row``."""
        abandon_heads(source, t)
        if q_len[source] > 0:
            h = q_head[source]
            admit(row, q_arr[source, h], q_size[source, h], q_id[source, h])
            q_head[source] = (h + 1) % capacity
            q_len[source] -= 1

    def least_busy() -> int:
        """Pooled: the routable replica with the fewest busy slots and a free one, or -1."""
        best = -1
        fewest = slots
        for p in range(scalars[0]):
            row = rlist[p]
            if n_busy[row] < fewest:
                fewest = n_busy[row]
                best = row
        return best

    # --- call start: routable list, pooled joins, keys and heap ---------------------------
    clock = state.clock_s[0]
    n_routable = 0
    for row in range(n_rep):
        if routable[row]:
            rlist[n_routable] = row
            n_routable += 1
    scalars[0] = n_routable
    if routing == 3:
        while q_len[pool] > 0:
            row = least_busy()
            if row < 0:
                break
            touch(pool, clock)
            touch(row, clock)
            pull(row, pool, clock)
    for row in range(rows):
        rekey(row)
        heap[row] = row
        heap_pos[row] = row
    for pos in range(rows // 2 - 1, -1, -1):
        sift_down(pos)

    sampled = np.zeros(max(choices, 1), dtype=np.int64)
    n_arrivals = arrival_s.shape[0]
    i = 0
    written = 0
    status = 0
    while True:
        top = heap[0]
        t_event = event_s[top]
        t_arrival = arrival_s[i] if i < n_arrivals else inf
        if t_event <= t_arrival and t_event <= until_s:
            kind = event_kind[top]
            if kind == 1:
                if written >= response_s.shape[0]:
                    status = 2
                    state.clock_s[0] = t_event
                    break
                touch(top, t_event)
                j = event_slot[top]
                if slot_finish[top, j] > virtual[top]:
                    virtual[top] = slot_finish[top, j]
                response = t_event - slot_arrival[top, j]
                response_s[written] = response
                response_id[written] = slot_id[top, j]
                written += 1
                if response <= timeout_s + FATE_TOLERANCE_S:
                    counts[1] += 1
                else:
                    counts[2] += 1
                last = n_busy[top] - 1
                slot_finish[top, j] = slot_finish[top, last]
                slot_arrival[top, j] = slot_arrival[top, last]
                slot_id[top, j] = slot_id[top, last]
                n_busy[top] = last
                if last == 0:
                    virtual[top] = 0.0
                if routing == 3:
                    if routable[top] and q_len[pool] > 0:
                        touch(pool, t_event)
                        pull(top, pool, t_event)
                        rekey(pool)
                        sift(pool)
                else:
                    pull(top, top, t_event)
            elif kind == 2:
                touch(top, t_event)
                abandon_heads(top, t_event)
            else:
                touch(top, t_event)
                counts[6] += n_busy[top] + q_len[top]
                n_busy[top] = 0
                q_len[top] = 0
                q_head[top] = 0
                virtual[top] = 0.0
            rekey(top)
            sift(top)
        elif i < n_arrivals:
            # Choose a row without changing state (a stop for queue space must be clean).
            n_routable = scalars[0]
            target = -1
            if n_routable > 0:
                if routing == 0:
                    p = int(route_u[i, 0] * n_routable)
                    target = rlist[min(p, n_routable - 1)]
                elif routing == 1:
                    target = rlist[scalars[1] % n_routable]
                elif routing == 2:
                    if choices == 0 or choices >= n_routable:
                        fewest = n_busy[rlist[0]] + q_len[rlist[0]]
                        ties = 0
                        for p in range(n_routable):
                            load = n_busy[rlist[p]] + q_len[rlist[p]]
                            if load < fewest:
                                fewest = load
                                ties = 1
                            elif load == fewest:
                                ties += 1
                        pick = min(int(route_u[i, 0] * ties), ties - 1)
                        for p in range(n_routable):
                            if n_busy[rlist[p]] + q_len[rlist[p]] == fewest:
                                if pick == 0:
                                    target = rlist[p]
                                    break
                                pick -= 1
                    else:
                        fewest = -1
                        for k in range(choices):
                            # The m-th routable position not sampled yet (uniform over the
                            # n_routable - k left): skip the sampled ones, kept ascending.
                            m = min(int(route_u[i, k] * (n_routable - k)), n_routable - k - 1)
                            at = k
                            for s in range(k):
                                if sampled[s] <= m:
                                    m += 1
                                else:
                                    at = s
                                    break
                            for s in range(k, at, -1):
                                sampled[s] = sampled[s - 1]
                            sampled[at] = m
                            row = rlist[m]
                            load = n_busy[row] + q_len[row]
                            if fewest < 0 or load < fewest:
                                fewest = load
                                target = row
                else:
                    target = least_busy()
                    if target < 0:
                        target = pool
            if target < 0:
                counts[0] += 1
                counts[4] += 1
                scalars[2] += 1
                i += 1
                continue
            free = target != pool and n_busy[target] < slots
            if not free:
                if q_len[target] >= queue_limit:
                    counts[0] += 1
                    counts[5] += 1
                    scalars[2] += 1
                    if routing == 1:
                        scalars[1] = scalars[1] % n_routable + 1
                    i += 1
                    continue
                if q_len[target] >= capacity:
                    status = 1
                    state.clock_s[0] = t_arrival
                    break
            rid = scalars[2]
            scalars[2] = rid + 1
            counts[0] += 1
            if routing == 1:
                scalars[1] = scalars[1] % n_routable + 1
            touch(target, t_arrival)
            if free:
                admit(target, origin_s[i], size_core_s[i], rid)
                rekey(target)
                sift(target)
            else:
                tail = (q_head[target] + q_len[target]) % capacity
                q_arr[target, tail] = origin_s[i]
                q_size[target, tail] = size_core_s[i]
                q_id[target, tail] = rid
                q_len[target] += 1
                if q_len[target] == 1:
                    rekey(target)
                    sift(target)
            i += 1
        else:
            break
    if status == 0:
        for row in range(rows):
            touch(row, until_s)
        state.clock_s[0] = until_s
    return status, i, written


def advance_ticks(
    state: RequestState,
    cores: float,
    queue_limit: int,
    timeout_s: float,
    routing: int,
    choices: int,
    edges_s: npt.NDArray[np.float64],
    ends: npt.NDArray[np.int64],
    arrival_s: npt.NDArray[np.float64],
    origin_s: npt.NDArray[np.float64],
    size_core_s: npt.NDArray[np.float64],
    route_u: npt.NDArray[np.float64],
    first_tick: int,
    first_arrival: int,
    resume: bool,
    response_s: npt.NDArray[np.float64],
    response_tick: npt.NDArray[np.int64],
    response_id: npt.NDArray[np.int64],
    written: int,
    tick_counts: npt.NDArray[np.int64],
    tick_integrals: npt.NDArray[np.float64],
    tick_in_system: npt.NDArray[np.int64],
    mark: npt.NDArray[np.int64],
    scratch: npt.NDArray[np.float64],
) -> tuple[int, int, int, int]:
    """:func:`advance_requests` tick by tick over a block (the kernel's driver; Numba subset).

    Tick ``k`` spans ``[edges_s[k], edges_s[k + 1]]`` and holds arrivals
    ``ends[k - 1]:ends[k]`` (``ends[-1]`` before tick 0 is 0). Starting at tick
    ``first_tick`` with arrival ``first_arrival`` (``resume``: that tick was started by an
    earlier call, whose ``mark`` (counts at the tick's start) and ``scratch`` integrals
    stand), each tick's count increments go to ``tick_counts[k]``, its integrals summed
    over rows to ``tick_integrals[k]``, the requests in the system at its end to
    ``tick_in_system[k]``, and each completion's response and tick to ``response_s`` /
    ``response_tick`` from position ``written`` (``origin_s``: as
    :func:`advance_requests` takes it). Returns ``(status, tick, arrival,
    written)``: on ``STATUS_DONE`` every tick is done; otherwise the tick and arrival to
    resume from (grow the queues, then call again with ``resume`` true).
    """
    n_ticks = edges_s.shape[0] - 1
    counts = state.counts
    for k in range(first_tick, n_ticks):
        if not (resume and k == first_tick):
            for j in range(counts.shape[0]):
                mark[j] = counts[j]
            scratch[:, :] = 0.0
        start = first_arrival if k == first_tick else (ends[k - 1] if k > 0 else 0)
        stop = ends[k]
        status, consumed, wrote = advance_requests(
            state,
            cores,
            queue_limit,
            timeout_s,
            routing,
            choices,
            arrival_s[start:stop],
            origin_s[start:stop],
            size_core_s[start:stop],
            route_u[start:stop],
            edges_s[k + 1],
            response_s[written:],
            response_id[written:],
            scratch,
        )
        for j in range(wrote):
            response_tick[written + j] = k
        written += wrote
        if status != 0:
            return status, k, start + consumed, written
        for j in range(counts.shape[0]):
            tick_counts[k, j] = counts[j] - mark[j]
        for column in range(scratch.shape[1]):
            total = 0.0
            for row in range(scratch.shape[0]):
                total += scratch[row, column]
            tick_integrals[k, column] = total
        tick_in_system[k] = state.n_busy.sum() + state.q_len.sum()
    return 0, n_ticks, ends[n_ticks - 1] if n_ticks > 0 else first_arrival, written


COMPILED_FUNCTIONS = ("advance_requests", "advance_ticks")
"""The kernel and its block driver, compiled together (:func:`capsim.jit.compile_family`)."""


Kernel = Callable[
    [
        RequestState,
        float,
        int,
        float,
        int,
        int,
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        float,
        npt.NDArray[np.float64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
    ],
    tuple[int, int, int],
]


@dataclass(frozen=True)
class TickOutcome:
    """What one :func:`step` produced over ``[start_s, until_s]``.

    ``counts`` are this call's increments of the ``COUNT_*`` counters. ``response_s`` and
    ``response_id`` list every completion (served and timed out) in completion order;
    ``response_s <= timeout_s + FATE_TOLERANCE_S`` selects the served ones. ``integrals`` is
    (R + 1, N_INTEGRALS) over the call (row R: the pooled queue).
    """

    start_s: float
    until_s: float
    counts: npt.NDArray[np.int64]
    response_s: npt.NDArray[np.float64]
    response_id: npt.NDArray[np.int64]
    integrals: npt.NDArray[np.float64]


def step(
    state: RequestState,
    params: RequestParams,
    arrival_s: npt.NDArray[np.float64],
    size_core_s: npt.NDArray[np.float64],
    route_u: npt.NDArray[np.float64] | None,
    until_s: float,
    kernel: Kernel = advance_requests,
) -> tuple[RequestState, TickOutcome]:
    """Checked wrapper: one call of ``kernel`` (possibly resumed), growing buffers on demand.

    ``kernel`` is :func:`advance_requests` or its compiled twin
    (:func:`capsim.fastpath.requests_jit.compiled_kernel`). Returns the (possibly
    re-allocated) state and the call's outcome.
    """
    start_s = float(state.clock_s[0])
    arrival_s = np.ascontiguousarray(arrival_s, dtype=np.float64)
    size_core_s = np.ascontiguousarray(size_core_s, dtype=np.float64)
    n = arrival_s.shape[0]
    need_u = params.uniforms_per_request
    if route_u is None:
        if need_u:
            raise ValueError(f"routing {params.routing!r} needs {need_u} uniforms per request")
        route_u = np.zeros((n, 1))
    route_u = np.ascontiguousarray(route_u, dtype=np.float64)
    if route_u.ndim != 2 or route_u.shape[0] != n or route_u.shape[1] < max(need_u, 1):
        if not (need_u == 0 and route_u.ndim == 2 and route_u.shape[0] == n):
            raise ValueError(f"route_u must be ({n}, ≥{need_u}), got {route_u.shape}")
        route_u = np.zeros((n, 1))
    if size_core_s.shape != (n,):
        raise ValueError("size_core_s must match arrival_s")
    if not math.isfinite(until_s):
        raise ValueError(f"until_s must be finite, got {until_s}")
    if not until_s >= start_s:
        raise ValueError(f"until_s {until_s} is before the state's clock {start_s}")
    if n:
        if arrival_s[0] < start_s or arrival_s[-1] > until_s:
            raise ValueError("arrivals must lie in [clock, until_s]")
        if np.any(np.diff(arrival_s) < 0):
            raise ValueError("arrivals must be sorted")
        if not np.all(size_core_s > 0) or not np.all(np.isfinite(size_core_s)):
            raise ValueError("sizes must be finite and > 0")
        if need_u and (np.any(route_u[:, :need_u] < 0) or np.any(route_u[:, :need_u] >= 1)):
            raise ValueError("routing uniforms must lie in [0, 1)")
    if state.slot_finish.shape[1] != params.slots:
        raise ValueError("state was made for another number of slots")
    before = state.counts.copy()
    integrals = np.zeros((state.n_busy.shape[0] + 1, N_INTEGRALS))
    response_s = np.empty(in_system(state) + n)
    response_id = np.empty(in_system(state) + n, dtype=np.int64)
    done = 0
    written = 0
    while True:
        status, consumed, wrote = kernel(
            state,
            params.cores,
            params.queue_limit_code,
            params.timeout_s,
            params.routing_code,
            params.choices_code,
            arrival_s[done:],
            arrival_s[done:],
            size_core_s[done:],
            route_u[done:],
            until_s,
            response_s[written:],
            response_id[written:],
            integrals,
        )
        done += consumed
        written += wrote
        if status == STATUS_DONE:
            break
        if status == STATUS_NEED_QUEUE_SPACE:
            state = grow_queues(state, 2 * state.q_arrival_s.shape[1])
        else:  # cannot happen with the buffer sized above; kept for a resumed call
            raise RuntimeError("response buffer too small")
    outcome = TickOutcome(
        start_s=start_s,
        until_s=until_s,
        counts=state.counts - before,
        response_s=response_s[:written],
        response_id=response_id[:written],
        integrals=integrals,
    )
    return state, outcome
