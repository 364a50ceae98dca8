"""``behavior.scaleUp/scaleDown.tolerance`` as the upstream HPA controller reads it.

Upstream (``horizontal.go`` ``tolerancesForHpa``) turns each tolerance quantity into a float
with ``Quantity.AsApproximateFloat64()``: the quantity's integer mantissa times Go's
``math.Pow10(exponent)``, where ``Pow10(-3)`` is ``1 / 1e3``. A usage ratio is then kept
when ``(1.0 - scaleDown) <= ratio && ratio <= (1.0 + scaleUp)`` (``replica_calculator.go``
``Tolerances.isWithin``: two separate comparisons, inclusive at both ends). So ``700m`` is
700 × 0.001 = 0.7000000000000001, not 0.7, and a usage ratio of exactly 0.30 is *inside* the
scale-down band (1 − 0.7000000000000001 = 0.29999999999999993 ≤ 0.30). With the exact decimal
(1 − 0.7 = 0.30000000000000004) it would scale down.

References, none computed by capsim:

* ``tests/reference/apimachinery_approximate_float64.tsv``: the floats the real apimachinery
  code gives, after the API server's store-and-serve round trip (its header says how it was
  made). The controller sees the canonical text: ``0.3`` is stored as ``300m``, so it reads
  300 × 0.001 = 0.3, not 3 × 0.1 = 0.30000000000000004.
* :data:`WRITTEN_OUT`: the arithmetic for the texts of the band tests, by hand.
* the band test itself, written here as upstream writes it (:func:`upstream_within`).
"""

from __future__ import annotations

import json
import math
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capsim import hpa
from capsim.cli.main import main
from capsim.fastpath import kernel
from capsim.hpa.behavior import Behavior, format_tolerance
from capsim.hpa.quantity import approximate_float64
from capsim.scenario.manifests import HpaTemplate

REFERENCE = Path(__file__).parent / "reference" / "apimachinery_approximate_float64.tsv"
NOW = 10_000.0
PODS = 10
REQUEST_MILLI = 1000
DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance


def float_bits(value: float) -> int:
    """The IEEE-754 binary64 bits of ``value`` (what Go's ``math.Float64bits`` prints)."""
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


def _load_reference() -> dict[str, tuple[str, int, int]]:
    """text → (canonical text, stored float bits, direct float bits)."""
    rows: dict[str, tuple[str, int, int]] = {}
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("#"):
            continue
        text, canonical, _shown, stored, direct = line.split("\t")
        rows[text] = (canonical, int(stored, 16), int(direct, 16))
    return rows


GO = _load_reference()


def go_float(text: str) -> float:
    """The float the controller compares with for ``text`` (from the Go reference)."""
    (value,) = struct.unpack("<d", struct.pack("<Q", GO[text][1]))
    return float(value)


# text: (canonical text the API server stores, its int64 mantissa, its exponent). Go's
# AsApproximateFloat64 is float64(mantissa) * math.Pow10(exponent), and for -31 <= n < 0
# math.Pow10(n) is 1 / 10^-n (pow10.go: pow10negtab32[0] / pow10tab[-n]).
WRITTEN_OUT: dict[str, tuple[str, int, int]] = {
    "700m": ("700m", 700, -3),
    "0.7": ("700m", 700, -3),  # 7 × 10^-1 canonicalized: exponent lowered to -3
    "7e-1": ("700e-3", 700, -3),
    "820m": ("820m", 820, -3),
    "0.82": ("820m", 820, -3),
    "570m": ("570m", 570, -3),
    "100m": ("100m", 100, -3),
    "0.1": ("100m", 100, -3),
    "50m": ("50m", 50, -3),
    "0.05": ("50m", 50, -3),
    "0.3": ("300m", 300, -3),
    "1": ("1", 1, 0),
    "1500m": ("1500m", 1500, -3),
    "1.5": ("1500m", 1500, -3),
    "1n": ("1n", 1, -9),
}


def written_out(mantissa: int, exponent: int) -> float:
    if exponent == 0:
        return float(mantissa)  # AsApproximateFloat64 returns the base unchanged
    return float(mantissa) * (1.0 / float(10 ** (-exponent)))


def upstream_within(ratio: float, scale_down: float, scale_up: float) -> bool:
    """``Tolerances.isWithin`` of ``replica_calculator.go``."""
    return (1.0 - scale_down) <= ratio and ratio <= (1.0 + scale_up)


# --- the float ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", sorted(WRITTEN_OUT))
def test_written_out_arithmetic_matches_go_and_capsim(text: str) -> None:
    canonical, mantissa, exponent = WRITTEN_OUT[text]
    expected = written_out(mantissa, exponent)
    assert GO[text][0] == canonical
    assert float_bits(expected) == GO[text][1]
    assert float_bits(approximate_float64(text)) == GO[text][1]


def test_the_issue_examples() -> None:
    assert approximate_float64("700m") == 0.7000000000000001
    assert approximate_float64("820m") == 0.8200000000000001
    assert approximate_float64("700m") != float(Fraction(7, 10))


def test_every_reference_row_bit_for_bit() -> None:
    compared = 0
    refusals: list[str] = []
    for text, (_canonical, stored, _direct) in GO.items():
        try:
            value = approximate_float64(text)
        except ValueError as exc:
            refusals.append(str(exc))
            continue
        assert float_bits(value) == stored, (text, value)
        compared += 1
    assert compared >= 2300
    # capsim refuses only what the HPA's MilliValue() cannot hold (upstream caps it).
    assert len(refusals) < 100
    assert all("must be at most 9223372036854775807m" in message for message in refusals)


def test_the_canonical_text_decides_not_the_written_one() -> None:
    # "0.3" is int64Amount{3, -1} as written (3 × 0.1 = 0.30000000000000004) but the API
    # server stores "300m", and 300 × 0.001 = 0.3 is what the controller reads.
    canonical, stored, direct = GO["0.3"]
    assert canonical == "300m"
    assert direct == float_bits(3 * (1.0 / 10.0)) != stored
    assert float_bits(approximate_float64("0.3")) == stored
    assert approximate_float64("0.3") == 0.3
    differs = [text for text, row in GO.items() if row[1] != row[2]]
    assert len(differs) >= 5  # the round trip matters for more texts than this one


def test_yaml_numbers_read_as_their_text() -> None:
    # kubectl sends a YAML number as JSON, and Go's ParseQuantity reads its decimal text.
    assert float_bits(approximate_float64(0.7)) == GO["0.7"][1]
    assert float_bits(approximate_float64(0.05)) == GO["0.05"][1]
    assert float_bits(approximate_float64(1)) == GO["1"][1]
    assert approximate_float64(0) == 0.0


@given(st.integers(1, 10**9), st.sampled_from([(3, "m"), (6, "u"), (9, "n")]))
def test_within_two_ulps_of_the_exact_decimal(count: int, unit: tuple[int, str]) -> None:
    digits, suffix = unit
    exact = Fraction(count, 10**digits)
    value = approximate_float64(f"{count}{suffix}")
    assert abs(Fraction(value) - exact) <= 2 * Fraction(math.ulp(float(exact)))


# --- the manifest and scenario paths ------------------------------------------------------


def test_behavior_and_scenario_templates_carry_the_upstream_float() -> None:
    spec = {"scaleUp": {"tolerance": "820m"}, "scaleDown": {"tolerance": "0.7"}}
    behavior = Behavior.from_spec(spec)
    assert behavior is not None
    template = HpaTemplate.model_validate({"maxReplicas": 10, "behavior": spec})
    for parsed in (behavior, template.parsed_behavior):
        assert parsed is not None
        assert parsed.scale_up.tolerance is not None
        assert parsed.scale_down.tolerance is not None
        assert float_bits(parsed.scale_up.tolerance) == GO["820m"][1]
        assert float_bits(parsed.scale_down.tolerance) == GO["0.7"][1]


def test_negative_tolerances_are_still_refused() -> None:
    with pytest.raises(ValueError, match=r"^scaleDown\.tolerance: must be greater than or equal"):
        Behavior.from_spec({"scaleDown": {"tolerance": "-700m"}})
    with pytest.raises(ValueError, match=r"^scaleUp\.tolerance: must be greater than or equal"):
        Behavior.from_spec({"scaleUp": {"tolerance": "-1e-12"}})  # rounds to -1n upstream


# --- the band edges, through every calculator ---------------------------------------------

# (tolerance text, side it is set on, utilization % at a 100 % target, inside the band
# upstream, exact decimal decides the other way). The other side keeps the 0.1 default.
EDGES = [
    ("700m", "down", 30, True, True),  # 1 - 0.7000000000000001 = 0.29999999999999993 <= 0.3
    ("700m", "down", 29, False, False),
    ("0.7", "down", 30, True, True),
    ("7e-1", "down", 30, True, True),
    ("700m", "up", 170, True, False),  # 1 + 0.7000000000000001 = 1.7000000000000002
    ("700m", "up", 171, False, False),
    ("820m", "up", 182, True, True),  # 1 + 0.8200000000000001 = 1.82; exact: 1.8199999999999998
    ("0.82", "up", 182, True, True),
    ("820m", "up", 183, False, False),
    ("820m", "down", 18, True, True),  # 0.17999999999999994 <= 0.18; exact: 0.18000000000000005
    ("820m", "down", 17, False, False),
    ("570m", "up", 157, True, True),
    ("570m", "down", 43, True, True),
    ("100m", "down", 90, True, False),
    ("100m", "down", 89, False, False),
    ("100m", "up", 110, True, False),
    ("100m", "up", 111, False, False),
    ("50m", "down", 95, True, False),
    ("50m", "down", 94, False, False),
    ("50m", "up", 105, True, False),
    ("0.05", "up", 105, True, False),
    ("50m", "up", 106, False, False),
]


def _tolerances(text: str, side: str) -> tuple[float, float, Behavior]:
    """(scale_down, scale_up, behavior) with ``text`` on ``side``, the default on the other."""
    key = "scaleDown" if side == "down" else "scaleUp"
    behavior = Behavior.from_spec({key: {"tolerance": text}})
    assert behavior is not None
    down = behavior.scale_down.tolerance
    up = behavior.scale_up.tolerance
    return (
        DEFAULT_TOLERANCE if down is None else down,
        DEFAULT_TOLERANCE if up is None else up,
        behavior,
    )


def _exact(text: str) -> float:
    _canonical, mantissa, exponent = WRITTEN_OUT[text]
    return float(Fraction(mantissa) * Fraction(10) ** exponent)


@pytest.mark.parametrize(("text", "side", "utilization", "inside", "exact_differs"), EDGES)
def test_band_edge_decisions(
    text: str, side: str, utilization: int, inside: bool, exact_differs: bool
) -> None:
    tolerance = go_float(text)
    down, up, _ = _tolerances(text, side)
    ratio = utilization / 100  # float64(currentUtilization) / float64(targetUtilization)
    expected_down = tolerance if side == "down" else DEFAULT_TOLERANCE
    expected_up = tolerance if side == "up" else DEFAULT_TOLERANCE
    assert upstream_within(ratio, expected_down, expected_up) is inside
    exact = _exact(text)
    exact_inside = upstream_within(
        ratio,
        exact if side == "down" else DEFAULT_TOLERANCE,
        exact if side == "up" else DEFAULT_TOLERANCE,
    )
    assert (exact_inside != inside) is exact_differs
    expected = PODS if inside else math.ceil(ratio * PODS)

    usage_each = utilization * REQUEST_MILLI // 100
    pods = [
        hpa.PodInfo(
            f"p{i}",
            request_milli=REQUEST_MILLI,
            start_time=NOW - 3600,
            ready_transition_time=NOW - 3000,
        )
        for i in range(PODS)
    ]
    samples = {pod.name: hpa.MetricSample(usage_each, NOW - 5, 30.0) for pod in pods}
    tolerances = hpa.Tolerances(scale_down=down, scale_up=up)

    scalar = hpa.resource_replicas(
        PODS, pods, samples, target_utilization=100, tolerances=tolerances, now=NOW
    )
    assert scalar.utilization == utilization
    assert scalar.replicas == expected
    assert scalar.path == ("within-tolerance" if inside else "ready-pods")

    # AverageValue form of the same ratio: average 10·u milli against a 1000m target.
    average = hpa.resource_replicas(
        PODS,
        pods,
        samples,
        target_average_value_milli=REQUEST_MILLI,
        tolerances=tolerances,
        now=NOW,
    )
    assert average.replicas == expected
    pods_metric = hpa.pods_metric_replicas(
        PODS,
        pods,
        samples,
        target_average_value_milli=REQUEST_MILLI,
        tolerances=tolerances,
        now=NOW,
    )
    assert pods_metric.replicas == expected

    counts = hpa.resource_replicas_counts(
        PODS,
        PODS,
        0,
        0,
        usage_each * PODS,
        REQUEST_MILLI,
        target_utilization=100,
        tolerance_up=up,
        tolerance_down=down,
    )
    assert counts == (expected, True)

    batch = hpa.resource_replicas_batch(
        [PODS],
        [PODS],
        [0],
        [0],
        [usage_each * PODS],
        [REQUEST_MILLI],
        target_utilization=100,
        tolerance_up=np.array([up]),
        tolerance_down=np.array([down]),
    )
    assert batch.replicas.tolist() == [expected]

    # The compiled calculator (the fast path's kernel and the engine's HPA sync).
    for utilization_target, target in ((True, 100), (False, REQUEST_MILLI)):
        replicas = kernel._replicas(
            PODS,
            PODS,
            0,
            0,
            usage_each * PODS,
            REQUEST_MILLI,
            target,
            utilization_target,
            up,
            down,
        )
        assert int(replicas) == expected
    # and the float capsim compared with is upstream's, bit for bit
    assert float_bits(down if side == "down" else up) == float_bits(tolerance)


# --- what users see -----------------------------------------------------------------------


def test_format_tolerance_shows_the_canonical_text() -> None:
    milli_rows = [text for text in GO if text.endswith("m") and text[:-1].isdigit()]
    assert len(milli_rows) > 1000
    for text in milli_rows:
        shown = format_tolerance(approximate_float64(text))
        assert shown == GO[text][0], text  # the API server's own canonical text
        assert float_bits(approximate_float64(shown)) == GO[text][1], text


def test_format_tolerance_round_trips_every_reference_tolerance() -> None:
    checked = 0
    for text, (_canonical, stored, _direct) in GO.items():
        try:
            value = approximate_float64(text)
        except ValueError:
            continue
        if not 0 <= value <= 1000:  # tolerances, not memory sizes
            continue
        assert float_bits(approximate_float64(format_tolerance(value))) == stored, text
        checked += 1
    assert checked > 2000


@given(st.integers(0, 10**10), st.sampled_from(["m", "u", "n"]))
def test_parse_format_parse_is_stable(count: int, suffix: str) -> None:
    value = approximate_float64(f"{count}{suffix}")
    assert approximate_float64(format_tolerance(value)) == value


def test_controller_flag_floats_are_shown_as_before() -> None:
    # --horizontal-pod-autoscaler-tolerance is a plain float (0.7, not 0.7000000000000001).
    assert [format_tolerance(x) for x in (0.1, 0.7, 0.82, 1.0, 0.0, 1.5, 0.05)] == [
        "100m",
        "700m",
        "820m",
        "1",
        "0",
        "1500m",
        "50m",
    ]


def test_to_spec_round_trip() -> None:
    behavior = Behavior.from_spec(
        {"scaleUp": {"tolerance": "820m"}, "scaleDown": {"tolerance": "0.7"}}
    )
    assert behavior is not None
    spec = behavior.to_spec()
    assert (spec["scaleUp"]["tolerance"], spec["scaleDown"]["tolerance"]) == ("820m", "700m")
    assert Behavior.from_spec(spec) == behavior


HPA_YAML = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 10
  behavior:
    scaleUp: {tolerance: 820m}
    scaleDown: {tolerance: "0.7"}
"""


def test_explain_shows_the_band_and_the_quantities(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(HPA_YAML)
    assert main(["hpa", "explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "stays within [0.30, 1.82] (spec.behavior tolerance" in out
    assert "tolerance: 820m" in out
    assert "tolerance: 700m" in out
    assert main(["hpa", "explain", str(path), "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    behavior = data["hpas"][0]["behavior"]
    assert (behavior["scaleUp"]["tolerance"], behavior["scaleDown"]["tolerance"]) == (
        "820m",
        "700m",
    )
