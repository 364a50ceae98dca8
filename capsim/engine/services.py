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
from capsim.models import service
from capsim.models.service import OUT_FIELDS, PARAM_FIELDS, STATE_FIELDS, ring_length
from capsim.scenario import ServiceWorkload

__all__ = ["ServiceBank"]

FloatArray = npt.NDArray[np.float64]


def _step_block(
    rates: FloatArray,
    replicas: FloatArray,
    params: FloatArray,
    slots: npt.NDArray[np.int64],
    state: FloatArray,
    rings: FloatArray,
    out: FloatArray,
) -> None:
    """Every service through ``rates.shape[0]`` ticks (``out``: ticks × services × fields)."""
    for t in range(rates.shape[0]):
        for s in range(rates.shape[1]):
            _service_tick(
                rates[t, s], replicas[s], params[s], state[s], rings[s, : slots[s]], out[t, s]
            )


_service_tick: Any = None  # set by _compiled(): the callee _step_block compiles against


@functools.cache
def _compiled() -> tuple[dict[str, Any], Any]:
    """The model's functions and the block loop, compiled on first use (so importing the
    engine does not import Numba)."""
    global _service_tick
    forget_stale_cache(__file__, service.__file__)  # the block loop's cache holds the model
    family = compile_family(vars(service), service.COMPILED_FUNCTIONS, inline=service.HOT_HELPERS)
    _service_tick = family["service_tick"]
    return family, jit(_step_block)


class ServiceBank:
    """The services of one platform: constants, carried state, and :meth:`step`."""

    def __init__(
        self,
        workloads: Sequence[ServiceWorkload],
        cpu_limit_cores: Sequence[float],
        routing: Sequence[str],
        tick_s: float,
    ) -> None:
        n = len(workloads)
        self.tick_s = tick_s
        self.cpu_limit_cores = np.array(cpu_limit_cores, dtype=np.float64).reshape(n)
        self.params = np.zeros((n, PARAM_FIELDS))
        for i, (w, limit, route) in enumerate(
            zip(workloads, self.cpu_limit_cores, routing, strict=True)
        ):
            self.params[i] = w.model_params(limit, route, tick_s)
        self.slots = np.array(
            [ring_length(w.timeout_s, tick_s) for w in workloads], dtype=np.int64
        ).reshape(n)
        self.state = np.zeros((n, STATE_FIELDS))
        self.rings = np.zeros((n, int(self.slots.max(initial=1))))

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
                self.state[s],
                self.rings[s, : self.slots[s]],
            )

    def in_system(self) -> FloatArray:
        """Requests in each service now (in service, waiting, waiting to abandon)."""
        total: FloatArray = self.state[:, : STATE_FIELDS - 1].sum(axis=1)
        return total

    def step(self, rates: FloatArray, replicas: FloatArray) -> FloatArray:
        """Step ``rates.shape[0]`` ticks (rates: ticks × services, req/s) with ``replicas``
        ready per service held; returns ticks × services × ``OUT_FIELDS``."""
        out = np.zeros((rates.shape[0], rates.shape[1], OUT_FIELDS))
        if rates.shape[1]:
            _compiled()[1](
                np.ascontiguousarray(rates, dtype=np.float64),
                replicas,
                self.params,
                self.slots,
                self.state,
                self.rings,
                out,
            )
        return out
