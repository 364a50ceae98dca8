"""Pydantic field types with units, and the strict base every scenario model shares.

A scenario writes ``90s``, ``500m`` or ``2Gi`` and the schema holds float seconds, integer
millicores and integer bytes (:mod:`capsim.units` parses them). Every value is bounded
(:mod:`capsim.scenario.limits`): durations up to ``MAX_DURATION_S`` (a positive one at least
``MIN_POSITIVE_DURATION_S``), CPU up to ``MAX_CPU_MILLICORES``, memory up to
``MAX_MEMORY_BYTES``, so the engine's arithmetic stays finite and within int64.

:class:`StrictModel` is the base of every scenario model (schema, load specs,
distributions): ``.inf``/``.nan`` are never a number; its numeric fields are :data:`Int` and
:data:`Float`, where a boolean is never a number (``replicas: true`` is an error naming the
field, where pydantic's lax mode would read 1).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from capsim.scenario.limits import (
    MAX_CPU_MILLICORES,
    MAX_DURATION_S,
    MAX_MEMORY_BYTES,
    MIN_POSITIVE_DURATION_S,
)
from capsim.units import (
    format_memory_bytes,
    parse_cpu_millicores,
    parse_duration_s,
    parse_memory_bytes,
)

__all__ = [
    "Bytes",
    "Float",
    "Int",
    "Millicores",
    "PositiveBytes",
    "PositiveMillicores",
    "PositiveSeconds",
    "Seconds",
    "StrictModel",
]


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys and non-finite floats (``.inf``, ``.nan``,
    ``"1e400"``). Its numeric fields are :data:`Int` and :data:`Float`, which refuse
    booleans (pydantic's lax mode would read ``true`` as 1); a test checks that every
    numeric field of every scenario model is one of them."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_boolean)]
"""An integer field that refuses booleans."""
Float = Annotated[float, BeforeValidator(_not_boolean)]
"""A float field that refuses booleans (and, in a :class:`StrictModel`, inf and NaN)."""


def _duration_s(text: str | int | float) -> float:
    seconds = parse_duration_s(text)
    if seconds > MAX_DURATION_S:
        raise ValueError(
            f"must be at most {MAX_DURATION_S:.0e} s (about 31 years, the limit), got {text!r}"
        )
    if 0 < seconds < MIN_POSITIVE_DURATION_S:
        raise ValueError(f"must be 0 or at least 1 µs (the resolution), got {text!r}")
    return seconds


def _positive_duration_s(text: str | int | float) -> float:
    seconds = _duration_s(text)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    return seconds


def _millicores(text: str | int | float) -> int:
    millicores = parse_cpu_millicores(text)
    if millicores > MAX_CPU_MILLICORES:
        raise ValueError(
            f"must be at most {MAX_CPU_MILLICORES // 1000:,} cores (the limit), got {text!r}"
        )
    return millicores


def _positive_millicores(text: str | int | float) -> int:
    millicores = _millicores(text)
    if millicores <= 0:
        raise ValueError(f"must be > 0, got {text!r}")
    return millicores


def _bytes(text: str | int | float) -> int:
    size = parse_memory_bytes(text)
    if size > MAX_MEMORY_BYTES:
        raise ValueError(
            f"must be at most {format_memory_bytes(MAX_MEMORY_BYTES)} (the limit), got {text!r}"
        )
    return size


def _positive_bytes(text: str | int | float) -> int:
    size = _bytes(text)
    if size <= 0:
        raise ValueError(f"must be > 0, got {text!r}")
    return size


Seconds = Annotated[float, BeforeValidator(_duration_s)]
"""A pydantic field holding a duration in seconds, written ``90s``, ``15m`` or seconds."""
PositiveSeconds = Annotated[float, BeforeValidator(_positive_duration_s)]
"""A pydantic field holding a positive duration in seconds."""
Millicores = Annotated[int, BeforeValidator(_millicores)]
"""A pydantic field holding CPU in millicores, written ``500m``, ``2`` or ``1.5``."""
PositiveMillicores = Annotated[int, BeforeValidator(_positive_millicores)]
"""A pydantic field holding CPU in millicores, more than 0."""
Bytes = Annotated[int, BeforeValidator(_bytes)]
"""A pydantic field holding memory in bytes, written ``512Mi``, ``2Gi`` or bytes."""
PositiveBytes = Annotated[int, BeforeValidator(_positive_bytes)]
"""A pydantic field holding memory in bytes, more than 0."""
