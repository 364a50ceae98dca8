"""Pydantic field types with units: a scenario writes ``90s``, ``500m`` or ``2Gi`` and the
schema holds float seconds, integer millicores and integer bytes (:mod:`capsim.units`
parses them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from capsim.units import parse_cpu_millicores, parse_duration_s, parse_memory_bytes

__all__ = ["Bytes", "Millicores", "PositiveSeconds", "Seconds"]


def _positive_duration_s(text: str | int | float) -> float:
    seconds = parse_duration_s(text)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration_s)]
"""A pydantic field holding a duration in seconds, written ``90s``, ``15m`` or seconds."""
PositiveSeconds = Annotated[float, BeforeValidator(_positive_duration_s)]
"""A pydantic field holding a positive duration in seconds."""
Millicores = Annotated[int, BeforeValidator(parse_cpu_millicores)]
"""A pydantic field holding CPU in millicores, written ``500m``, ``2`` or ``1.5``."""
Bytes = Annotated[int, BeforeValidator(parse_memory_bytes)]
"""A pydantic field holding memory in bytes, written ``512Mi``, ``2Gi`` or bytes."""
