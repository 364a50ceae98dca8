"""The service model's inputs that need compiled help: least-request law tables.

:func:`capsim.models.service.service_tick` reads a least-request router's waits from a
table of the law of :mod:`capsim.models.least_request` over :data:`LAW_POINTS` loads, one
table per replica count. Building one costs milliseconds compiled (seconds in plain
Python), so tables are built once per ``(replicas, cores, choices)``, compiled with
:mod:`capsim.jit` where Numba is installed, and cached for the process.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.jit import compile_family
from capsim.models import least_request
from capsim.models.service import LAW_POINTS, LEAST_REQUEST_CHOICES

__all__ = ["least_request_law"]

FloatArray = npt.NDArray[np.float64]

_NO_LAW = np.zeros(0)
_NO_LAW.flags.writeable = False


def least_request_law(replicas: float, cores: float, routing: int) -> FloatArray:
    """The law table :func:`capsim.models.service.service_tick` reads for least-request
    ``routing`` over ``replicas`` (each ``cores`` effective servers): :data:`LAW_POINTS`
    loads, the waits' probability then their scaled mean
    (:func:`capsim.models.least_request.least_request_table`); empty for any other
    routing or no replica. Cached, compiled."""
    if routing < 3 or replicas <= 0.0:
        return _NO_LAW
    return _law_table(float(replicas), float(cores), LEAST_REQUEST_CHOICES[routing])


@functools.lru_cache(maxsize=4096)
def _law_table(replicas: float, cores: float, choices: float) -> FloatArray:
    build = _compiled()["least_request_table"]
    p_col, g_col = build(replicas, cores, choices, LAW_POINTS)
    table: FloatArray = np.concatenate([p_col, g_col])
    table.flags.writeable = False
    return table


@functools.cache
def _compiled() -> dict[str, Any]:
    return compile_family(vars(least_request), least_request.COMPILED_FUNCTIONS)
