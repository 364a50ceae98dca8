"""Pure service model: offered load and ready replicas → served, dropped, backlog, latency, usage.

Vectorized over services: every per-service quantity is a float64 array of shape ``(n,)``
and :func:`step` advances all services by one tick at once. No clock, no randomness, no
state other than the :class:`ServiceState` passed in and returned. Units: seconds,
requests, requests/s, cores, MiB (names say which).

**Replica.** Arrivals (Poisson, rate λ) split evenly over the ``ready`` replicas. A
replica is an M/M/c queue with ``c = concurrency`` servers; each server runs at
``min(1, cpu_limit_cores / c)`` cores, so a request's mean service time is
``cpu_ms_per_request / 1000 / speed`` s and ``μ`` is its inverse. A replica therefore
serves at most ``c μ = min(c, cpu_limit_cores) / (cpu_ms_per_request / 1000)`` req/s.

**Flow (fluid backlog).** Capacity ``K = ready · c · μ``. Per tick of ``dt`` s the excess
``(λ − K) dt`` accumulates in a fluid backlog that never goes below 0. Requests that
would wait longer than ``timeout_s`` are dropped: the backlog is capped at the queue
limit ``K · timeout_s`` and the overflow is dropped. With no ready replica ``K = 0``, the
limit is 0, and every arrival and any backlog left over is dropped (connections reset).
Per tick, exactly in real arithmetic (to rounding in float64):
``λ dt = served + dropped + (backlog' − backlog)``; the served rate never passes ``K``.

**Latency** of a request served in the tick: ``T = w + W + S``.

* ``S ~ Exp(μ)`` is its service.
* ``w`` is the deterministic wait behind the fluid backlog: the backlog's time-average
  over the tick (Poisson arrivals see time averages) divided by ``K``. The backlog path
  inside the tick is ``clip(backlog + (λ − K) u, 0, limit)``, the same path whose end
  point is the new backlog, so ``w ≤ timeout_s``.
* ``W`` is the stationary M/M/c wait while ``ρ = λ / K < 1``: 0 with probability
  ``1 − C`` and ``Exp(cμ − λ/ready)`` with probability ``C`` (Erlang C). Without a
  backlog, ``T`` is exactly M/M/c. While a backlog drains (``ρ < 1``) both waits are
  added, which is conservative and continuous as the backlog empties. When ``ρ ≥ 1`` the
  M/M/c has no stationary law: all servers are busy, the queue is the fluid backlog, and
  ``W = 0`` (the random spread of the wait around ``w`` is ignored).

Latency is the same for every request of a service in a tick, so a run's percentiles
are request-weighted mixtures over ticks: :func:`pooled_response_time_quantile_s`.
Latency is NaN where no replica is ready (no request is served). At ``ρ → 1⁻`` the
stationary wait diverges while an overloaded tick starts from the current backlog: the
stationary formula assumes that load has lasted forever, the fluid one follows it.

**Usage per replica.** CPU = served req/s per replica × ``cpu_ms_per_request / 1000``
+ ``idle_cpu_cores``, capped at ``cpu_limit_cores`` (the idle baseline does not take
capacity away). Memory = ``memory_mib`` + ``memory_mib_per_request`` × mean requests in
the replica (Little's law: busy servers + fluid backlog share + stationary queue); no
memory limit is modelled. Both are 0 where no replica is ready.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from capsim.models.queueing import (
    ResponseTimeDistribution,
    as_counts,
    check_array,
    erlang_c_unchecked,
    response_time_mean_s,
    response_time_quantile_s,
)

__all__ = [
    "ServiceParams",
    "ServiceState",
    "TickOutput",
    "advance",
    "advance_block",
    "replica_capacity_per_s",
    "service_rate_per_s",
    "step",
    "step_block",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_POSITIVE = ("cpu_ms_per_request", "cpu_limit_cores", "timeout_s")
_NON_NEGATIVE = ("idle_cpu_cores", "memory_mib", "memory_mib_per_request")


@dataclass(frozen=True)
class ServiceParams:
    """Per-service constants, each an array of shape ``(n,)`` (read-only after checks).

    ``cpu_ms_per_request`` (> 0) CPU time of one request at one full core;
    ``concurrency`` (integer ≥ 1) requests served at once per replica; ``cpu_limit_cores``
    (> 0); ``timeout_s`` (> 0) longest queue wait before a request is dropped;
    ``idle_cpu_cores``, ``memory_mib`` and ``memory_mib_per_request`` (≥ 0) per replica.
    """

    cpu_ms_per_request: FloatArray
    concurrency: IntArray
    cpu_limit_cores: FloatArray
    timeout_s: FloatArray
    idle_cpu_cores: FloatArray
    memory_mib: FloatArray
    memory_mib_per_request: FloatArray

    def __post_init__(self) -> None:
        n = np.shape(self.cpu_ms_per_request)
        for f in fields(self):
            raw = getattr(self, f.name)
            where = f"ServiceParams.{f.name}"
            if np.ndim(raw) != 1 or np.shape(raw) != n:
                raise ValueError(f"{where}: must have shape {n} (1-D), got {np.shape(raw)}")
            value: npt.NDArray[np.int64] | npt.NDArray[np.float64]
            if f.name == "concurrency":
                value = as_counts(where, raw, minimum=1)
            else:
                floats = np.array(raw, dtype=np.float64)
                check_array(where, floats, positive=f.name in _POSITIVE)
                value = floats
            value.setflags(write=False)
            object.__setattr__(self, f.name, value)

    @classmethod
    def of(
        cls,
        *,
        cpu_ms_per_request: npt.ArrayLike,
        concurrency: npt.ArrayLike,
        cpu_limit_cores: npt.ArrayLike,
        timeout_s: npt.ArrayLike,
        idle_cpu_cores: npt.ArrayLike = 0.0,
        memory_mib: npt.ArrayLike = 0.0,
        memory_mib_per_request: npt.ArrayLike = 0.0,
    ) -> ServiceParams:
        """Build from scalars or arrays broadcast to one 1-D shape."""
        given = (
            cpu_ms_per_request,
            concurrency,
            cpu_limit_cores,
            timeout_s,
            idle_cpu_cores,
            memory_mib,
            memory_mib_per_request,
        )
        arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v)) for v in given))
        return cls(*(np.array(a) for a in arrays))

    @property
    def n(self) -> int:
        """Number of services."""
        return int(self.cpu_ms_per_request.shape[0])

    @functools.cached_property
    def mu_per_s(self) -> FloatArray:
        """``μ``: requests/s of one server, at ``min(1, cpu_limit / c)`` cores."""
        speed_cores = np.minimum(1.0, self.cpu_limit_cores / self.concurrency)
        mu: FloatArray = speed_cores / (self.cpu_ms_per_request / 1000.0)
        mu.setflags(write=False)
        return mu

    @functools.cached_property
    def replica_capacity_per_s(self) -> FloatArray:
        """``c μ``: most requests/s one replica serves."""
        capacity: FloatArray = self.concurrency * self.mu_per_s
        capacity.setflags(write=False)
        return capacity


@dataclass(frozen=True)
class ServiceState:
    """What a service carries from tick to tick: its fluid ``backlog`` (requests, ≥ 0).

    Shape ``(n,)``; or ``(ticks, n)`` as the input of a block of ticks, one row per
    tick's start (see :func:`step`).
    """

    backlog: FloatArray

    def __post_init__(self) -> None:
        value = np.array(self.backlog, dtype=np.float64)
        if value.ndim not in (1, 2):
            raise ValueError(f"ServiceState.backlog: must be 1-D or 2-D, got shape {value.shape}")
        check_array("ServiceState.backlog", value, positive=False)
        value.setflags(write=False)
        object.__setattr__(self, "backlog", value)

    @classmethod
    def empty(cls, n: int) -> ServiceState:
        """No backlog anywhere."""
        return cls(np.zeros(n))


@dataclass(frozen=True)
class TickOutput:
    """One tick of every service (arrays of shape ``(n,)``); rates are tick averages.

    ``served_rate``, ``dropped_rate`` and ``capacity_rate`` in requests/s; ``backlog``
    (requests) at the end of the tick; latencies in ms (NaN with no ready replica);
    ``utilization`` = served / capacity, the servers' busy share (``min(ρ, 1)`` without
    a backlog; 1 while one drains; 0 without capacity); per-replica CPU (cores) and
    memory (MiB), 0 with no ready replica; ``latency`` the full law behind the numbers.
    """

    served_rate: FloatArray
    dropped_rate: FloatArray
    capacity_rate: FloatArray
    backlog: FloatArray
    latency_mean_ms: FloatArray
    latency_p95_ms: FloatArray
    latency_p99_ms: FloatArray
    utilization: FloatArray
    cpu_used_cores_per_replica: FloatArray
    memory_used_mib_per_replica: FloatArray
    latency: ResponseTimeDistribution

    def rows(self, count: int) -> TickOutput:
        """The first ``count`` ticks of a block (fields of shape ``(ticks, n)``; fields
        that do not vary over the block stay ``(n,)``)."""

        def cut(values: FloatArray) -> FloatArray:
            return values[:count] if values.ndim == 2 else values

        law = self.latency
        arrays = {f.name: cut(getattr(self, f.name)) for f in fields(self) if f.name != "latency"}
        return TickOutput(
            **arrays,
            latency=ResponseTimeDistribution(
                cut(law.fixed_wait_s),
                cut(law.wait_probability),
                cut(law.wait_rate_per_s),
                cut(law.service_rate_per_s),
            ),
        )


def service_rate_per_s(params: ServiceParams) -> FloatArray:
    """``μ``: requests/s of one server (one concurrency slot) of one replica."""
    return params.mu_per_s


def replica_capacity_per_s(params: ServiceParams) -> FloatArray:
    """``c μ``: most requests/s one replica serves."""
    return params.replica_capacity_per_s


def _mean_clipped_linear(x0: FloatArray, x1: FloatArray, upper: FloatArray) -> FloatArray:
    """Average over ``u ∈ [0, 1]`` of ``clip(x0 + (x1 − x0) u, 0, upper)``.

    On one linear piece (no kink at 0 or ``upper`` crossed) it is the clipped midpoint,
    exactly. Across a kink, the difference quotient of the antiderivative ``F`` of
    ``clip(·, 0, upper)``; still the midpoint when ``x1 ≈ x0`` (the quotient would cancel).
    """

    def antiderivative(x: FloatArray) -> FloatArray:
        inside = np.clip(x, 0.0, upper)
        return 0.5 * inside**2 + upper * np.maximum(x - upper, 0.0)

    low, high = np.minimum(x0, x1), np.maximum(x0, x1)
    crosses = ((low < 0.0) & (high > 0.0)) | ((low < upper) & (high > upper))
    span = x1 - x0
    scale = np.maximum(np.maximum(np.abs(x0), np.abs(x1)), upper)
    use_quotient = crosses & (np.abs(span) > 1e-6 * scale)
    safe_span = np.where(use_quotient, span, 1.0)
    quotient = (antiderivative(x1) - antiderivative(x0)) / safe_span
    midpoint = 0.5 * (x0 + x1)
    return np.clip(np.where(use_quotient, quotient, midpoint), 0.0, upper)


def _inputs(
    params: ServiceParams,
    state: ServiceState,
    arrival_rate: npt.ArrayLike,
    ready: npt.ArrayLike,
    dt_s: float,
) -> tuple[FloatArray, FloatArray]:
    """Validated ``(λ, ready)`` as float arrays of shape ``(n,)``, or ``(ticks, n)`` for a
    block of ticks (then ``state.backlog`` is ``(ticks, n)`` too: each tick's start)."""
    n = params.n
    lam_in = np.asarray(arrival_rate, dtype=np.float64)
    shape = (n,) if lam_in.ndim < 2 else (lam_in.shape[0], n)
    if state.backlog.shape != shape:
        raise ValueError(f"state.backlog: must have shape {shape}, got {state.backlog.shape}")
    if not (np.isfinite(dt_s) and dt_s > 0):
        raise ValueError(f"dt_s: must be > 0 and finite, got {dt_s!r}")
    lam = np.broadcast_to(lam_in, shape).copy()
    check_array("arrival_rate", lam, positive=False)
    replicas = np.broadcast_to(as_counts("ready", ready, minimum=0), (n,))
    return lam, replicas.astype(np.float64)


def step(
    params: ServiceParams,
    state: ServiceState,
    arrival_rate: npt.ArrayLike,
    ready: npt.ArrayLike,
    dt_s: float,
    *,
    quantiles: bool = True,
) -> tuple[ServiceState, TickOutput]:
    """Advance every service by one tick of ``dt_s`` seconds (model: module docstring).

    With ``quantiles=False`` the p95/p99 latencies are left NaN (the law in
    ``TickOutput.latency`` is complete; callers that pool many ticks evaluate it later).

    ``arrival_rate`` (requests/s, ≥ 0) is the tick's mean offered load and ``ready`` the
    number of ready replicas (integer ≥ 0), both held over the tick.
    """
    lam, replicas = _inputs(params, state, arrival_rate, ready, dt_s)
    backlog, output = advance(params, state.backlog, lam, replicas, dt_s, quantiles=quantiles)
    return ServiceState(backlog), output


def advance(
    params: ServiceParams,
    backlog: FloatArray,
    lam: FloatArray,
    replicas: FloatArray,
    dt_s: float,
    *,
    quantiles: bool = False,
) -> tuple[FloatArray, TickOutput]:
    """:func:`step` on arrays the caller has already checked (the engine's own): float64
    ``lam`` ≥ 0 and ``backlog`` ≥ 0 of one shape, ``(n,)`` or ``(ticks, n)``, and whole
    ``replicas`` ≥ 0 of shape ``(n,)`` as float64. Returns the backlog after the tick."""
    mu = service_rate_per_s(params)
    capacity = replicas * replica_capacity_per_s(params)
    limit = capacity * params.timeout_s
    b0 = backlog
    total = b0 + lam * dt_s
    served_rate = np.minimum(total / dt_s, capacity)  # the rate is what must not pass K
    left = np.maximum(total - served_rate * dt_s, 0.0)
    backlog = np.minimum(left, limit)
    dropped = left - backlog

    has = replicas > 0
    per_replica = np.where(has, 1.0 / np.where(has, replicas, 1.0), 0.0)
    # ρ < 1 decided on the totals the fluid uses, so both regimes agree to the last bit.
    stable = has & (lam < capacity)
    load_erlangs = np.where(stable, lam * per_replica / mu, 0.0)
    wait_probability = np.where(stable, erlang_c_unchecked(params.concurrency, load_erlangs), 0.0)
    wait_rate = np.where(stable, (capacity - lam) * per_replica, params.concurrency * mu)
    if b0.any() or not stable.all():
        mean_backlog = _mean_clipped_linear(b0, b0 + (lam - capacity) * dt_s, limit)
    else:  # no backlog and under capacity all tick: none builds
        mean_backlog = np.zeros(lam.shape)
    fixed_wait = np.where(has, mean_backlog / np.where(has, capacity, 1.0), np.nan)
    law = ResponseTimeDistribution(fixed_wait, wait_probability, wait_rate, mu)
    nan = np.full(lam.shape, np.nan)

    served_per_replica = served_rate * per_replica
    in_system = (
        served_per_replica / mu
        + mean_backlog * per_replica
        + np.where(stable, lam * per_replica * law.wait_probability / law.wait_rate_per_s, 0.0)
    )
    cpu = served_per_replica * params.cpu_ms_per_request / 1000.0 + params.idle_cpu_cores
    output = TickOutput(
        served_rate=served_rate,
        dropped_rate=dropped / dt_s,
        capacity_rate=capacity,
        backlog=backlog,
        latency_mean_ms=1000.0 * response_time_mean_s(law),
        latency_p95_ms=1000.0 * response_time_quantile_s(law, 0.95) if quantiles else nan,
        latency_p99_ms=1000.0 * response_time_quantile_s(law, 0.99) if quantiles else nan,
        utilization=np.where(has, np.minimum(served_rate / np.where(has, capacity, 1.0), 1.0), 0),
        cpu_used_cores_per_replica=np.where(has, np.minimum(cpu, params.cpu_limit_cores), 0.0),
        memory_used_mib_per_replica=np.where(
            has, params.memory_mib + params.memory_mib_per_request * in_system, 0.0
        ),
        latency=law,
    )
    return backlog, output


def step_block(
    params: ServiceParams,
    state: ServiceState,
    arrival_rates: FloatArray,
    ready: npt.ArrayLike,
    dt_s: float,
) -> tuple[ServiceState, TickOutput]:
    """Advance consecutive ticks at once with replicas held (``arrival_rates`` is
    ``(ticks, n)``); returns the state after the ticks it kept and their outputs.

    Every tick after the first is assumed to start with no backlog, which holds while the
    load stays under capacity. The block keeps its ticks up to the first that ends with
    a backlog: each of those started from its true backlog, so the outputs are exactly
    the tick-by-tick recurrence of :func:`step` (up to floating-point rounding). The
    caller steps the rest again from the returned state.
    """
    rates = np.asarray(arrival_rates, dtype=np.float64)
    if rates.ndim != 2 or rates.shape[0] < 1:
        raise ValueError(f"arrival_rates: must be (ticks, n) with ticks >= 1, got {rates.shape}")
    lam, replicas = _inputs(params, ServiceState(np.zeros(rates.shape)), rates, ready, dt_s)
    check_array("state.backlog", state.backlog, positive=False)
    backlog, out = advance_block(params, state.backlog, lam, replicas, dt_s)
    return ServiceState(backlog), out


def advance_block(
    params: ServiceParams,
    backlog: FloatArray,
    rates: FloatArray,
    replicas: FloatArray,
    dt_s: float,
) -> tuple[FloatArray, TickOutput]:
    """:func:`step_block` on arrays the caller has already checked (as for
    :func:`advance`; ``backlog`` is ``(n,)``, ``rates`` ``(ticks, n)``)."""
    start = np.zeros_like(rates)
    start[0] = backlog
    _, out = advance(params, start, rates, replicas, dt_s)
    ends_with_backlog = np.flatnonzero(out.backlog[:-1].any(axis=1))
    if ends_with_backlog.size:
        out = out.rows(int(ends_with_backlog[0]) + 1)
    return out.backlog[-1], out
