"""LLM services under the per-request bank: every request through
:mod:`capsim.models.llm` (continuous batching), tick by tick.

What this adds to the core, as :mod:`capsim.engine.exact` does for other services:

* **Arrivals.** A service whose load is a per-request trace (``type: requests``) replays
  its instants, and its tokens when the file has them; any other load arrives as the
  exact model's renewal process at each tick's rate
  (:mod:`capsim.engine.exact`).
* **Tokens.** Drawn from ``llm.prompt_tokens`` / ``llm.output_tokens`` when given
  (rounded, at least 1), else replayed: the trace row of each arrival, and for the
  warm-up (and arrivals not from the trace) a row drawn uniformly from the file.
* **Replicas, warm start, random streams**: as :mod:`capsim.engine.exact` (the same
  grace period, warm-up and per-workload streams; routing uniforms from the platform's).

Reported per tick, besides the general fields: GPU busy (replica-seconds a pass ran,
the meaning of DCGM's ``DCGM_FI_DEV_GPU_UTIL``: share of time a kernel ran), KV-cache
tokens reserved, output tokens emitted; per completion: latency, TTFT and TPOT.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.engine.interceptor import HeldRequests, TickIndex
from capsim.engine.measured import Measured, write_measured
from capsim.jit import compile_family, forget_stale_cache
from capsim.models import llm as core
from capsim.models import service as sv
from capsim.scenario import ServiceWorkload
from capsim.scenario.llm import TokenCount
from capsim.scenario.load.requests import (
    RequestTrace,
    check_span,
    read_requests,
    replay_window,
)
from capsim.scenario.load.specs import RequestsLoad

__all__ = ["LlmService", "llm_routing"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ROUTING = {
    "random": (core.ROUTING_RANDOM, 0),
    "round_robin": (core.ROUTING_ROUND_ROBIN, 0),
    "least_request": (core.ROUTING_LEAST_REQUEST, 2),  # Envoy's power of two choices
    "join_shortest_queue": (core.ROUTING_LEAST_REQUEST, 0),  # all replicas
}


def llm_routing(routing: str) -> tuple[int, int] | None:
    """The core's routing code and choices for a platform's ``routing`` (None: the LLM
    model has no such routing: ``pooled``, one queue in front of every batch)."""
    return _ROUTING.get(routing)


_HELD_INDEX = TickIndex.of(core)


@functools.cache
def _compiled() -> Any:
    forget_stale_cache(core.__file__)
    return compile_family(vars(core), core.COMPILED_FUNCTIONS)["advance"]


def _token_law(law: TokenCount) -> Callable[[np.random.Generator, int], IntArray]:
    """A draw of ``n`` token counts (whole, ≥ 1) from ``law``."""
    mean = law.mean
    if law.distribution == "deterministic":
        return lambda rng, n: np.full(n, max(1, round(mean)), dtype=np.int64)
    assert law.cv is not None
    cv = law.cv
    draw: Callable[[np.random.Generator, int], FloatArray]
    if law.distribution == "lognormal":
        sigma2 = math.log1p(cv * cv)
        mu = math.log(mean) - sigma2 / 2.0
        draw = lambda rng, n: rng.lognormal(mu, math.sqrt(sigma2), n)  # noqa: E731
    else:
        k = 1.0 / (cv * cv)
        draw = lambda rng, n: rng.gamma(k, mean / k, n)  # noqa: E731
    return lambda rng, n: np.maximum(np.rint(draw(rng, n)), 1).astype(np.int64)


class LlmService:
    """One LLM service's core state, streams and recorded completions; the interface of
    the exact bank's services (``set_replicas``, ``advance``, ``fill``)."""

    def __init__(
        self,
        workload: ServiceWorkload,
        routing: str,
        seeds: tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence],
        base_dir: Path,
        duration_s: float,
        arrivals: Any,
        grace_s: float,
        warm_up_s: float,
        interceptor: tuple[float, int | None] | None = None,
        cpu_limit_cores: float = math.inf,
    ) -> None:
        assert workload.llm is not None
        self.cpu_limit_cores = cpu_limit_cores
        self.workload = workload
        self.llm = workload.llm
        code = llm_routing(routing)
        if code is None:
            raise ValueError(f"routing {routing}: not modelled for LLM services")
        self.routing, self.choices = code
        self.grace_s = grace_s
        self.state = core.new_state(workload.concurrency, 4, 16, start_s=-warm_up_s)
        self.joined: list[int] = []
        _, tokens, route = (np.random.default_rng(s) for s in seeds)
        self._tokens_rng = tokens
        self._route_rng = route
        self._arrivals = arrivals  # the exact bank's arrival stream of this workload
        self._replay: RequestTrace | None = None
        self._duration_s = duration_s
        self._prompt_col: IntArray | None = None
        self._output_col: IntArray | None = None
        load = workload.load
        if isinstance(load, RequestsLoad):
            trace = read_requests(load, base_dir=base_dir, where="load")
            check_span(trace, load, duration_s)
            self._replay = trace
            self._prompt_col, self._output_col = trace.prompt_tokens, trace.output_tokens
        self._draw_prompt = (
            None if self.llm.prompt_tokens is None else _token_law(self.llm.prompt_tokens)
        )
        self._draw_output = (
            None if self.llm.output_tokens is None else _token_law(self.llm.output_tokens)
        )
        self.held = None if interceptor is None else HeldRequests(*interceptor, 2)
        """Requests an interceptor holds while no replica is ready (None: refused)."""
        self.samples: list[npt.NDArray[np.float32]] = []  # (n, 3): latency, TTFT, TPOT
        self.sample_ticks: list[npt.NDArray[np.int32]] = []

    def set_replicas(self, ready: int) -> None:
        """Make ``ready`` replicas routable from the state's clock (newest leave first)."""
        while len(self.joined) < ready:
            self.state, row = core.join_replica(self.state)
            self.joined.append(row)
        while len(self.joined) > ready:
            core.leave_replica(self.state, self.joined.pop(), self.grace_s)

    def _requests(
        self, edges: FloatArray, rates: FloatArray
    ) -> tuple[FloatArray, IntArray, IntArray]:
        """Arrival instants in ``[edges[0], edges[-1])`` and their prompt and output tokens."""
        rows: IntArray | None = None
        if self._replay is not None and edges[0] >= 0.0:
            end = min(float(edges[-1]), self._duration_s)
            times, rows = replay_window(self._replay, float(edges[0]), end)
        else:
            times, _ = self._arrivals(edges, rates)
        n = times.size
        if self._draw_prompt is not None and self._draw_output is not None:
            both = self._draw_prompt(self._tokens_rng, n), self._draw_output(self._tokens_rng, n)
            return times, both[0], both[1]
        assert self._prompt_col is not None
        assert self._output_col is not None
        if rows is None:  # not from the trace: rows drawn from it
            rows = self._tokens_rng.integers(0, self._prompt_col.size, n)
        return times, self._prompt_col[rows], self._output_col[rows]

    def advance(self, edges: FloatArray, rates: FloatArray, first_tick: int) -> dict[str, Any]:
        """Run the ticks ``[edges[k], edges[k + 1])``: per-tick counts, integrals and
        requests in the system at each end; completions kept with their ticks."""
        times, prompt, output = self._requests(edges, rates)
        origins, dispatched, adjust = times, 0, None
        if self.held is not None:
            tokens = np.stack([prompt, output], axis=1)
            feed, adjust = self.held.block(edges, times, tokens, len(self.joined))
            times, origins, dispatched = feed.times, feed.origins, feed.dispatched
            prompt = np.ascontiguousarray(feed.payload[:, 0], dtype=np.int64)
            output = np.ascontiguousarray(feed.payload[:, 1], dtype=np.int64)
        n, m = times.size, rates.size
        limit = self.workload.queue_limit_requests
        room = int(self.state.q_len.max(initial=0)) + n
        # a replica queues at most queue_limit beyond its free slots (capsim.models.llm)
        most = room if limit is None else min(room, limit + self.workload.concurrency)
        self.state = core.grow_queues(self.state, most + 1)
        uniforms = max(self.choices, 1)
        route = self._route_rng.random((n, uniforms))
        counts = np.zeros((m, core.N_COUNTS), dtype=np.int64)
        integrals = np.zeros((m, core.N_INTEGRALS))
        in_system = np.zeros(m, dtype=np.int64)
        capacity = core.in_system(self.state) + n
        samples = np.empty((capacity, core.N_SAMPLE))
        sample_tick = np.empty(capacity, dtype=np.int64)
        llm = self.llm
        written = _compiled()(
            self.state, self.workload.concurrency, llm.kv_cache_tokens,
            llm.decode_base_ms / 1000.0, llm.decode_ms_per_sequence / 1000.0,
            llm.prefill_ms_per_token / 1000.0, self.workload.timeout_s,
            -1 if limit is None else limit, self.routing, self.choices,
            np.ascontiguousarray(edges), times, origins, prompt, output, route, counts,
            integrals, in_system, samples, sample_tick,
        )  # fmt: skip
        if adjust is not None:
            HeldRequests.apply(adjust, dispatched, counts, integrals, in_system, _HELD_INDEX)
        self.samples.append(samples[:written].astype(np.float32))
        self.sample_ticks.append((sample_tick[:written] + first_tick).astype(np.int32))
        return {"counts": counts, "integrals": integrals, "in_system": in_system}

    def fill(self, o: FloatArray, result: dict[str, Any], ready: int, dt: float) -> FloatArray:
        """The general per-tick fields (``capsim.models.service.O_*``) of ``result`` into
        ``o`` (ticks × fields); returns the arrivals per tick."""
        counts, integrals = result["counts"], result["integrals"]
        w = self.workload
        request_s = w.llm_request_s()
        prompt, output = w.mean_tokens or (1.0, 1.0)
        batch = self.llm.fitting_batch(prompt, output, w.concurrency)
        drops = counts[:, core.COUNT_DROPPED_NO_REPLICA : core.COUNT_DROPPED_GRACE + 1]
        measured = Measured(
            served=counts[:, core.COUNT_SERVED] + counts[:, core.COUNT_TIMED_OUT],
            dropped=drops.sum(axis=1),
            abandoned=counts[:, core.COUNT_ABANDONED],
            in_system_s=integrals[:, core.INTEGRAL_IN_SYSTEM],
            queued_s=integrals[:, core.INTEGRAL_QUEUED],
            busy_s=integrals[:, core.INTEGRAL_RUNNING],
            in_system_end=result["in_system"],
            mean_s=request_s,
            capacity=ready * batch / request_s,
        )
        write_measured(o, measured, dt)
        if ready > 0:
            host = o[:, sv.O_SERVED] * w.cpu_ms_per_request / 1000.0 / dt / ready
            o[:, sv.O_CPU] = np.minimum(host + w.idle_cpu_millicores / 1000.0, self.cpu_limit_cores)
            o[:, sv.O_MEMORY] = (
                w.memory_mib + w.memory_mib_per_request * o[:, sv.O_IN_FLIGHT] / ready
            )
        arrived: FloatArray = counts[:, core.COUNT_ARRIVED].astype(np.float64)
        return arrived

    def gpu_levels(self, result: dict[str, Any], ready: int, dt: float) -> FloatArray:
        """Per tick: replicas busy (a pass running, time mean), KV-cache share reserved
        (0–1 of the caches of the replicas present: ready, or draining with work),
        output tokens per second, replicas present (time mean)."""
        counts, integrals = result["counts"], result["integrals"]
        out = np.zeros((counts.shape[0], 4))
        present = integrals[:, core.INTEGRAL_PRESENT]
        out[:, 0] = integrals[:, core.INTEGRAL_BUSY] / dt
        room = np.maximum(present, 1e-300) * self.llm.kv_cache_tokens
        out[:, 1] = np.where(present > 0, integrals[:, core.INTEGRAL_KV] / room, 0.0)
        out[:, 2] = counts[:, core.COUNT_TOKENS] / dt
        out[:, 3] = present / dt
        return out

    def in_system(self) -> int:
        """Requests in the replicas, and held by an interceptor."""
        held = 0 if self.held is None else self.held.count
        return core.in_system(self.state) + held

    def clear(self) -> None:
        """Forget the completions so far, and what an interceptor holds (the warm-up's)."""
        if self.held is not None:
            self.held = HeldRequests(self.held.hold_s, self.held.max_pending, 2)
        self.samples.clear()
        self.sample_ticks.clear()

    def completions(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
        """Every completion so far: (n, 3) latency, TTFT, TPOT (s) and their ticks."""
        if not self.samples:
            return np.zeros((0, core.N_SAMPLE), dtype=np.float32), np.zeros(0, dtype=np.int32)
        return np.concatenate(self.samples), np.concatenate(self.sample_ticks)
