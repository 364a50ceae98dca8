"""``service_model: exact``: every request simulated, through the per-request core.

The engine's other service bank (:class:`~capsim.engine.services.ServiceBank`) steps the
*expected* model; this one steps :mod:`capsim.models.requests` (compiled), one service
at a time, tick by tick, with the same interface, so the platforms, the recorder and the
controllers do not know which model runs. What it adds to the core:

* **Arrivals.** Within each tick the requests arrive as a renewal process at the tick's
  rate ``λ``, written in *operational time* (expected arrivals so far, ``Λ(t) = ∫ λ``):
  the gaps between arrivals in ``Λ`` have mean 1 and squared coefficient of variation
  ``I = arrivals.dispersion_index`` — exponential for ``I = 1`` (a Poisson process at
  every tick's rate), a balanced-means two-phase hyperexponential above 1, a gamma of
  shape ``1/I`` below 1, evenly spaced at 0 — and the process carries over tick
  boundaries (a tick with ``λ = 0`` has none).
* **Work.** Each request's CPU work is drawn from ``service_time`` with mean
  ``cpu_ms_per_request``: exponential, deterministic, lognormal or gamma with its ``cv``,
  or the empirical samples resampled uniformly. Work below :data:`MIN_WORK_CORE_S` is
  taken as that (a gamma of small shape can underflow to 0).
* **Random streams.** Arrival gaps and work come from the workload's own streams
  (:attr:`capsim.scenario.inputs.Inputs.request_seeds`), the same on every platform, so
  platforms are compared on the same requests (common random numbers); routing uniforms
  come from a stream of the platform. Values are drawn in chunks of fixed size in request
  order, so results do not depend on how the engine blocks its ticks.
* **Replicas.** At the start of each block the routable replicas are set to the ready
  count: new ones join empty; when fewer are ready, the newest stop receiving requests
  and finish what they hold within :data:`TERMINATION_GRACE_S` (Kubernetes' default
  ``terminationGracePeriodSeconds``); what is left then is dropped.
* **Warm start.** Before ``t = 0`` the initial replicas serve :data:`WARM_UP_S` of the
  first tick's load; requests of that warm-up are not reported (those still in the
  system at 0 are the run's ``requests_in_system_at_start``).

Outputs per tick are the expected model's fields (``capsim.models.service.O_*``),
measured: completions (served; a request that reached a slot completes even after its
timeout, as in the expected model), drops (no replica, full queue, grace deadline),
abandonments (still queued at arrival + timeout), time-means of requests in the system,
queued and in slots, CPU used. Each completion's response time is kept with its tick
(:meth:`ExactServiceBank.samples`), for the recorder's percentiles and the summary's
confidence intervals.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.engine.interceptor import HeldRequests, TickIndex
from capsim.engine.llm import LlmService
from capsim.engine.measured import Measured, write_measured
from capsim.engine.services import O_FAILED_FINALLY, RETRY_FIELDS
from capsim.jit import compile_family, forget_stale_cache
from capsim.models import requests as rq
from capsim.models import service as sv
from capsim.scenario import ServiceWorkload
from capsim.scenario.work_samples import read_work_samples

__all__ = [
    "MIN_WORK_CORE_S",
    "TERMINATION_GRACE_S",
    "WARM_UP_S",
    "ExactServiceBank",
    "core_params",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]
Int32Array = npt.NDArray[np.int32]

TERMINATION_GRACE_S = 30.0
"""How long a replica that stops being ready keeps serving what it holds (s): Kubernetes'
default ``terminationGracePeriodSeconds``."""

WARM_UP_S = rq.WARM_UP_S

MIN_WORK_CORE_S = 1e-9
"""Least work of a request (core-seconds)."""

_CHUNK = 8192  # values drawn at once from a stream
_HELD_INDEX = TickIndex.of(rq)

_CORE_ROUTING = {
    "random": ("random", 2),
    "round_robin": ("round_robin", 2),
    "pooled": ("pooled", 2),
    "least_request": ("least_request", 2),  # Envoy's power of two choices
    "join_shortest_queue": ("least_request", None),  # all replicas
}


def core_params(
    workload: ServiceWorkload,
    cpu_limit_cores: float,
    routing: str,
    accelerator: tuple[float, float | None] = (0.0, None),
) -> rq.RequestParams:
    """The per-request core's constants of ``workload`` behind ``routing``: its slots and
    servers (:meth:`~capsim.scenario.ServiceWorkload.replica_shape`: the CPU cap's cores,
    or a GPU service's GPUs)."""
    name, choices = _CORE_ROUTING[routing]
    shape = workload.replica_shape(cpu_limit_cores, *accelerator)
    return rq.RequestParams(
        slots=max(1, int(shape.slots)),
        cores=shape.servers,
        timeout_s=workload.timeout_s,
        queue_limit_requests=workload.queue_limit_requests,
        routing=name,  # type: ignore[arg-type]
        choices=choices,
    )


class _Stream:
    """Values of one law drawn from one Generator in chunks of :data:`_CHUNK`, consumed
    in order: what a caller gets does not depend on how many it asks for at a time."""

    def __init__(
        self, rng: np.random.Generator, draw: Callable[[np.random.Generator, int], FloatArray]
    ):
        self._rng = rng
        self._draw = draw
        self._buffer = np.zeros(0)
        self._at = 0

    def peek(self, n: int) -> FloatArray:
        """The next ``n`` values, not consumed."""
        while self._buffer.size - self._at < n:
            more = max(_CHUNK, n - (self._buffer.size - self._at))
            more = -(-more // _CHUNK) * _CHUNK
            self._buffer = np.concatenate([self._buffer[self._at :], self._draw(self._rng, more)])
            self._at = 0
        return self._buffer[self._at : self._at + n]

    def take(self, n: int) -> FloatArray:
        """The next ``n`` values, consumed."""
        values = self.peek(n).copy()
        self._at += n
        return values


def _gap_law(dispersion: float) -> Callable[[np.random.Generator, int], FloatArray]:
    """Unit-mean gaps of squared coefficient of variation ``dispersion``."""
    if dispersion == 1.0:
        return lambda rng, n: rng.exponential(1.0, n)
    if dispersion == 0.0:
        return lambda rng, n: np.ones(n)
    if dispersion < 1.0:
        return lambda rng, n: rng.gamma(1.0 / dispersion, dispersion, n)
    p1 = 0.5 * (1.0 + math.sqrt((dispersion - 1.0) / (dispersion + 1.0)))
    rate1, rate2 = 2.0 * p1, 2.0 * (1.0 - p1)

    def h2(rng: np.random.Generator, n: int) -> FloatArray:
        phase = rng.random(n) < p1
        gaps: FloatArray = rng.exponential(1.0, n) / np.where(phase, rate1, rate2)
        return gaps

    return h2


def _work_law(
    workload: ServiceWorkload, base_dir: Path
) -> Callable[[np.random.Generator, int], FloatArray]:
    """Seconds of work per request on one server (core or GPU), mean
    ``cpu_ms_per_request`` (``gpu_ms_per_request`` for a GPU service)."""
    gpu_ms = workload.gpu_ms_per_request
    mean = (workload.cpu_ms_per_request if gpu_ms is None else gpu_ms) / 1000.0
    shape = workload.service_time
    law: Callable[[np.random.Generator, int], FloatArray]
    if shape.distribution == "exponential":
        law = lambda rng, n: rng.exponential(mean, n)  # noqa: E731
    elif shape.distribution == "deterministic":
        law = lambda rng, n: np.full(n, mean)  # noqa: E731
    elif shape.distribution == "lognormal":
        assert shape.cv is not None
        sigma2 = math.log1p(shape.cv * shape.cv)
        mu = math.log(mean) - sigma2 / 2.0
        law = lambda rng, n: rng.lognormal(mu, math.sqrt(sigma2), n)  # noqa: E731
    elif shape.distribution == "gamma":
        assert shape.cv is not None
        k = 1.0 / (shape.cv * shape.cv)
        law = lambda rng, n: rng.gamma(k, mean / k, n)  # noqa: E731
    else:
        assert shape.path is not None
        samples = read_work_samples(base_dir / shape.path, str(shape.path), shape.column) / 1000.0
        law = lambda rng, n: samples[rng.integers(0, samples.size, n)]  # noqa: E731
    return lambda rng, n: np.maximum(law(rng, n), MIN_WORK_CORE_S)


@functools.cache
def _compiled() -> Any:
    """The core's block driver, compiled on first use."""
    forget_stale_cache(rq.__file__)
    return compile_family(vars(rq), rq.COMPILED_FUNCTIONS)["advance_ticks"]


class _Service:
    """One service's core state, streams and recorded responses."""

    def __init__(
        self,
        workload: ServiceWorkload,
        params: rq.RequestParams,
        seeds: tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence],
        base_dir: Path,
        interceptor: tuple[float, int | None] | None = None,
    ) -> None:
        self.params = params
        self.held = None if interceptor is None else HeldRequests(*interceptor, 1)
        """Requests an interceptor holds while no replica is ready (None: refused)."""
        self.workload = workload
        self.state = rq.new_state(params, 4, start_s=-WARM_UP_S)
        self.joined: list[int] = []  # routable rows, in the order they joined
        arrivals, work, routing = (np.random.default_rng(s) for s in seeds)
        self.gaps = _Stream(
            arrivals,
            (lambda rng, n: rng.random(n))
            if workload.arrivals.exact_counts
            else _gap_law(workload.arrivals.dispersion_index),
        )
        self.work = _Stream(work, _work_law(workload, base_dir))
        self.uniforms = max(params.uniforms_per_request, 1)
        self.route = _Stream(routing, lambda rng, n: rng.random(n))
        self.residual = self.gaps.take(1)[0]  # operational time to the next arrival
        self.responses: list[Float32Array] = []  # 8 bytes kept per completion
        self.response_ticks: list[Int32Array] = []

    def set_replicas(self, ready: int) -> None:
        """Make ``ready`` replicas routable from the state's clock (newest leave first)."""
        while len(self.joined) < ready:
            self.state, row = rq.join_replica(self.state)
            self.joined.append(row)
        while len(self.joined) > ready:
            rq.leave_replica(self.state, self.joined.pop(), TERMINATION_GRACE_S)

    def arrivals(self, edges: FloatArray, rates: FloatArray) -> tuple[FloatArray, IntArray]:
        """Arrival instants over the ticks ``[edges[k], edges[k + 1])`` at ``rates`` and
        the end index of each tick's arrivals."""
        if self.workload.arrivals.exact_counts:
            return self._counted(edges, rates)
        expected = np.concatenate([[0.0], np.cumsum(rates * np.diff(edges))])
        total = float(expected[-1])
        n = 0
        if self.residual < total:
            guess = int(total - self.residual + 10.0 * math.sqrt(total + 1.0) + 16.0)
            while True:
                position = self.residual + np.concatenate([[0.0], np.cumsum(self.gaps.peek(guess))])
                n = int(np.searchsorted(position, total, side="left"))
                if n <= guess:
                    break
                guess *= 2
            x = position[:n]
            self.residual = float(position[n] - total)
            self.gaps.take(n)
        else:
            x = np.zeros(0)
            self.residual -= total
        tick = np.searchsorted(expected, x, side="right") - 1
        tick = np.minimum(tick, rates.size - 1)
        rate = rates[tick]
        times = edges[tick] + (x - expected[tick]) / np.where(rate > 0, rate, 1.0)
        times = np.clip(times, edges[tick], edges[tick + 1])
        times = np.maximum.accumulate(times) if times.size else times
        ends = np.searchsorted(tick, np.arange(rates.size), side="right").astype(np.int64)
        return times, ends

    def _counted(self, edges: FloatArray, rates: FloatArray) -> tuple[FloatArray, IntArray]:
        """``arrivals.exact_counts``: tick ``k`` gets ``round(rates[k] × its length)``
        requests at uniformly random instants within it (sorted)."""
        counts = np.round(rates * np.diff(edges)).astype(np.int64)
        ends = np.cumsum(counts)
        n = int(ends[-1]) if ends.size else 0
        tick = np.repeat(np.arange(rates.size), counts)
        u = self.gaps.take(n)  # uniforms in [0, 1) (the gap stream draws them here)
        times = np.sort(edges[tick] + u * (edges[tick + 1] - edges[tick]))
        return times, ends

    def advance(self, edges: FloatArray, rates: FloatArray, first_tick: int) -> dict[str, Any]:
        """Run the ticks ``[edges[k], edges[k + 1]]`` at ``rates``; per-tick counts,
        integrals and requests in the system at the end, and the completions."""
        times, ends = self.arrivals(edges, rates)
        sizes = self.work.take(times.size)
        origins, dispatched, adjust = times, 0, None
        if self.held is not None:
            feed, adjust = self.held.block(edges, times, sizes[:, None], len(self.joined))
            times, origins, dispatched = feed.times, feed.origins, feed.dispatched
            sizes = np.ascontiguousarray(feed.payload[:, 0], dtype=np.float64)
            ends = ends + dispatched if times.size else np.zeros_like(ends)
        n, m = times.size, rates.size
        route = self.route.take(n * self.uniforms).reshape(n, self.uniforms)
        capacity = rq.in_system(self.state) + n
        response = np.empty(capacity)
        response_tick = np.empty(capacity, dtype=np.int64)
        response_id = np.empty(capacity, dtype=np.int64)
        counts = np.zeros((m, rq.N_COUNTS), dtype=np.int64)
        integrals = np.zeros((m, rq.N_INTEGRALS))
        in_system = np.zeros(m, dtype=np.int64)
        mark = np.zeros(rq.N_COUNTS, dtype=np.int64)
        p = self.params
        tick, arrival, written, resume = 0, 0, 0, False
        scratch = np.zeros((self.state.n_busy.shape[0] + 1, rq.N_INTEGRALS))
        while True:
            status, tick, arrival, written = _compiled()(
                self.state, p.cores, p.queue_limit_code, p.timeout_s, p.routing_code,
                p.choices_code, edges, ends, times, origins, sizes, route, tick, arrival, resume,
                response, response_tick, response_id, written, counts, integrals, in_system,
                mark, scratch,
            )  # fmt: skip
            if status == rq.STATUS_DONE:
                break
            if status != rq.STATUS_NEED_QUEUE_SPACE:  # the response buffer holds them all
                raise RuntimeError(f"request core stopped with status {status}")
            self.state = rq.grow_queues(self.state, 2 * self.state.q_arrival_s.shape[1])
            resume = True
        if adjust is not None:
            HeldRequests.apply(adjust, dispatched, counts, integrals, in_system, _HELD_INDEX)
        self.responses.append(response[:written].astype(np.float32))
        self.response_ticks.append((response_tick[:written] + first_tick).astype(np.int32))
        return {"counts": counts, "integrals": integrals, "in_system": in_system}

    def fill(self, o: FloatArray, result: dict[str, Any], ready: int, dt: float) -> FloatArray:
        """The per-tick fields (``capsim.models.service.O_*``) of ``result`` into ``o``
        (ticks × fields); returns the arrivals per tick."""
        counts, integrals = result["counts"], result["integrals"]
        w, p = self.workload, self.params
        gpu_ms = w.gpu_ms_per_request
        mean_s = (w.cpu_ms_per_request if gpu_ms is None else gpu_ms) / 1000.0
        dropped = (
            counts[:, rq.COUNT_DROPPED_NO_REPLICA]
            + counts[:, rq.COUNT_DROPPED_QUEUE_FULL]
            + counts[:, rq.COUNT_DROPPED_GRACE]
        )
        measured = Measured(
            served=counts[:, rq.COUNT_SERVED] + counts[:, rq.COUNT_TIMED_OUT],
            dropped=dropped,
            abandoned=counts[:, rq.COUNT_ABANDONED],
            in_system_s=integrals[:, rq.INTEGRAL_IN_SYSTEM],
            queued_s=integrals[:, rq.INTEGRAL_QUEUED],
            busy_s=integrals[:, rq.INTEGRAL_BUSY],
            in_system_end=result["in_system"],
            mean_s=mean_s,
            capacity=ready * min(p.slots, p.cores) / mean_s,
        )
        write_measured(o, measured, dt)
        if ready > 0:
            idle = 0.0 if gpu_ms is not None else w.idle_cpu_millicores / 1000.0  # (host: apart)
            cpu = integrals[:, rq.INTEGRAL_CPU] / dt / ready + idle
            o[:, sv.O_CPU] = np.minimum(cpu, p.cores)
            o[:, sv.O_MEMORY] = (
                w.memory_mib + w.memory_mib_per_request * o[:, sv.O_IN_FLIGHT] / ready
            )
        arrived: FloatArray = counts[:, rq.COUNT_ARRIVED].astype(np.float64)
        return arrived

    def in_system(self) -> int:
        """Requests in the replicas, and held by an interceptor."""
        held = 0 if self.held is None else self.held.count
        return rq.in_system(self.state) + held

    def completions(self) -> tuple[Float32Array, Int32Array]:
        """Every completion so far: response times (s) and their ticks."""
        if not self.responses:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int32)
        return np.concatenate(self.responses), np.concatenate(self.response_ticks)

    def clear(self) -> None:
        """Forget the completions so far, and what an interceptor holds (the warm-up's)."""
        if self.held is not None:
            self.held = HeldRequests(self.held.hold_s, self.held.max_pending, 1)
        self.responses.clear()
        self.response_ticks.clear()


class ExactServiceBank:
    """The services of one platform under ``service_model: exact`` (see the module
    docstring); the interface of :class:`~capsim.engine.services.ServiceBank`. LLM
    services (``llm:``) run through :class:`capsim.engine.llm.LlmService`."""

    def __init__(
        self,
        workloads: Sequence[ServiceWorkload],
        cpu_limit_cores: Sequence[float],
        routing: Sequence[str],
        tick_s: float,
        seeds: Sequence[
            tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence]
        ],
        base_dir: Path,
        duration_s: float = math.inf,
        accelerators: Sequence[tuple[float, float | None]] | None = None,
        interceptors: Sequence[tuple[float, int | None] | None] | None = None,
    ) -> None:
        self.tick_s = tick_s
        self.workloads = list(workloads)
        self.cpu_limit_cores = np.array(cpu_limit_cores, dtype=np.float64).reshape(len(workloads))
        self._services: list[_Service | LlmService] = []
        held = list(accelerators) if accelerators is not None else [(0.0, None)] * len(workloads)
        holding = list(interceptors) if interceptors is not None else [None] * len(workloads)
        for w, limit, route, seed, accelerator, interceptor in zip(
            workloads, self.cpu_limit_cores, routing, seeds, held, holding, strict=True
        ):
            # (an LLM service takes only its arrival process from the plain one)
            params = core_params(w, float(limit), "random" if w.llm else route, accelerator)
            plain = _Service(w, params, seed, base_dir, None if w.llm else interceptor)
            if w.llm is None:
                self._services.append(plain)
                continue
            self._services.append(
                LlmService(
                    w,
                    route,
                    seed,
                    base_dir,
                    duration_s,
                    plain.arrivals,
                    TERMINATION_GRACE_S,
                    WARM_UP_S,
                    interceptor,
                    float(limit),
                )
            )
        self.llm = [s for s, w in enumerate(self.workloads) if w.llm is not None]
        """The LLM services' positions."""
        self.next_tick = 0
        self.arrived = np.zeros((0, len(workloads)))
        """Requests that arrived in each tick of the last :meth:`step` (ticks × services)."""
        self.gpu_levels = np.zeros((0, len(workloads), 4))
        """LLM services, each tick of the last :meth:`step`: replicas with a pass running
        (time mean), KV-cache share reserved, output tokens/s, replicas present (zeros for
        other services)."""

    def warm(self, rates: FloatArray, replicas: FloatArray) -> None:
        """Serve :data:`WARM_UP_S` of ``rates`` (req/s) on ``replicas`` before ``t = 0``;
        nothing of it is reported."""
        edges = np.array([-WARM_UP_S, 0.0])
        for s, service in enumerate(self._services):
            service.set_replicas(int(replicas[s]))
            service.advance(edges, np.array([float(rates[s])]), 0)
            service.clear()

    def in_system(self) -> FloatArray:
        """Requests in each service now (in slots or queued, draining replicas too)."""
        return np.array([float(s.in_system()) for s in self._services])

    def retries_pending(self) -> FloatArray:
        """No retries in the exact model."""
        return np.zeros(len(self._services))

    def step(self, rates: FloatArray, replicas: FloatArray) -> FloatArray:
        """Step ``rates.shape[0]`` ticks (ticks × services, req/s) with ``replicas`` ready
        per service; returns ticks × services × (``OUT_FIELDS`` + ``RETRY_FIELDS``)."""
        m = rates.shape[0]
        out = np.zeros((m, rates.shape[1], sv.OUT_FIELDS + RETRY_FIELDS))
        edges = (self.next_tick + np.arange(m + 1, dtype=np.float64)) * self.tick_s
        dt = self.tick_s
        self.arrived = np.zeros((m, rates.shape[1]))
        self.gpu_levels = np.zeros((m, rates.shape[1], 4))
        for s, service in enumerate(self._services):
            ready = int(replicas[s])
            service.set_replicas(ready)
            result = service.advance(
                edges, np.asarray(rates[:, s], dtype=np.float64), self.next_tick
            )
            o = out[:, s]
            self.arrived[:, s] = service.fill(o, result, ready, dt)
            o[:, O_FAILED_FINALLY] = o[:, sv.O_DROPPED] + o[:, sv.O_ABANDONED]
            if isinstance(service, LlmService):
                self.gpu_levels[:, s] = service.gpu_levels(result, ready, dt)
        self.next_tick += m
        return out

    def samples(self, s: int) -> tuple[Float32Array, Int32Array]:
        """Service ``s``'s completions so far: response times (s, single precision: 8 bytes
        per request, 60 ns at a second) in completion order and the tick each completed
        in."""
        service = self._services[s]
        if isinstance(service, LlmService):
            values, ticks = service.completions()
            return np.ascontiguousarray(values[:, 0]), ticks
        return service.completions()

    def token_samples(self, s: int) -> tuple[Float32Array, Float32Array, Int32Array] | None:
        """An LLM service's TTFT and TPOT (s; TPOT NaN for one-token outputs) of every
        completion and their ticks; None for other services."""
        service = self._services[s]
        if not isinstance(service, LlmService):
            return None
        values, ticks = service.completions()
        return (
            np.ascontiguousarray(values[:, 1]),
            np.ascontiguousarray(values[:, 2]),
            ticks,
        )
