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

__all__ = ["LAW_MAX_REPLICAS", "least_request_law"]

FloatArray = npt.NDArray[np.float64]

LAW_MAX_REPLICAS = 64
"""Above this many replicas the law of this many is used. A table costs time linear in
the replicas (about 0.1 ms per replica for two choices, 0.3 ms for all), so the bound
keeps a run's tables cheap whatever its scale. The waits it gives are on the slow side:
for two choices the mean wait at 64 replicas is within 0.6 / 1.9 / 3.1 / 5.1 % of the
law at 1,024 at ρ 0.5 / 0.8 / 0.9 / 0.95; for all replicas (whose waits vanish as the
replicas grow) it over-states them more, in absolute terms below 0.3 service times at
ρ 0.95."""

_NO_LAW = np.zeros(0)
_NO_LAW.flags.writeable = False


def least_request_law(replicas: float, cores: float, routing: int) -> FloatArray:
    """The law table :func:`capsim.models.service.service_tick` reads for least-request
    ``routing`` over ``replicas`` (each ``cores`` effective servers): :data:`LAW_POINTS`
    loads, the waits' probability then their scaled mean
    (:func:`capsim.models.least_request.least_request_table`); empty for any other
    routing or no replica; the law of :data:`LAW_MAX_REPLICAS` above that many. Cached,
    compiled."""
    if routing < 3 or replicas <= 0.0:
        return _NO_LAW
    tabulated = float(min(round(replicas), LAW_MAX_REPLICAS))
    return _law_table(tabulated, float(cores), LEAST_REQUEST_CHOICES[routing])


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
