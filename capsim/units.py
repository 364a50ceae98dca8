"""Kubernetes quantities and human durations: one parser for the whole project.

Quantities follow the Kubernetes ``resource.Quantity`` grammar: a decimal number with an
optional binary-SI suffix (``Ki Mi Gi Ti Pi Ei``), decimal-SI suffix (``n u m k M G T P E``)
or decimal exponent (``e3``, ``E-2``). They are parsed exactly (``Decimal``) and converted
to integers in canonical units, rounding **up** as ``Quantity.MilliValue()`` and
``Quantity.Value()`` do: CPU in millicores, memory in bytes.

Durations accept plain seconds (``300``, ``1.5``) or a sequence of ``<number><unit>``
with units ``ms s m h d w`` (``90s``, ``15m``, ``1h30m``, ``7d``), returning float seconds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "format_cpu_millicores",
    "format_duration",
    "format_iso_utc",
    "format_memory_bytes",
    "parse_cpu_millicores",
    "parse_duration_s",
    "parse_memory_bytes",
    "parse_quantity",
]

_BINARY_SUFFIXES: dict[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
# Bounds that keep exact arithmetic cheap on hostile text (a Kubernetes quantity is at most
# 2^63-1 in milli-units anyway): "1e999999999" must not build a billion-digit integer.
_MAX_QUANTITY_CHARS = 100
_MAX_QUANTITY_EXPONENT = 1000
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exponent>[eE][+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))$"
)


def parse_quantity(text: str | int | float) -> Fraction:
    """Parse a Kubernetes quantity (``500m``, ``2Gi``, ``1e3``, ``1.5``) to an exact number.

    Numbers given as ``int``/``float`` (as YAML delivers ``1`` or ``0.5``) are accepted.
    Raises ``ValueError`` naming the text when it is not a quantity.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a quantity: {text!r}")
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(f"not a quantity: {text!r}")
        return Fraction(Decimal(repr(text)))
    if not isinstance(text, str):
        raise ValueError(f"not a quantity: {text!r}")
    if len(text) > _MAX_QUANTITY_CHARS:
        raise ValueError(
            f"not a quantity: {text[:20]!r}... is longer than {_MAX_QUANTITY_CHARS} characters"
        )
    match = _QUANTITY_RE.match(text.strip())
    if match is None:
        raise ValueError(
            f"not a quantity: {text!r} (expected a number with an optional suffix such as "
            "500m, 1.5, 2Gi, 512Mi, 1e3 or 100n)"
        )
    try:
        number = Fraction(Decimal(match["number"]))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a quantity: {text!r}") from exc
    if match["binary"]:
        return number * _BINARY_SUFFIXES[match["binary"]]
    if match["exponent"]:
        exponent = int(match["exponent"][1:])
        if abs(exponent) > _MAX_QUANTITY_EXPONENT:
            raise ValueError(
                f"not a quantity: {text!r} (the exponent is beyond ±{_MAX_QUANTITY_EXPONENT})"
            )
        return number * Fraction(10) ** exponent
    return number * Fraction(10) ** _DECIMAL_SUFFIXES[match["decimal"] or ""]


def _non_negative(value: Fraction, text: str | int | float, what: str) -> Fraction:
    if value < 0:
        raise ValueError(f"{what} must not be negative: {text!r}")
    return value


def parse_cpu_millicores(text: str | int | float) -> int:
    """CPU quantity → integer millicores, rounded up (``"500m"`` → 500, ``1.5`` → 1500)."""
    cores = _non_negative(parse_quantity(text), text, "a CPU quantity")
    return math.ceil(cores * 1000)


def parse_memory_bytes(text: str | int | float) -> int:
    """Memory quantity → integer bytes, rounded up (``"512Mi"`` → 536870912)."""
    size = _non_negative(parse_quantity(text), text, "a memory quantity")
    return math.ceil(size)


def format_cpu_millicores(millicores: int) -> str:
    """Integer millicores → canonical CPU text: whole cores as ``"2"``, otherwise ``"500m"``."""
    if millicores < 0:
        raise ValueError(f"a CPU quantity must not be negative: {millicores!r}")
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_memory_bytes(size_bytes: int) -> str:
    """Integer bytes → the largest exact binary-SI form (``"512Mi"``, ``"2Gi"``, ``"1000"``)."""
    if size_bytes < 0:
        raise ValueError(f"a memory quantity must not be negative: {size_bytes!r}")
    for suffix, factor in reversed(_BINARY_SUFFIXES.items()):
        if size_bytes and size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)


_DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|s|m|h|d|w)")
_PLAIN_SECONDS_RE = re.compile(r"^[+]?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


def parse_duration_s(text: str | int | float) -> float:
    """Parse a duration (``90s``, ``15m``, ``24h``, ``7d``, ``1h30m``, ``300``) to seconds.

    Units must not repeat or go up in size (``30m1h`` is rejected). Negative durations
    are rejected. Raises ``ValueError`` naming the text.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"not a duration (must be finite and >= 0 seconds): {text!r}")
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    stripped = text.strip()
    if _PLAIN_SECONDS_RE.match(stripped):
        return _finite_duration(float(stripped), text)
    position = 0
    total = 0.0
    last_unit_size = math.inf
    for match in _DURATION_PART_RE.finditer(stripped):
        unit_size = _DURATION_UNITS[match[2]]
        if match.start() != position or unit_size >= last_unit_size:
            break
        total += float(match[1]) * unit_size
        last_unit_size = unit_size
        position = match.end()
    if position == 0 or position != len(stripped):
        raise ValueError(
            f"not a duration: {text!r} (expected seconds or e.g. 90s, 15m, 24h, 7d, 1h30m)"
        )
    return _finite_duration(total, text)


def _finite_duration(seconds: float, text: str) -> float:
    """``seconds`` when finite: ``"9" * 400`` is a duration too long to hold."""
    if not math.isfinite(seconds):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"not a duration: {shown!r} is too long to hold in seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds → compact text that :func:`parse_duration_s` reads back (``5400`` → ``1h30m``).

    Whole seconds use ``d h m s`` parts; a fractional remainder is written in seconds
    (``90.5`` → ``1m30.5s``).
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be finite and >= 0: {seconds!r}")
    if seconds == 0:
        return "0s"
    whole = int(seconds)
    fraction = seconds - whole
    parts: list[str] = []
    for unit in ("d", "h", "m"):
        size = int(_DURATION_UNITS[unit])
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if whole or fraction:
        rest = whole + fraction
        parts.append(f"{rest:g}s" if fraction == 0 else f"{rest!r}s")
    return "".join(parts)


def format_iso_utc(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC with a ``Z``, whole seconds (``2026-11-25T10:00:15Z``):
    the timestamps of the traces capsim writes."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
