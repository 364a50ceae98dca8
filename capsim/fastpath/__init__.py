"""The batched fast path: many HPA configurations of one service against one load, in one
compiled pass (:mod:`.evaluate`, with its kernel in :mod:`.kernel`)."""

from capsim.fastpath.evaluate import (
    FastPathError,
    FastPathResult,
    evaluate_hpas,
    fast_path_limits,
    service_hpa,
)

__all__ = ["FastPathError", "FastPathResult", "evaluate_hpas", "fast_path_limits", "service_hpa"]
