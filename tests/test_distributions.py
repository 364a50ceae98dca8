"""Duration distributions: YAML forms, parameters, sampled moments, and bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from capsim.scenario.distributions import Constant, Distribution, LogNormal


class Holder(BaseModel):
    delay: Distribution


def parse(value: object) -> Holder:
    return Holder.model_validate({"delay": value})


def test_plain_duration_is_constant() -> None:
    holder = parse("1m30s")
    assert holder.delay == Constant(value=90.0)
    assert parse(45).delay.mean_s == 45.0
    rng = np.random.default_rng(0)
    assert np.all(holder.delay.sample(rng, 5) == 90.0)


@pytest.mark.parametrize(
    ("spec", "mean"),
    [
        ({"distribution": "exponential", "mean": "20s"}, 20.0),
        ({"distribution": "shifted_exponential", "min": "25s", "mean": "40s"}, 40.0),
        ({"distribution": "uniform", "low": "20s", "high": "1m"}, 40.0),
        # median 35 s, p99 90 s → σ = ln(90/35)/2.3263 = 0.4060; mean = 35·e^{σ²/2} = 37.98
        ({"distribution": "lognormal", "median": "35s", "p99": "90s"}, 37.98),
    ],
)
def test_sampled_mean_matches(spec: dict[str, str], mean: float) -> None:
    dist = parse(spec).delay
    assert dist.mean_s == pytest.approx(mean, rel=1e-3)
    samples = dist.sample(np.random.default_rng(1), 200_000)
    assert samples.mean() == pytest.approx(mean, rel=0.01)
    assert samples.min() >= 0


def test_lognormal_quantiles() -> None:
    dist = parse({"distribution": "lognormal", "median": "35s", "p99": "90s"}).delay
    assert isinstance(dist, LogNormal)
    samples = dist.sample(np.random.default_rng(2), 400_000)
    assert np.median(samples) == pytest.approx(35.0, rel=0.01)
    assert np.quantile(samples, 0.99) == pytest.approx(90.0, rel=0.02)
    assert dist.sigma == pytest.approx(math.log(90 / 35) / 2.3263478740408408)


def test_same_seed_same_samples() -> None:
    dist = parse({"distribution": "exponential", "mean": "20s"}).delay
    a = dist.sample(np.random.default_rng(7), 10)
    b = dist.sample(np.random.default_rng(7), 10)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"distribution": "lognormal", "median": "35s", "p99": "10s"}, "p99 (10 s) must be >="),
        ({"distribution": "shifted_exponential", "min": "40s", "mean": "40s"}, "must be > min"),
        ({"distribution": "uniform", "low": "1m", "high": "10s"}, "must be >= low"),
        ({"distribution": "gamma", "mean": "1s"}, "does not match any of the expected tags"),
        ({"distribution": "exponential", "mean": "soon"}, "not a duration: 'soon'"),
        ({"distribution": "exponential", "mean": "5s", "sd": 1}, "Extra inputs"),
        ("-5s", "not a duration"),
    ],
)
def test_bad_distributions(spec: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "45s",
        {"distribution": "exponential", "mean": "20s"},
        {"distribution": "shifted_exponential", "min": "25s", "mean": "40s"},
        {"distribution": "uniform", "low": "20s", "high": "1m"},
        {"distribution": "lognormal", "median": "35s", "p99": "90s"},
    ],
)
def test_one_draw_is_the_first_of_a_sample_from_the_same_stream(spec: object) -> None:
    """The engine draws start-up delays one at a time (``draw``): the same floats, from
    the same stream, as ``sample(rng, 1)[0]`` (what it drew before), so a run's outputs do
    not depend on which of the two it uses."""
    delay = parse(spec).delay
    one, many = np.random.default_rng(7), np.random.default_rng(7)
    drawn = [delay.draw(one) for _ in range(200)]
    sampled = [float(delay.sample(many, 1)[0]) for _ in range(200)]
    assert drawn == sampled
    assert all(type(x) is float for x in drawn)
    assert one.random() == many.random()  # the streams are at the same place after
