"""Array conventions shared by the batched HPA functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def as_int(values: npt.ArrayLike, n: int) -> IntArray:
    """A scalar or array as a fresh int64 array of shape ``(n,)``."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64 and values.shape == (n,):
        return values.copy()  # the common case, without broadcast_to's overhead
    return np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)).copy()


def as_float(values: npt.ArrayLike, n: int) -> FloatArray:
    """A scalar or array as a fresh float64 array of shape ``(n,)``."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == (n,):
        return values.copy()  # the common case, without broadcast_to's overhead
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()
