"""Kubernetes quantities as the HPA API takes them: bounded, finite, exact.

``resource.Quantity`` holds at most 2^63 - 1 in milli-units (the HPA's metrics client
reads every value with ``MilliValue()``, an int64), never NaN or infinity. capsim parses a
quantity exactly (:func:`capsim.units.parse_quantity`) but first refuses text whose
exponent alone would make the exact number astronomically large or small (``1e999999999``
would otherwise take minutes and gigabytes to build), and refuses a value beyond the
int64 milli range instead of capping it as upstream does silently. Tiny positive values
round *up* to 1m, as upstream rounds them.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from capsim.units import parse_quantity

__all__ = ["MAX_MILLI", "MAX_QUANTITY_TEXT", "parse_api_quantity", "quantity_milli"]

MAX_MILLI = 2**63 - 1
"""The largest quantity in milli-units (``int64``): ``9223372036854775807m``."""

MAX_QUANTITY_TEXT = 64
"""Longest quantity text accepted (upstream quantities are short; this bounds parsing)."""

_MAX_EXPONENT = 40  # |exponent| beyond this is out of range whatever the mantissa's length
_EXPONENT_RE = re.compile(r"[eE]([+-]?[0-9]+)\s*$")


def parse_api_quantity(value: object) -> Fraction:
    """A quantity (text, or a YAML int/float) as an exact number within the int64 milli range.

    Raises ``ValueError`` whose message ends with the value (``…, got '1e400'``): not a
    quantity (``NaN``, ``inf``, ``lots``, a boolean), text too long, or a magnitude beyond
    ``9223372036854775807m``.
    """
    too_large = f"must be at most {MAX_MILLI}m (the largest Kubernetes quantity), got {value!r}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not a quantity: {value!r} (expected text such as 500m, 2 or 512Mi)")
    if isinstance(value, str):
        if len(value) > MAX_QUANTITY_TEXT:
            raise ValueError(
                f"not a quantity: longer than {MAX_QUANTITY_TEXT} characters, got {value[:20]!r}…"
            )
        exponent = _EXPONENT_RE.search(value)
        if exponent is not None and int(exponent[1]) > _MAX_EXPONENT:
            raise ValueError(too_large)
        if exponent is not None and int(exponent[1]) < -_MAX_EXPONENT:
            raise ValueError(
                f"not a quantity: exponent below -{_MAX_EXPONENT} (no quantity is finer than "
                f"1n), got {value!r}"
            )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not a quantity: {value!r} (NaN and infinity are not quantities)")
    number = parse_quantity(value)  # ValueError: "not a quantity: 'lots' (expected …)"
    if abs(number) * 1000 > MAX_MILLI:
        raise ValueError(too_large)
    return number


def quantity_milli(value: object) -> int:
    """:func:`parse_api_quantity` in integer milli-units, rounded up (``MilliValue``)."""
    return math.ceil(parse_api_quantity(value) * 1000)
