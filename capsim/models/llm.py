"""Per-request core of an LLM server with continuous batching (vLLM/TGI-like), pure maths.

Written in the subset of Python that Numba compiles (plain arrays and scalars, no clock,
no randomness): the caller draws arrival instants, token counts and routing uniforms
from its own Generators and hands them in (:mod:`capsim.engine.llm`). Units: seconds
(``_s``), tokens, requests.

**The model** (documented in ``README.md`` › *LLM serving*; every constant a parameter):

* *A replica* is one model server on its GPU(s). It works in **iterations**: an iteration
  runs one forward pass over its **running batch** and gives every sequence in it one
  output token. A sequence that joined the batch at this iteration is **prefilled** in it
  (its whole prompt, no chunking), and that same pass emits its first token.
* *Iteration time* ``d = base_s + per_sequence_s × B + prefill_s_per_token × P``, with
  ``B`` the sequences in the batch and ``P`` the prompt tokens of those that joined it. So
  output-token throughput ``B / d`` grows with the batch and saturates at
  ``1 / per_sequence_s`` (decode is bound by reading the weights, ``base_s``, until the
  batch's own work dominates): the two-parameter batching curve.
* *Admission* happens when an iteration starts (iteration-level scheduling): new requests
  wait for the current pass to end. The replica's queue is FCFS; its head joins the batch
  while fewer than ``max_batch`` sequences run and its **KV cache** reservation fits:
  each sequence holds ``prompt + output`` tokens of the ``kv_capacity_tokens`` for its
  whole life (reserved at admission, freed at completion; no preemption, as TGI reserves
  and as vLLM behaves while it need not preempt). The head blocks the queue (no
  skipping). A request whose ``prompt + output`` exceeds the whole cache can never run
  and is **dropped** at arrival (as a server refuses a prompt over its context length).
* *Latencies*: **TTFT** = first token − arrival; **TPOT** = (completion − first token) /
  (output − 1), for requests of at least two output tokens; end-to-end = completion −
  arrival. With ``max_batch = 1`` a replica is a FCFS single server whose request takes
  ``output × (base_s + per_sequence_s) + prefill_s_per_token × prompt``: the general
  per-request model (:mod:`capsim.models.requests`, one slot, one core) with that work.
* *Routing* at arrival over the routable replicas, in row order: ``random`` (uniform),
  ``round_robin`` (a cyclic pointer), ``least_request`` (``choices`` replicas drawn
  uniformly without replacement, fewest running + queued wins, first drawn on ties;
  ``choices = 0``: all, first lowest). No routable replica: **dropped**. A replica whose
  queue already holds ``queue_limit`` requests beyond its free batch slots drops the
  arrival.
* *Client timeout* ``τ``: a request still queued at ``arrival + τ`` **abandons**; one that
  started completes, and counts as **timed out** when it took longer than ``τ``.
* *Lifecycle*: a replica the caller stops routing to keeps working (its batch and its own
  queue) until empty or until its ``deadline_s``; what it holds then is **dropped**.
* *Simultaneous events*: iteration ends first, then abandonments, deadlines, arrivals.

Conservation at every tick's end, in integers:
``arrived = served + timed_out + abandoned + dropped + in_system``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "COMPILED_FUNCTIONS",
    "LlmState",
    "advance",
    "grow_queues",
    "in_system",
    "join_replica",
    "leave_replica",
    "new_state",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ROUTING_RANDOM = 0
ROUTING_ROUND_ROBIN = 1
ROUTING_LEAST_REQUEST = 2

# per-tick counts (``tick_counts[k, COUNT_*]``)
COUNT_ARRIVED = 0
COUNT_SERVED = 1  # completed within the timeout
COUNT_TIMED_OUT = 2  # completed after it
COUNT_ABANDONED = 3
COUNT_DROPPED_NO_REPLICA = 4
COUNT_DROPPED_QUEUE_FULL = 5
COUNT_DROPPED_TOO_LONG = 6
COUNT_DROPPED_GRACE = 7
COUNT_TOKENS = 8  # output tokens emitted
N_COUNTS = 9

# per-tick integrals over time, summed over replicas (``tick_integrals[k, INTEGRAL_*]``)
INTEGRAL_IN_SYSTEM = 0  # request-seconds, running + queued
INTEGRAL_QUEUED = 1  # request-seconds queued
INTEGRAL_RUNNING = 2  # sequence-seconds in a running batch
INTEGRAL_BUSY = 3  # replica-seconds iterating (a kernel running: DCGM_FI_DEV_GPU_UTIL)
INTEGRAL_KV = 4  # KV-cache token-seconds reserved
INTEGRAL_PRESENT = 5  # replica-seconds of replicas routable or still holding requests
N_INTEGRALS = 6

# per-completion sample columns (``samples[i, SAMPLE_*]``)
SAMPLE_LATENCY = 0
SAMPLE_TTFT = 1
SAMPLE_TPOT = 2  # NaN for a one-token output
N_SAMPLE = 3


class LlmState(NamedTuple):
    """Carried state of one service: R replica rows, batches of B, queues of Q."""

    routable: IntArray  # (R,) 1: receives new requests
    deadline_s: FloatArray  # (R,) when not routable: what it holds then is dropped
    iteration_end_s: FloatArray  # (R,) end of the running pass (inf: idle)
    n_running: IntArray  # (R,) sequences in the batch (slots 0..n-1)
    kv_used: IntArray  # (R,) tokens reserved
    run_arrival_s: FloatArray  # (R, B)
    run_first_s: FloatArray  # (R, B) first-token instant (NaN before)
    run_left: IntArray  # (R, B) output tokens still to emit
    run_output: IntArray  # (R, B)
    run_kv: IntArray  # (R, B) tokens reserved
    run_new: IntArray  # (R, B) 1: prefilled in the current pass
    q_arrival_s: FloatArray  # (R, Q) ring buffers
    q_prompt: IntArray  # (R, Q)
    q_output: IntArray  # (R, Q)
    q_head: IntArray  # (R,)
    q_len: IntArray  # (R,)
    scalars: IntArray  # (1,) round-robin pointer
    clock_s: FloatArray  # (1,) instant the state is accounted up to


def new_state(max_batch: int, replicas: int = 4, queue: int = 16, start_s: float = 0.0) -> LlmState:
    """An empty service at ``start_s`` with ``replicas`` rows, none routable."""
    r, b, q = max(replicas, 1), max_batch, max(queue, 1)
    return LlmState(
        routable=np.zeros(r, dtype=np.int64),
        deadline_s=np.full(r, math.inf),
        iteration_end_s=np.full(r, math.inf),
        n_running=np.zeros(r, dtype=np.int64),
        kv_used=np.zeros(r, dtype=np.int64),
        run_arrival_s=np.zeros((r, b)),
        run_first_s=np.full((r, b), math.nan),
        run_left=np.zeros((r, b), dtype=np.int64),
        run_output=np.zeros((r, b), dtype=np.int64),
        run_kv=np.zeros((r, b), dtype=np.int64),
        run_new=np.zeros((r, b), dtype=np.int64),
        q_arrival_s=np.zeros((r, q)),
        q_prompt=np.zeros((r, q), dtype=np.int64),
        q_output=np.zeros((r, q), dtype=np.int64),
        q_head=np.zeros(r, dtype=np.int64),
        q_len=np.zeros(r, dtype=np.int64),
        scalars=np.zeros(1, dtype=np.int64),
        clock_s=np.array([start_s]),
    )


def _grow_rows(state: LlmState, rows: int) -> LlmState:
    """``state`` with ``rows`` replica rows (the new ones empty, not routable)."""

    def grow(a: npt.NDArray[np.generic], fill: float) -> npt.NDArray[np.generic]:
        extra = np.full((rows - a.shape[0], *a.shape[1:]), fill, dtype=a.dtype)
        return np.concatenate([a, extra])

    fills = {"deadline_s": math.inf, "iteration_end_s": math.inf, "run_first_s": math.nan}
    grown: dict[str, Any] = {
        name: (value if name in ("scalars", "clock_s") else grow(value, fills.get(name, 0)))
        for name, value in state._asdict().items()
    }
    return LlmState(**grown)


def grow_queues(state: LlmState, capacity: int) -> LlmState:
    """``state`` with queues of at least ``capacity`` entries (order kept, heads at 0)."""
    q = state.q_arrival_s.shape[1]
    if capacity <= q:
        return state
    r = state.q_len.shape[0]
    arrays: list[Any] = []
    for old in (state.q_arrival_s, state.q_prompt, state.q_output):
        new = np.zeros((r, capacity), dtype=old.dtype)
        for row in range(r):
            order = (state.q_head[row] + np.arange(state.q_len[row])) % q
            new[row, : state.q_len[row]] = old[row, order]
        arrays.append(new)
    return state._replace(
        q_arrival_s=arrays[0],
        q_prompt=arrays[1],
        q_output=arrays[2],
        q_head=np.zeros(r, dtype=np.int64),
    )


def _is_free(state: LlmState, row: int) -> bool:
    return bool(state.routable[row] == 0 and state.n_running[row] == 0 and state.q_len[row] == 0)


def join_replica(state: LlmState) -> tuple[LlmState, int]:
    """Make a new empty replica routable (the lowest free row; rows grow when none is)."""
    for row in range(state.routable.shape[0]):
        if _is_free(state, row):
            break
    else:
        row = state.routable.shape[0]
        state = _grow_rows(state, 2 * row)
    state.routable[row] = 1
    state.deadline_s[row] = math.inf
    return state, row


def leave_replica(state: LlmState, row: int, grace_s: float) -> None:
    """Stop routing to ``row``; what it holds at the clock + ``grace_s`` is dropped."""
    if state.routable[row] == 0:
        raise ValueError(f"replica row {row} is not routable")
    state.routable[row] = 0
    state.deadline_s[row] = float(state.clock_s[0]) + grace_s


def in_system(state: LlmState) -> int:
    """Requests running or queued now."""
    return int(state.n_running.sum() + state.q_len.sum())


def _start_iteration(
    state: LlmState,
    row: int,
    now: float,
    max_batch: int,
    kv_capacity: int,
    base_s: float,
    per_sequence_s: float,
    prefill_s_per_token: float,
) -> None:
    """Admit from the queue head and start the next pass of ``row`` at ``now`` (idle when
    nothing runs)."""
    qcap = state.q_arrival_s.shape[1]
    prefill = 0
    while state.q_len[row] > 0 and state.n_running[row] < max_batch:
        head = state.q_head[row]
        need = state.q_prompt[row, head] + state.q_output[row, head]
        if state.kv_used[row] + need > kv_capacity:
            break
        slot = state.n_running[row]
        state.run_arrival_s[row, slot] = state.q_arrival_s[row, head]
        state.run_first_s[row, slot] = math.nan
        state.run_left[row, slot] = state.q_output[row, head]
        state.run_output[row, slot] = state.q_output[row, head]
        state.run_kv[row, slot] = need
        state.run_new[row, slot] = 1
        state.kv_used[row] += need
        state.n_running[row] = slot + 1
        prefill += state.q_prompt[row, head]
        state.q_head[row] = (head + 1) % qcap
        state.q_len[row] -= 1
    n = state.n_running[row]
    if n == 0:
        state.iteration_end_s[row] = math.inf
        return
    state.iteration_end_s[row] = now + base_s + per_sequence_s * n + prefill_s_per_token * prefill


def _end_iteration(
    state: LlmState,
    row: int,
    now: float,
    timeout_s: float,
    tick: int,
    counts: IntArray,
    samples: FloatArray,
    sample_tick: IntArray,
    written: int,
) -> int:
    """Emit one token per running sequence of ``row`` at ``now``; book completions.
    Returns the samples written so far."""
    slot = 0
    while slot < state.n_running[row]:
        if state.run_new[row, slot] == 1:
            state.run_first_s[row, slot] = now
            state.run_new[row, slot] = 0
        state.run_left[row, slot] -= 1
        counts[tick, COUNT_TOKENS] += 1
        if state.run_left[row, slot] > 0:
            slot += 1
            continue
        arrival = state.run_arrival_s[row, slot]
        first = state.run_first_s[row, slot]
        output = state.run_output[row, slot]
        samples[written, SAMPLE_LATENCY] = now - arrival
        samples[written, SAMPLE_TTFT] = first - arrival
        samples[written, SAMPLE_TPOT] = (now - first) / (output - 1) if output > 1 else math.nan
        sample_tick[written] = tick
        written += 1
        if now - arrival > timeout_s:
            counts[tick, COUNT_TIMED_OUT] += 1
        else:
            counts[tick, COUNT_SERVED] += 1
        state.kv_used[row] -= state.run_kv[row, slot]
        last = state.n_running[row] - 1  # keep the batch compact: the last fills the hole
        state.run_arrival_s[row, slot] = state.run_arrival_s[row, last]
        state.run_first_s[row, slot] = state.run_first_s[row, last]
        state.run_left[row, slot] = state.run_left[row, last]
        state.run_output[row, slot] = state.run_output[row, last]
        state.run_kv[row, slot] = state.run_kv[row, last]
        state.run_new[row, slot] = state.run_new[row, last]
        state.n_running[row] = last
    return written


def _route(
    state: LlmState, routing: int, choices: int, u: FloatArray, candidates: IntArray, n: int
) -> int:
    """The routable row an arrival goes to (``candidates[:n]`` in row order)."""
    if routing == ROUTING_RANDOM:
        return int(candidates[min(int(u[0] * n), n - 1)])
    if routing == ROUTING_ROUND_ROBIN:
        pointer = state.scalars[0] % n
        state.scalars[0] = pointer + 1
        return int(candidates[pointer])
    if choices == 0 or choices >= n:
        best, load = candidates[0], state.n_running[candidates[0]] + state.q_len[candidates[0]]
        for i in range(1, n):
            row = candidates[i]
            here = state.n_running[row] + state.q_len[row]
            if here < load:
                best, load = row, here
        return int(best)
    # ``choices`` distinct draws (partial Fisher-Yates on a copy of the candidates)
    pool = candidates[:n].copy()
    best, load = -1, 0
    for j in range(choices):
        pick = j + min(int(u[j] * (n - j)), n - j - 1)
        pool[j], pool[pick] = pool[pick], pool[j]
        row = pool[j]
        here = state.n_running[row] + state.q_len[row]
        if best < 0 or here < load:
            best, load = row, here
    return int(best)


def _drop_all(state: LlmState, row: int, tick: int, counts: IntArray) -> None:
    """A draining replica's deadline: everything it holds is dropped."""
    counts[tick, COUNT_DROPPED_GRACE] += state.n_running[row] + state.q_len[row]
    state.n_running[row] = 0
    state.q_len[row] = 0
    state.kv_used[row] = 0
    state.iteration_end_s[row] = math.inf
    state.deadline_s[row] = math.inf


def _accumulate(state: LlmState, dt: float, integrals: FloatArray, tick: int) -> None:
    """Add ``dt`` seconds of the current levels to tick ``tick``'s integrals."""
    if dt <= 0.0:
        return
    running = 0
    queued = 0
    busy = 0
    kv = 0
    present = 0
    for row in range(state.routable.shape[0]):
        if state.routable[row] == 1 or state.n_running[row] > 0 or state.q_len[row] > 0:
            present += 1
        running += state.n_running[row]
        queued += state.q_len[row]
        kv += state.kv_used[row]
        if state.n_running[row] > 0:
            busy += 1
    integrals[tick, INTEGRAL_IN_SYSTEM] += (running + queued) * dt
    integrals[tick, INTEGRAL_QUEUED] += queued * dt
    integrals[tick, INTEGRAL_RUNNING] += running * dt
    integrals[tick, INTEGRAL_BUSY] += busy * dt
    integrals[tick, INTEGRAL_KV] += kv * dt
    integrals[tick, INTEGRAL_PRESENT] += present * dt


def advance(
    state: LlmState,
    max_batch: int,
    kv_capacity: int,
    base_s: float,
    per_sequence_s: float,
    prefill_s_per_token: float,
    timeout_s: float,
    queue_limit: int,
    routing: int,
    choices: int,
    edges_s: FloatArray,
    arrival_s: FloatArray,
    origin_s: FloatArray,
    prompt: IntArray,
    output: IntArray,
    route_u: FloatArray,
    counts: IntArray,
    integrals: FloatArray,
    tick_in_system: IntArray,
    samples: FloatArray,
    sample_tick: IntArray,
) -> int:
    """Advance ``state`` over the ticks ``[edges_s[k], edges_s[k + 1])`` (from the state's
    clock, ``edges_s[0]``); the caller guarantees queues of room for every arrival
    (:func:`grow_queues`). Arrivals are sorted within ``[edges_s[0], edges_s[-1])``.
    Per tick: ``counts`` and ``integrals`` are added to, ``tick_in_system`` set (at the
    tick's end); each completion's latency, TTFT and TPOT go to ``samples`` with its tick.
    ``origin_s`` (≤ ``arrival_s``) is when each request was sent: its latencies and its
    timeout count from there (a request an interceptor held reaches the service later;
    the caller keeps ``origin + τ`` after ``arrival``); else it is ``arrival_s``.
    ``queue_limit < 0``: no limit. Returns the samples written."""
    rows = state.routable.shape[0]
    n_ticks = edges_s.shape[0] - 1
    end_s = edges_s[n_ticks]
    candidates = np.zeros(rows, dtype=np.int64)
    qcap = state.q_arrival_s.shape[1]
    now = state.clock_s[0]
    tick = 0
    written = 0
    i = 0
    n_arrivals = arrival_s.shape[0]
    while True:
        # the next event: iteration ends, then abandonments, deadlines, arrivals
        t_next = math.inf
        kind = 0
        which = -1
        for row in range(rows):
            if state.iteration_end_s[row] < t_next:
                t_next, kind, which = state.iteration_end_s[row], 1, row
        for row in range(rows):
            if state.q_len[row] > 0:
                due = state.q_arrival_s[row, state.q_head[row]] + timeout_s
                if due < t_next:
                    t_next, kind, which = due, 2, row
        for row in range(rows):
            holds = state.n_running[row] > 0 or state.q_len[row] > 0
            if state.routable[row] == 0 and state.deadline_s[row] < t_next and holds:
                t_next, kind, which = state.deadline_s[row], 3, row
        if i < n_arrivals and arrival_s[i] < t_next:
            t_next, kind, which = arrival_s[i], 4, -1
        # the ticks that end before it
        while tick < n_ticks and edges_s[tick + 1] <= min(t_next, end_s):
            _accumulate(state, edges_s[tick + 1] - now, integrals, tick)
            now = edges_s[tick + 1]
            tick_in_system[tick] = in_system(state)
            tick += 1
        if tick >= n_ticks or t_next >= end_s:
            break
        _accumulate(state, t_next - now, integrals, tick)
        now = t_next
        if kind == 1:
            written = _end_iteration(
                state, which, now, timeout_s, tick, counts, samples, sample_tick, written
            )
            if state.routable[which] == 0 and state.deadline_s[which] <= now:
                _drop_all(state, which, tick, counts)
            else:
                _start_iteration(
                    state, which, now, max_batch, kv_capacity, base_s, per_sequence_s,
                    prefill_s_per_token,
                )  # fmt: skip
        elif kind == 2:
            state.q_head[which] = (state.q_head[which] + 1) % qcap
            state.q_len[which] -= 1
            counts[tick, COUNT_ABANDONED] += 1
        elif kind == 3:
            _drop_all(state, which, tick, counts)
        else:
            counts[tick, COUNT_ARRIVED] += 1
            n = 0
            for row in range(rows):
                if state.routable[row] == 1:
                    candidates[n] = row
                    n += 1
            if n == 0:
                counts[tick, COUNT_DROPPED_NO_REPLICA] += 1
            elif prompt[i] + output[i] > kv_capacity:
                counts[tick, COUNT_DROPPED_TOO_LONG] += 1
            else:
                row = _route(state, routing, choices, route_u[i], candidates, n)
                free = max_batch - state.n_running[row]  # slots the queue head may take
                if queue_limit >= 0 and state.q_len[row] - free >= queue_limit:
                    counts[tick, COUNT_DROPPED_QUEUE_FULL] += 1
                else:
                    at = (state.q_head[row] + state.q_len[row]) % qcap
                    state.q_arrival_s[row, at] = origin_s[i]
                    state.q_prompt[row, at] = prompt[i]
                    state.q_output[row, at] = output[i]
                    state.q_len[row] += 1
                    if state.iteration_end_s[row] == math.inf:
                        _start_iteration(
                            state, row, now, max_batch, kv_capacity, base_s, per_sequence_s,
                            prefill_s_per_token,
                        )  # fmt: skip
            i += 1
    state.clock_s[0] = end_s
    return written


COMPILED_FUNCTIONS = (
    "in_system",
    "_start_iteration",
    "_end_iteration",
    "_route",
    "_drop_all",
    "_accumulate",
    "advance",
)
"""The functions callers compile, callees before their callers."""
