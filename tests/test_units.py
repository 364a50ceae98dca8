"""Quantities and durations: hand-checked values, errors, and format → parse round trips."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capsim.units import (
    format_cpu_millicores,
    format_duration,
    format_memory_bytes,
    parse_cpu_millicores,
    parse_duration_s,
    parse_memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("500m", 500),
        ("1.5", 1500),
        ("2", 2000),
        (2, 2000),
        (0.25, 250),
        ("1e3", 1_000_000),
        ("100n", 1),  # 0.0000001 cores: MilliValue rounds up
        ("250000u", 250),
        (".5", 500),
        ("1k", 1_000_000),
        ("0", 0),
    ],
)
def test_cpu_millicores(text: str | int | float, millicores: int) -> None:
    assert parse_cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2Gi", 2 * 1024**3),
        ("512Mi", 512 * 1024**2),
        ("64Ki", 65536),
        ("1G", 10**9),
        ("1.5Gi", 1536 * 1024**2),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("123Mi", 128974848),
        ("1Ei", 2**60),
        ("0.5", 1),  # half a byte rounds up
    ],
)
def test_memory_bytes(text: str, size: int) -> None:
    assert parse_memory_bytes(text) == size


def test_quantity_is_exact() -> None:
    assert parse_quantity("0.1") == Fraction(1, 10)
    assert parse_quantity("-1.5Ki") == Fraction(-1536)
    assert parse_quantity("1E-2") == Fraction(1, 100)


@pytest.mark.parametrize("bad", ["", "abc", "1.5.2", "1 Gi", "Gi", "1gi", "1KiB", "--1", "1e", "m"])
def test_bad_quantity_names_the_text(bad: str) -> None:
    with pytest.raises(ValueError, match="not a quantity") as info:
        parse_quantity(bad)
    assert repr(bad) in str(info.value)


def test_negative_resources_rejected() -> None:
    with pytest.raises(ValueError, match="'-500m'"):
        parse_cpu_millicores("-500m")
    with pytest.raises(ValueError, match="must not be negative"):
        parse_memory_bytes("-1Gi")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("24h", 86400.0),
        ("7d", 604800.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s", 93784.0),
        ("300", 300.0),
        ("1.5", 1.5),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        (45, 45.0),
        (2.5, 2.5),
        ("2w", 1209600.0),
    ],
)
def test_durations(text: str | int | float, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "abc", "10x", "30m1h", "1h1h", "-5s", "5 s", "h", -1, "1h-5m"])
def test_bad_duration_names_the_text(bad: str | int) -> None:
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration_s(bad)
    assert repr(bad) in str(info.value)


def test_formatting_examples() -> None:
    assert format_cpu_millicores(500) == "500m"
    assert format_cpu_millicores(2000) == "2"
    assert format_memory_bytes(512 * 1024**2) == "512Mi"
    assert format_memory_bytes(2 * 1024**3) == "2Gi"
    assert format_memory_bytes(1000) == "1000"
    assert format_duration(5400) == "1h30m"
    assert format_duration(90.5) == "1m30.5s"
    assert format_duration(0) == "0s"
    assert format_duration(7 * 86400) == "7d"


@given(st.integers(min_value=0, max_value=10**12))
def test_cpu_round_trip(millicores: int) -> None:
    assert parse_cpu_millicores(format_cpu_millicores(millicores)) == millicores


@given(st.integers(min_value=0, max_value=2**62))
def test_memory_round_trip(size: int) -> None:
    assert parse_memory_bytes(format_memory_bytes(size)) == size


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_round_trip_whole_seconds(seconds: int) -> None:
    assert parse_duration_s(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from([0.25, 0.5, 0.75, 0.125]))
def test_duration_round_trip_fractions(seconds: int, fraction: float) -> None:
    value = seconds + fraction
    assert parse_duration_s(format_duration(value)) == value


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["", "m", "k", "M", "Ki", "Mi", "Gi", "n", "u"]),
)
def test_quantity_suffix_scales(number: int, suffix: str) -> None:
    factors: dict[str, Fraction | int] = {
        "": 1,
        "m": Fraction(1, 1000),
        "k": 1000,
        "M": 10**6,
        "Ki": 1024,
        "Mi": 1024**2,
        "Gi": 1024**3,
        "n": Fraction(1, 10**9),
        "u": Fraction(1, 10**6),
    }
    assert parse_quantity(f"{number}{suffix}") == number * factors[suffix]


def test_a_duration_too_long_to_hold_is_refused_not_infinite() -> None:
    """400 digits of seconds overflow a float to inf: refused, not returned as inf."""
    from capsim.units import parse_duration_s

    for text in ("9" * 400, "9" * 400 + "s", "1" + "0" * 320 + "d"):
        with pytest.raises(ValueError, match="too long to hold in seconds"):
            parse_duration_s(text)


def test_a_quantity_exponent_or_length_beyond_the_bound_is_refused_at_once() -> None:
    """``1e999999999`` would build a billion-digit integer (minutes, gigabytes)."""
    import time

    from capsim.units import parse_quantity

    started = time.monotonic()
    with pytest.raises(ValueError, match=r"the exponent is beyond ±1000"):
        parse_quantity("1e999999999")
    with pytest.raises(ValueError, match="is longer than 100 characters"):
        parse_quantity("1" * 101)
    assert time.monotonic() - started < 1.0
    assert parse_quantity("1e400") == 10**400  # within the bound: exact, as before
