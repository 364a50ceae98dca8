"""The exact request core (:mod:`capsim.models.requests`) compiled with Numba.

The kernel is written once, in the Numba subset, in the pure-maths layer; it is compiled
here, as :mod:`capsim.fastpath.kernel` compiles the HPA's CPU rule. Without Numba (no
``fast`` extra) :data:`compiled_kernel` is the plain-Python function itself: the same
results, bit for bit, far slower.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import numpy.typing as npt

from capsim.models.requests import (
    Kernel,
    RequestParams,
    RequestState,
    TickOutcome,
    advance_requests,
    step,
)

COMPILED = importlib.util.find_spec("numba") is not None
"""Whether :data:`compiled_kernel` is compiled (Numba is installed)."""

compiled_kernel: Kernel
if COMPILED:
    import numba

    compiled_kernel = numba.njit(cache=True)(advance_requests)
else:  # the core install without the fast extra
    compiled_kernel = advance_requests


def step_compiled(
    state: RequestState,
    params: RequestParams,
    arrival_s: npt.NDArray[np.float64],
    size_core_s: npt.NDArray[np.float64],
    route_u: npt.NDArray[np.float64] | None,
    until_s: float,
) -> tuple[RequestState, TickOutcome]:
    """:func:`capsim.models.requests.step` with the compiled kernel."""
    return step(state, params, arrival_s, size_core_s, route_u, until_s, kernel=compiled_kernel)


__all__: list[str] = ["COMPILED", "compiled_kernel", "step_compiled"]
