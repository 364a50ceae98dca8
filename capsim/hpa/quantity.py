"""Kubernetes quantities as the HPA API takes them: bounded, finite, exact.

``resource.Quantity`` holds at most 2^63 - 1 in milli-units (the HPA's metrics client
reads every value with ``MilliValue()``, an int64), never NaN or infinity. capsim parses a
quantity exactly (:func:`capsim.units.parse_quantity`) but first refuses text whose
exponent alone would make the exact number astronomically large or small (``1e999999999``
would otherwise take minutes and gigabytes to build), and refuses a value beyond the
int64 milli range instead of capping it as upstream does silently. Tiny positive values
round *up* to 1m, as upstream rounds them.

:func:`approximate_float64` is the float the HPA controller makes of a quantity
(``Quantity.AsApproximateFloat64``), used for ``behavior.scaleUp/scaleDown.tolerance``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from capsim.units import parse_quantity

__all__ = [
    "MAX_MILLI",
    "MAX_QUANTITY_TEXT",
    "approximate_float64",
    "parse_api_quantity",
    "quantity_milli",
]

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


_NANO = Fraction(1, 10**9)
_INT64_DIGITS = 18  # ``maxInt64Factors``: at most 18 digits take the int64 path
_BINARY_TEXT_RE = re.compile(r"[KMGTPE]i\s*$")


def approximate_float64(value: object) -> float:
    """The float the HPA controller uses for a quantity: ``Quantity.AsApproximateFloat64()``.

    Upstream reads ``behavior.scaleUp/scaleDown.tolerance`` this way (``tolerancesForHpa``
    in ``horizontal.go``), not as the exact decimal: the quantity's integer mantissa times
    ``math.Pow10(exponent)`` in float64, so ``700m`` is ``700 * (1 / 1e3)`` =
    0.7000000000000001 and ``820m`` is 0.8200000000000001. The HPA reaches the controller
    through the API server, which stores and serves the quantity as its canonical text
    (``String()``: ``0.7`` → ``700m``, ``7e-1`` → ``700e-3``, ``1.5`` → ``1500m``), so this
    is ``AsApproximateFloat64`` of ``ParseQuantity`` of that canonical text:

    * the value is rounded up (away from zero) to a multiple of 1n, as ``ParseQuantity``
      does with finer text;
    * canonical decimal text: all factors of ten moved into the exponent, then the
      exponent lowered to a multiple of three (mantissa ``m``, exponent ``e``); a
      binary-SI quantity of at least 1Ki that is a whole number keeps a base-1024 form;
    * parsed back, a mantissa of at most 18 digits is an ``int64Amount``: the result is
      ``float(m)`` when ``e == 0``, else ``float(m) * Pow10(e)``; a longer one (or a
      binary-SI text too long for the int64 path) is an ``inf.Dec`` at scale 9:
      ``float(value * 1e9) * Pow10(-9)``.

    ``Pow10(n)`` follows Go's ``math.Pow10``: ``1e(32k) * 1e(r)`` for n ≥ 0 and
    ``1e-(32k) / 1e(r)`` for n < 0 (n = 32k + r), each factor the float64 nearest the
    power of ten. Raises ``ValueError`` as :func:`parse_api_quantity` does.
    """
    exact = parse_api_quantity(value)
    if exact == 0:
        return 0.0
    sign = -1.0 if exact < 0 else 1.0
    magnitude = _round_up_to_nano(abs(exact))
    binary = isinstance(value, str) and _BINARY_TEXT_RE.search(value) is not None
    if binary and magnitude >= 1024 and magnitude.denominator == 1:
        return sign * _binary_canonical_float(magnitude.numerator)
    mantissa, exponent = _canonical_decimal(magnitude)
    if len(str(mantissa)) <= _INT64_DIGITS:
        base = float(mantissa)
        return sign * (base if exponent == 0 else base * _go_pow10(exponent))
    return sign * (float(mantissa * 10 ** (exponent + 9)) * _go_pow10(-9))


def _round_up_to_nano(magnitude: Fraction) -> Fraction:
    """``ParseQuantity``'s ``Round(amount, Nano, RoundUp)`` of a positive value."""
    return Fraction(math.ceil(magnitude / _NANO)) * _NANO


def _canonical_decimal(magnitude: Fraction) -> tuple[int, int]:
    """``AsCanonicalBytes``: ``(mantissa, exponent)`` with exponent a multiple of 3.

    ``magnitude`` is positive and a multiple of 1n, so the exponent is at least -9.
    """
    mantissa, exponent = int(magnitude / _NANO), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3  # Python's % floors: the exponent goes down to a multiple of 3
    return mantissa * 10**shift, exponent - shift


def _binary_canonical_float(value: int) -> float:
    """A whole binary-SI quantity ≥ 1Ki through its canonical ``<n>Ki|Mi|…`` text.

    ``AsCanonicalBase1024Bytes`` takes every factor 1024 out (``n``, ``k`` of them).
    ``k = 0`` is written without a suffix and parsed back as a plain decimal integer;
    otherwise ``ParseQuantity`` takes the int64 path when ``15 - digits(n) - 3k - 1 >= 0``
    (exponent 0: the float of the integer) and the ``inf.Dec`` path (scale 9) when not.
    """
    mantissa, times = value, 0
    while mantissa >= 1024 and mantissa % 1024 == 0:
        mantissa //= 1024
        times += 1
    if times == 0 or 15 - len(str(mantissa)) - 3 * times - 1 >= 0:
        return float(value)
    return float(value * 10**9) * _go_pow10(-9)


def _go_pow10(n: int) -> float:
    """Go's ``math.Pow10(n)`` bit for bit (``src/math/pow10.go``).

    Go builds it from two tables of float64 constants (each the nearest float64 to its
    power of ten): ``10^(32k) * 10^r`` for 0 ≤ n ≤ 308, ``10^-(32k) / 10^r`` for
    -323 ≤ n < 0, with n = ±(32k + r); +Inf above, 0 below.
    """
    if 0 <= n <= 308:
        return float(f"1e{32 * (n // 32)}") * float(f"1e{n % 32}")
    if -323 <= n < 0:
        return float(f"1e-{32 * (-n // 32)}") / float(f"1e{-n % 32}")
    return math.inf if n > 0 else 0.0
