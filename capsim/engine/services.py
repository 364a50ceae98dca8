"""The engine's side of the service model: every service's carried state, stepped tick
by tick through the compiled :func:`capsim.models.service.service_tick`.

The model is one pure function of plain numbers (shared with the fast path's compiled
loop, so both run the same floats); this bank owns the arrays it updates: per service
the state row and the abandonment ring, and the per-service constants.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.jit import compile_family, forget_stale_cache, jit
from capsim.models import retries, service
from capsim.models.service import (
    LAW_POINTS,
    O_DROPPED,
    O_PUSHED,
    OUT_FIELDS,
    P_CORES,
    P_DT,
    P_ROUTING,
    PARAM_FIELDS,
    STATE_FIELDS,
    ring_length,
)
from capsim.scenario import ServiceWorkload
from capsim.scenario.service_laws import least_request_law

__all__ = ["O_FAILED_FINALLY", "O_RETRIED", "RETRY_FIELDS", "ServiceBank"]

FloatArray = npt.NDArray[np.float64]


RETRY_FIELDS = 2
"""Columns the bank adds after the model's ``OUT_FIELDS``: retries sent in the tick, and
requests whose last attempt failed in it (refused in the tick, or arrived in it and will
abandon at the timeout: booked when the failure is known, as the retries are)."""
O_RETRIED = OUT_FIELDS
O_FAILED_FINALLY = OUT_FIELDS + 1
_CASCADE_CELLS = 64  # positions within a tick a retry chain is followed on


def _step_block(
    rates: FloatArray,
    replicas: FloatArray,
    params: FloatArray,
    laws: FloatArray,
    slots: npt.NDArray[np.int64],
    state: FloatArray,
    rings: FloatArray,
    retry_shape: npt.NDArray[np.int64],
    retry_heads: npt.NDArray[np.int64],
    retry_rings: FloatArray,
    retry_kernels: FloatArray,
    retry_cascades: FloatArray,
    retry_levels: FloatArray,
    out: FloatArray,
) -> None:
    """Every service through ``rates.shape[0]`` ticks (``out``: ticks × services × fields).

    A service with retries (``retry_shape[s] = (max retries, ring slots, kernel length,
    cascade length)``, capsim.models.retries) runs its model at the fresh load plus the
    retries due, then books its failures' next attempts."""
    dt_s = params[0, P_DT] if params.shape[0] else 1.0
    for t in range(rates.shape[0]):
        for s in range(rates.shape[1]):
            levels = retry_shape[s, 0]
            if levels == 0:
                _service_tick(
                    rates[t, s], replicas[s], params[s], laws[s], state[s], rings[s, : slots[s]],
                    out[t, s],
                )  # fmt: skip
                # no retries: every refused request, and every one that will abandon, fails
                out[t, s, O_FAILED_FINALLY] = out[t, s, O_DROPPED] + out[t, s, O_PUSHED]
                continue
            width = retry_shape[s, 1]
            ring = retry_rings[s, : levels * width]
            kernel = retry_kernels[s, : retry_shape[s, 2]]
            cascade = retry_cascades[s, : retry_shape[s, 3]]
            offered = retry_levels[s, 0, : levels + 1]
            attempts = retry_levels[s, 1, : levels + 1]
            head = _pop_retries(ring, retry_heads[s], levels, width, offered)
            offered[0] = rates[t, s] * dt_s
            outage = 1.0 if replicas[s] <= 0.0 else 0.0
            _in_tick_attempts(offered, outage, cascade, levels, width, attempts)
            total = attempts.sum()
            _service_tick(
                total / dt_s, replicas[s], params[s], laws[s], state[s], rings[s, : slots[s]],
                out[t, s],
            )  # fmt: skip
            failed = _book_retries(
                offered, outage, out[t, s, O_DROPPED], out[t, s, O_PUSHED], kernel, cascade,
                levels, width, ring, head, attempts,
            )  # fmt: skip
            retry_heads[s] = head
            out[t, s, O_RETRIED] = total - attempts[0]
            out[t, s, O_FAILED_FINALLY] = failed


# set by _compiled(): the callees _step_block compiles against
_service_tick: Any = None
_pop_retries: Any = None
_in_tick_attempts: Any = None
_book_retries: Any = None


@functools.cache
def _compiled() -> tuple[dict[str, Any], Any]:
    """The model's functions and the block loop, compiled on first use (so importing the
    engine does not import Numba)."""
    global _service_tick, _pop_retries, _in_tick_attempts, _book_retries
    # the block loop's cache holds the model
    forget_stale_cache(__file__, service.__file__, retries.__file__)
    family = compile_family(vars(service), service.COMPILED_FUNCTIONS, inline=service.HOT_HELPERS)
    retry = compile_family(vars(retries), retries.COMPILED_FUNCTIONS)
    _service_tick = family["service_tick"]
    _pop_retries = retry["pop_retries"]
    _in_tick_attempts = retry["in_tick_attempts"]
    _book_retries = retry["book_retries"]
    return {**family, **retry}, jit(_step_block)


class ServiceBank:
    """The services of one platform: constants, carried state, and :meth:`step`."""

    def __init__(
        self,
        workloads: Sequence[ServiceWorkload],
        cpu_limit_cores: Sequence[float],
        routing: Sequence[str],
        tick_s: float,
        horizon_s: float = float("inf"),
        accelerators: Sequence[tuple[float, float | None]] | None = None,
    ) -> None:
        n = len(workloads)
        self.tick_s = tick_s
        self.cpu_limit_cores = np.array(cpu_limit_cores, dtype=np.float64).reshape(n)
        self.params = np.zeros((n, PARAM_FIELDS))
        held = list(accelerators) if accelerators is not None else [(0.0, None)] * n
        for i, (w, limit, route) in enumerate(
            zip(workloads, self.cpu_limit_cores, routing, strict=True)
        ):
            self.params[i] = w.model_params(limit, route, tick_s, *held[i])
        self.slots = np.array(
            [ring_length(w.timeout_s, tick_s, horizon_s) for w in workloads], dtype=np.int64
        ).reshape(n)
        self.state = np.zeros((n, STATE_FIELDS))
        # the services routed to the least-loaded replicas (they need a law per step)
        self._least_request = np.flatnonzero(self.params[:, P_ROUTING].astype(np.int64) >= 3)
        self._no_laws = np.zeros((n, 0))
        self.rings = np.zeros((n, int(self.slots.max(initial=1))))
        self._init_retries(workloads, tick_s)

    def _init_retries(self, workloads: Sequence[ServiceWorkload], tick_s: float) -> None:
        """Each service's retry delay line (capsim.models.retries), padded to one array."""
        n = len(workloads)
        shapes = np.zeros((n, 4), dtype=np.int64)
        for i, w in enumerate(workloads):
            r = w.retries
            if r.max_retries:
                width = retries.retry_ring_length(w.timeout_s, r.max_backoff_s, tick_s)
                shapes[i] = (
                    r.max_retries,
                    width,
                    retries.retry_kernel_length(r.max_retries, width),
                    retries.retry_cascade_length(r.max_retries, width),
                )
        self.retry_shape = shapes
        self.retry_heads = np.zeros(n, dtype=np.int64)
        longest = shapes.max(axis=0, initial=0)
        self.retry_rings = np.zeros((n, int((shapes[:, 0] * shapes[:, 1]).max(initial=0))))
        self.retry_kernels = np.zeros((n, int(longest[2]) if n else 0))
        self.retry_cascades = np.zeros((n, int(longest[3]) if n else 0))
        self.retry_levels = np.zeros((n, 2, int(longest[0]) + 1 if n else 1))
        for i, w in enumerate(workloads):
            r = w.retries
            if r.max_retries:
                levels, width, kernel, cascade = (int(v) for v in shapes[i])
                retries.retry_kernel(
                    w.timeout_s, r.backoff_s, r.multiplier, r.max_backoff_s, levels, tick_s,
                    width, self.retry_kernels[i, :kernel],
                )  # fmt: skip
                retries.retry_cascade(
                    r.backoff_s, r.multiplier, r.max_backoff_s, levels, tick_s, width,
                    _CASCADE_CELLS, self.retry_cascades[i, :cascade],
                )  # fmt: skip

    def warm(self, rates: FloatArray, replicas: FloatArray) -> None:
        """Start every service as if ``rates`` (req/s) had reached ``replicas`` for long
        (:func:`capsim.models.service.warm_up`)."""
        warm_up = _compiled()[0]["warm_up"]
        p = self.params
        for s in range(p.shape[0]):
            warm_up(
                float(rates[s]),
                float(replicas[s]),
                p[s],
                self._laws(replicas)[s],
                self.state[s],
                self.rings[s, : self.slots[s]],
            )

    def in_system(self) -> FloatArray:
        """Requests in each service now (in service, waiting, waiting to abandon)."""
        total: FloatArray = self.state[:, : STATE_FIELDS - 1].sum(axis=1)
        return total

    def _laws(self, replicas: FloatArray) -> FloatArray:
        """Each service's least-request law at its ``replicas`` (zero-width without one)."""
        if not self._least_request.size:
            return self._no_laws
        routing = self.params[:, P_ROUTING].astype(np.int64)
        laws = np.zeros((len(routing), 2 * LAW_POINTS))
        for s in self._least_request:
            law = least_request_law(float(replicas[s]), self.params[s, P_CORES], int(routing[s]))
            laws[s, : law.shape[0]] = law
            if law.shape[0] == 0:
                laws[s] = np.nan  # no replica: the model never reads it
        return laws

    def retries_pending(self) -> FloatArray:
        """Failed attempts of each service whose retry is still to be sent."""
        pending: FloatArray = self.retry_rings.sum(axis=1)
        return pending

    def step(self, rates: FloatArray, replicas: FloatArray) -> FloatArray:
        """Step ``rates.shape[0]`` ticks (rates: ticks × services, req/s) with ``replicas``
        ready per service held; returns ticks × services × (``OUT_FIELDS`` +
        ``RETRY_FIELDS``)."""
        out = np.zeros((rates.shape[0], rates.shape[1], OUT_FIELDS + RETRY_FIELDS))
        if rates.shape[1]:
            _compiled()[1](
                np.ascontiguousarray(rates, dtype=np.float64),
                replicas,
                self.params,
                self._laws(replicas),
                self.slots,
                self.state,
                self.rings,
                self.retry_shape,
                self.retry_heads,
                self.retry_rings,
                self.retry_kernels,
                self.retry_cascades,
                self.retry_levels,
                out,
            )
        return out
