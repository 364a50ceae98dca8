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

**Written back.** Dumped with the context of :func:`document_context` (as
:func:`capsim.scenario.document.scenario_document` does), each unit type writes its value
as a scenario file does, in a form its parser reads back to the very same value: durations
as text (``90s``, ``1h30m``, ``0.000001s``), CPU in millicores (``1234m``), memory with the
largest exact binary suffix (``8Gi``) or in whole bytes, and the files a scenario names
(:data:`RelativePath`) by absolute path. Any other dump (``scenario_as_run``) is
unchanged: plain numbers in the attribute's unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    WrapSerializer,
)

from capsim.scenario.limits import (
    MAX_CPU_MILLICORES,
    MAX_DURATION_S,
    MAX_MEMORY_BYTES,
    MIN_POSITIVE_DURATION_S,
)
from capsim.units import (
    format_duration,
    format_memory_bytes,
    parse_cpu_millicores,
    parse_duration_s,
    parse_memory_bytes,
)

__all__ = [
    "Bytes",
    "DocumentContext",
    "DurationOut",
    "Float",
    "Int",
    "Millicores",
    "PositiveBytes",
    "PositiveMillicores",
    "PositiveSeconds",
    "RelativePath",
    "RelativePathText",
    "Seconds",
    "StrictModel",
    "cpu_text",
    "document_context",
    "duration_text",
    "in_document",
    "memory_text",
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


# --- Written back as a scenario file writes them -----------------------------------------

_DOCUMENT = "capsim.scenario.document"
"""The key of the :class:`DocumentContext` in a serialization context."""


@dataclass(frozen=True)
class DocumentContext:
    """A dump that writes a scenario file: ``base_dir`` is the folder the scenario's
    relative paths were read against (they are written absolute), or ``None`` to write
    paths as they were given."""

    base_dir: Path | None = None


def document_context(base_dir: Path | None = None) -> dict[str, DocumentContext]:
    """The ``context`` of a ``model_dump`` that writes a scenario file (module docs)."""
    return {_DOCUMENT: DocumentContext(base_dir)}


def in_document(info: SerializationInfo) -> DocumentContext | None:
    """The :class:`DocumentContext` of this dump, or ``None`` for an ordinary dump."""
    context = info.context
    found = context.get(_DOCUMENT) if isinstance(context, dict) else None
    return found if isinstance(found, DocumentContext) else None


def _reads_back(text: str, seconds: float) -> bool:
    """:func:`capsim.units.parse_duration_s` reads ``text`` as ``seconds``, bit for bit."""
    try:
        return parse_duration_s(text).hex() == seconds.hex()
    except ValueError:
        return False


def duration_text(seconds: float) -> str | float:
    """``seconds`` as a scenario writes a duration, read back bit for bit by
    :func:`capsim.units.parse_duration_s`: ``90s``, ``7d``, ``1h30m`` when that is exact,
    else seconds in decimal with a unit (``0.000001s``), else (``-0.0``) the float itself,
    which the parser takes as seconds."""
    if not math.isfinite(seconds) or seconds < 0:
        return seconds
    pretty = format_duration(seconds)
    if _reads_back(pretty, seconds):
        return pretty
    plain = f"{Decimal(repr(seconds)):f}s"
    return plain if _reads_back(plain, seconds) else seconds


def cpu_text(millicores: int) -> str:
    """Millicores as CPU quantity text with its unit (``1234m``, ``2000m``): exact, and never
    a bare number, which a scenario reads as cores."""
    return f"{millicores}m"


def memory_text(size_bytes: int) -> str | int:
    """Bytes with the largest exact binary suffix (``8Gi``, ``768Mi``), else the whole
    number of bytes (``1000000007``): both read back exactly."""
    text = format_memory_bytes(size_bytes)
    return size_bytes if text.isdigit() else text


def _duration_out(
    value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo
) -> Any:
    if isinstance(value, float) and in_document(info) is not None:
        return duration_text(value)
    return handler(value)


def _cpu_out(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    if isinstance(value, int) and in_document(info) is not None:
        return cpu_text(value)
    return handler(value)


def _memory_out(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    if isinstance(value, int) and in_document(info) is not None:
        return memory_text(value)
    return handler(value)


def _path_out(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    document = in_document(info)
    if document is None or document.base_dir is None or not isinstance(value, str | Path):
        return handler(value)
    path = Path(value)
    return str(path if path.is_absolute() else (document.base_dir / path).absolute())


DurationOut = WrapSerializer(_duration_out)
"""Writes float seconds as duration text in a scenario document (:func:`duration_text`), for
a field type of its own that holds seconds among other things (a trace window's bound)."""

# The serializers come after the validators: a test takes a field's first ``func`` for
# its parser.
# The JSON Schema of a unit field (``capsim schema``) is what a file writes: text with a
# unit, or a bare number in the field's plain unit.
DURATION_SCHEMA = WithJsonSchema(
    {"type": ["string", "number"], "examples": ["90s", "15m", "1h30m", 3600]}
)
CPU_SCHEMA = WithJsonSchema({"type": ["string", "number"], "examples": ["500m", "2", 1.5]})
MEMORY_SCHEMA = WithJsonSchema({"type": ["string", "number"], "examples": ["512Mi", "2Gi"]})
Seconds = Annotated[float, BeforeValidator(_duration_s), DurationOut, DURATION_SCHEMA]
"""A pydantic field holding a duration in seconds, written ``90s``, ``15m`` or seconds."""
PositiveSeconds = Annotated[
    float, BeforeValidator(_positive_duration_s), DurationOut, DURATION_SCHEMA
]
"""A pydantic field holding a positive duration in seconds."""
Millicores = Annotated[int, BeforeValidator(_millicores), WrapSerializer(_cpu_out), CPU_SCHEMA]
"""A pydantic field holding CPU in millicores, written ``500m``, ``2`` or ``1.5``."""
PositiveMillicores = Annotated[
    int, BeforeValidator(_positive_millicores), WrapSerializer(_cpu_out), CPU_SCHEMA
]
"""A pydantic field holding CPU in millicores, more than 0."""
Bytes = Annotated[int, BeforeValidator(_bytes), WrapSerializer(_memory_out), MEMORY_SCHEMA]
"""A pydantic field holding memory in bytes, written ``512Mi``, ``2Gi`` or bytes."""
PositiveBytes = Annotated[
    int, BeforeValidator(_positive_bytes), WrapSerializer(_memory_out), MEMORY_SCHEMA
]
"""A pydantic field holding memory in bytes, more than 0."""
RelativePath = Annotated[Path, WrapSerializer(_path_out)]
"""A file a scenario names: relative to the scenario's folder, or absolute."""
RelativePathText = Annotated[str, WrapSerializer(_path_out)]
""":data:`RelativePath`, held as text."""
