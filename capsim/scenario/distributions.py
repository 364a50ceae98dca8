"""Duration distributions for scenario fields (boot, provisioning, start-up, job length).

In YAML a distribution is either a plain duration (a constant: ``30s``) or a mapping
with ``distribution:`` and its parameters, durations in any unit
``capsim.units.parse_duration_s`` reads::

    boot: 40s                                          # constant
    boot: {distribution: lognormal, median: 35s, p99: 90s}
    boot: {distribution: exponential, mean: 20s}
    boot: {distribution: shifted_exponential, min: 25s, mean: 40s}
    boot: {distribution: uniform, low: 20s, high: 60s}

Real delays have long tails: prefer lognormal or shifted exponential to a constant (the
defaults in ``docs/scenario-reference.md`` are lognormal).
Sampling takes a ``numpy.random.Generator`` (no global state) and returns seconds.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BeforeValidator, Field, model_validator

from capsim.scenario.fields import Seconds, StrictModel

__all__ = [
    "Constant",
    "Distribution",
    "Exponential",
    "LogNormal",
    "ShiftedExponential",
    "Uniform",
]

_Z99 = 2.3263478740408408  # standard normal quantile at 0.99


class _Dist(StrictModel):
    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def draw(self, rng: np.random.Generator) -> float:
        """One sample: ``sample(rng, 1)[0]``, the same number from the same stream, without
        an array (the engine draws start-up delays one pod at a time)."""
        return float(self.sample(rng, 1)[0])

    @property
    def mean_s(self) -> float:
        raise NotImplementedError  # pragma: no cover

    @property
    def median_s(self) -> float:
        """The median, seconds (what half the samples stay under)."""
        raise NotImplementedError  # pragma: no cover


class Constant(_Dist):
    """Always ``value`` seconds."""

    distribution: Literal["constant"] = "constant"
    value: Seconds

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        return np.full(size, self.value)

    def draw(self, rng: np.random.Generator) -> float:
        return float(self.value)

    @property
    def mean_s(self) -> float:
        return self.value

    @property
    def median_s(self) -> float:
        return self.value


class LogNormal(_Dist):
    """Lognormal with the given ``median`` and 99th percentile ``p99`` (p99 ≥ median)."""

    distribution: Literal["lognormal"]
    median: Seconds = Field(gt=0)
    p99: Seconds

    @model_validator(mode="after")
    def _p99_above_median(self) -> LogNormal:
        if self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99:g} s) must be >= median ({self.median:g} s)")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / _Z99

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        return rng.lognormal(math.log(self.median), self.sigma, size)

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(math.log(self.median), self.sigma))

    @property
    def mean_s(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    @property
    def median_s(self) -> float:
        return self.median


class Exponential(_Dist):
    """Exponential with the given ``mean``."""

    distribution: Literal["exponential"]
    mean: Seconds = Field(gt=0)

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        return rng.exponential(self.mean, size)

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean))

    @property
    def mean_s(self) -> float:
        return self.mean

    @property
    def median_s(self) -> float:
        return self.mean * math.log(2)


class ShiftedExponential(_Dist):
    """``min`` plus an exponential, with overall ``mean`` (mean > min)."""

    distribution: Literal["shifted_exponential"]
    min: Seconds
    mean: Seconds

    @model_validator(mode="after")
    def _mean_above_min(self) -> ShiftedExponential:
        if self.mean <= self.min:
            raise ValueError(f"mean ({self.mean:g} s) must be > min ({self.min:g} s)")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        return self.min + rng.exponential(self.mean - self.min, size)

    @property
    def mean_s(self) -> float:
        return self.mean

    @property
    def median_s(self) -> float:
        return self.min + (self.mean - self.min) * math.log(2)


class Uniform(_Dist):
    """Uniform between ``low`` and ``high``."""

    distribution: Literal["uniform"]
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g} s) must be >= low ({self.low:g} s)")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        return rng.uniform(self.low, self.high, size)

    @property
    def mean_s(self) -> float:
        return (self.low + self.high) / 2

    @property
    def median_s(self) -> float:
        return (self.low + self.high) / 2


def _constant_from_scalar(value: Any) -> Any:
    """A plain duration is a constant distribution."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"distribution": "constant", "value": value}
    return value


Distribution = Annotated[
    Constant | LogNormal | Exponential | ShiftedExponential | Uniform,
    BeforeValidator(_constant_from_scalar),
    Field(discriminator="distribution"),
]
"""A duration distribution field (see the module docstring for the YAML forms)."""
