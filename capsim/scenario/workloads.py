"""Workloads: request-driven services and batch job streams (the load side of a scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from capsim.scenario.base import FrozenModel, Name
from capsim.scenario.distributions import Distribution
from capsim.scenario.fields import Bytes, Millicores, PositiveSeconds, Seconds
from capsim.scenario.load import LoadSpec

__all__ = ["BatchArrivals", "BatchWorkload", "ServiceWorkload", "Slo", "Workload"]


class Slo(FrozenModel):
    """Service-level objective: p95 latency, and optionally a maximum error (drop) rate."""

    p95_latency_ms: float = Field(gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)


class ServiceWorkload(FrozenModel):
    """A request-driven service: load, CPU per request, memory, concurrency, timeout, SLO."""

    kind: Literal["service"]
    name: Name
    load: LoadSpec
    cpu_ms_per_request: float = Field(gt=0)
    memory_mib: float = Field(default=256.0, ge=0)
    memory_mib_per_request: float = Field(default=0.0, ge=0)
    concurrency: int = Field(default=1, ge=1)
    idle_cpu_millicores: Millicores = Field(default=0, alias="idle_cpu")
    timeout_s: PositiveSeconds = Field(default=30.0, alias="timeout")
    slo: Slo | None = None


class BatchArrivals(FrozenModel):
    """Job submissions: a Poisson rate per hour, explicit submit times, or a CSV file with
    a column of submit times in seconds from the start of the run."""

    poisson_per_hour: float | None = Field(default=None, gt=0)
    times_s: tuple[Seconds, ...] | None = Field(default=None, alias="times")
    path: Path | None = None
    column: str = "submit_s"

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchArrivals:
        given = [self.poisson_per_hour, self.times_s, self.path]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of poisson_per_hour, times and path")
        if self.times_s is not None and list(self.times_s) != sorted(self.times_s):
            raise ValueError("times must be in increasing order")
        return self


class BatchWorkload(FrozenModel):
    """A stream of jobs, each of ``workers`` tasks; ``gang`` jobs start all or nothing."""

    kind: Literal["batch"]
    name: Name
    arrivals: BatchArrivals
    workers: int = Field(default=1, ge=1)
    cpu_millicores: Millicores = Field(alias="cpu")
    memory_bytes: Bytes = Field(alias="memory")
    gpu: int = Field(default=0, ge=0)
    duration: Distribution
    gang: bool = False
    priority: int = 0


Workload = Annotated[ServiceWorkload | BatchWorkload, Field(discriminator="kind")]
