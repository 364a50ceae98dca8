"""Workloads: request-driven services and batch job streams (the load side of a scenario).

Numbers are bounded as :mod:`capsim.scenario.limits` lists (``cpu_ms_per_request`` from
1 µs to 1 h, ``concurrency`` up to 1,000, ``workers`` up to 100,000, …)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from capsim.models.service import ROUTING, service_params
from capsim.scenario.base import FrozenModel, Name
from capsim.scenario.distributions import Distribution
from capsim.scenario.fields import (
    Bytes,
    Float,
    Int,
    Millicores,
    PositiveMillicores,
    PositiveSeconds,
    RelativePath,
    Seconds,
    in_document,
)
from capsim.scenario.limits import (
    CPU_MS_PER_REQUEST_MAX,
    CPU_MS_PER_REQUEST_MIN,
    MAX_BACKOFF_S,
    MAX_CONCURRENCY,
    MAX_DISPERSION_INDEX,
    MAX_GPU,
    MAX_LATENCY_MS,
    MAX_MEMORY_MIB,
    MAX_PRIORITY,
    MAX_QUEUE_LIMIT,
    MAX_RATE,
    MAX_RETRIES,
    MAX_WORKERS,
)
from capsim.scenario.llm import LlmServing
from capsim.scenario.load import LoadSpec
from capsim.scenario.slo_defaults import DEFAULT_SLO_OBJECTIVE_PCT, DEFAULT_SLO_WINDOW_S

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "Arrivals",
    "BatchArrivals",
    "BatchWorkload",
    "Retries",
    "ServiceTime",
    "ServiceWorkload",
    "Slo",
    "Workload",
]


class Slo(FrozenModel):
    """A service's SLO (:mod:`capsim.models.slo` judges a run against it):

    * latency: p95 ≤ ``p95_latency_ms`` in at least ``objective_pct`` % (default 99) of
      the ``window``-long windows of the run (default 5 minutes; a whole number of ticks)
      that served requests;
    * errors, with ``max_error_rate``: at most that share of the requests that arrived
      fail (refused, dropped, timed out or abandoned, after any retries) over the run.
    """

    p95_latency_ms: Float = Field(gt=0, le=MAX_LATENCY_MS)
    window_s: PositiveSeconds = Field(default=DEFAULT_SLO_WINDOW_S, alias="window")
    objective_pct: Float = Field(default=DEFAULT_SLO_OBJECTIVE_PCT, gt=0, le=100)
    max_error_rate: Float | None = Field(default=None, ge=0, le=1)
    p95_ttft_ms: Float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)
    """LLM services: p95 of the time to first token ≤ this, judged per window as the
    latency is."""
    p95_tpot_ms: Float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)
    """LLM services: p95 of the time per output token (after the first) ≤ this, judged
    per window as the latency is (requests of one output token have none)."""


MAX_SERVICE_TIME_CV = 10.0
"""Largest coefficient of variation of a request's work (beyond it one request in a
million would hold the replica for hours)."""


MAX_MODELLED_CV = 1.0
"""Largest ``cv`` the expected model takes: above it a two-moment model of the waits puts
p99 far too low (−42 % for lognormal work of cv 2 at ρ 0.6 against Ciw). More variable
work needs ``service_model: exact`` (checked by the scenario, which knows the mode)."""


class ServiceTime(FrozenModel):
    """The shape of a request's CPU work around its mean (``cpu_ms_per_request``).

    ``exponential`` (the default; coefficient of variation 1), ``deterministic`` (every
    request the same), ``lognormal`` and ``gamma`` with a coefficient of variation ``cv``
    (standard deviation over mean), ``empirical``: measured CPU milliseconds per request
    in ``column`` (default ``cpu_ms``) of the CSV file ``path``, whose mean must be
    ``cpu_ms_per_request`` (:mod:`capsim.scenario.work_samples`). The expected service
    model uses the first two moments (mean and ``cv``): see ``README.md`` › *The service
    model* for what that means; it takes a ``cv`` of at most 1 (:data:`MAX_MODELLED_CV`).
    ``service_model: exact`` draws every request's work from the distribution itself and
    takes any ``cv`` up to :data:`MAX_SERVICE_TIME_CV`.
    """

    distribution: Literal["exponential", "deterministic", "lognormal", "gamma", "empirical"] = (
        "exponential"
    )
    cv: Float | None = Field(default=None, gt=0, le=MAX_SERVICE_TIME_CV)
    path: RelativePath | None = None
    column: str = "cpu_ms"
    samples: Int | None = Field(default=None, ge=2)
    """``empirical``: how many samples the file held (set while the scenario loads)."""

    @model_serializer(mode="wrap")
    def _as_written(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Written back as a scenario file (:mod:`capsim.scenario.document`), an empirical
        shape leaves out ``cv`` and ``samples``: loading reads them from the file again
        (and refuses them written)."""
        data: dict[str, Any] = handler(self)
        if self.distribution == "empirical" and in_document(info) is not None:
            data.pop("cv", None)
            data.pop("samples", None)
        return data

    @model_validator(mode="after")
    def _cv_where_it_belongs(self) -> ServiceTime:
        if self.distribution == "empirical":
            if self.path is None:
                raise ValueError("path: the empirical distribution needs a file of samples")
            if self.cv is not None or self.samples is not None:
                raise ValueError("cv: the empirical distribution takes its cv from the samples")
            return self
        if self.path is not None:
            raise ValueError(
                f"path: only the empirical distribution reads samples, not {self.distribution}"
            )
        if self.distribution in ("exponential", "deterministic") and self.cv is not None:
            raise ValueError(
                f"cv: the {self.distribution} distribution has no cv to set, got {self.cv}"
            )
        if self.distribution in ("lognormal", "gamma") and self.cv is None:
            raise ValueError(f"cv: the {self.distribution} distribution needs its cv (e.g. 0.5)")
        return self

    @property
    def scv(self) -> float:
        """Squared coefficient of variation of the work."""
        if self.distribution == "exponential":
            return 1.0
        if self.distribution == "deterministic":
            return 0.0
        if self.cv is None:
            raise ValueError(
                "the empirical samples were not read (capsim.load_scenario reads them)"
            )
        return self.cv * self.cv


class Arrivals(FrozenModel):
    """How a service's requests arrive within each tick, around the load's mean rate.

    ``dispersion_index`` (``I``, default 1) is the burstiness knob: the arrivals form a
    renewal process whose gaps have squared coefficient of variation ``I`` (so its counts'
    long-run variance over mean is ``I``). ``1`` is a Poisson process (what independent
    clients give); above 1 the requests come in bursts (a two-phase hyperexponential gap
    with balanced means is the reference the accuracy table uses); below 1 they are more
    regular than Poisson (``0``: evenly spaced). The expected model takes ``I`` into the
    Allen–Cunneen factor of the waits and into the queue's build-up (README, *The service
    model*). Bursts longer than a tick belong in the load itself (a trace, a spike).
    """

    dispersion_index: Float = Field(default=1.0, ge=0, le=MAX_DISPERSION_INDEX)
    exact_counts: bool = False
    """The load's values times the tick are whole request counts (a trace of requests
    counted per tick, such as a per-second access log): ``service_model: exact`` replays
    each tick's count at uniformly random instants within the tick (what a Poisson
    process looks like given its count) instead of drawing the count; the expected model,
    which never draws counts, takes them as a Poisson process at that rate."""

    @model_validator(mode="after")
    def _counts_or_burstiness(self) -> Arrivals:
        if self.exact_counts and self.dispersion_index != 1.0:
            raise ValueError(
                "dispersion_index: exact_counts replays the counts, which fixes the "
                f"burstiness; leave dispersion_index at 1, got {self.dispersion_index:g}"
            )
        return self


class Retries(FrozenModel):
    """Client retries of a failed request (refused, or abandoned at the timeout).

    A failed attempt is retried up to ``max`` times (default 0: no retries); retry ``k``
    is sent a uniformly random time in ``[0, min(backoff · multiplier^(k−1),
    max_backoff)]`` after the failure ("full jitter", the AWS SDKs' default). A retry is a
    new arrival with the same work, so a struggling service sees more load: retry storms
    show in ``retry_rate``. A request whose last attempt fails counts in ``failed_rate``.
    Latency percentiles are per served attempt: they leave out the time a retried
    request's client spent on its earlier attempts and back-off (README, *The service
    model*).
    """

    max_retries: Int = Field(default=0, ge=0, le=MAX_RETRIES, alias="max")
    backoff_s: PositiveSeconds = Field(default=0.1, alias="backoff", le=MAX_BACKOFF_S)
    multiplier: Float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff_s: PositiveSeconds = Field(default=10.0, alias="max_backoff", le=MAX_BACKOFF_S)

    @model_validator(mode="after")
    def _cap_above_base(self) -> Retries:
        if self.max_backoff_s < self.backoff_s:
            raise ValueError(
                f"max_backoff: {self.max_backoff_s:g} s is shorter than backoff "
                f"({self.backoff_s:g} s)"
            )
        return self


@dataclass(frozen=True)
class ReplicaShape:
    """What one replica serves with (:meth:`ServiceWorkload.replica_shape`): the mean
    work of a request (s on one server), its slots, its servers (CPU cores, GPUs, or an
    LLM's batch: the requests that progress at full speed at once) and, for GPU and LLM
    services, the host CPU a request costs (s; None: the work is the CPU)."""

    work_s: float
    slots: float
    servers: float
    host_cpu_s: float | None


class ServiceWorkload(FrozenModel):
    """A request-driven service: load, CPU per request and its shape, memory, concurrency,
    a queue limit per replica (``queue_limit``: requests waiting beyond the slots; a full
    queue refuses the request, an error; default none, the timeout bounds the waits),
    timeout, the arrivals' burstiness, client retries, SLO."""

    kind: Literal["service"]
    name: Name
    load: LoadSpec
    cpu_ms_per_request: Float = Field(ge=CPU_MS_PER_REQUEST_MIN, le=CPU_MS_PER_REQUEST_MAX)
    memory_mib: Float = Field(default=256.0, ge=0, le=MAX_MEMORY_MIB)
    memory_mib_per_request: Float = Field(default=0.0, ge=0, le=MAX_MEMORY_MIB)
    concurrency: Int = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    idle_cpu_millicores: Millicores = Field(default=0, alias="idle_cpu")
    timeout_s: PositiveSeconds = Field(default=30.0, alias="timeout")
    service_time: ServiceTime = Field(default_factory=ServiceTime)
    queue_limit_requests: Int | None = Field(
        default=None, ge=0, le=MAX_QUEUE_LIMIT, alias="queue_limit"
    )
    arrivals: Arrivals = Field(default_factory=Arrivals)
    retries: Retries = Field(default_factory=Retries)
    slo: Slo | None = None
    llm: LlmServing | None = None
    """An LLM server (:mod:`capsim.scenario.llm`): requests are sequences batched on the
    GPU; ``concurrency`` is then the most sequences a replica runs at once and
    ``cpu_ms_per_request`` the host CPU a request costs."""
    mean_tokens: tuple[float, float] | None = Field(default=None, exclude=True)
    """An LLM service's mean prompt and output tokens (set while the scenario loads)."""
    gpu_ms_per_request: Float | None = Field(
        default=None, ge=CPU_MS_PER_REQUEST_MIN, le=CPU_MS_PER_REQUEST_MAX
    )
    """A GPU service: GPU busy time per request (ms of one whole GPU, the work its shape
    ``service_time`` describes). Its replicas serve on their GPUs (``concurrency`` slots
    share them, processor sharing beyond one request per GPU) and
    ``cpu_ms_per_request`` is then the host CPU a request costs."""
    gpu_memory_mib: Float | None = Field(default=None, ge=0, le=MAX_MEMORY_MIB)
    """A GPU service's GPU memory per replica whatever it serves (the model's weights)."""
    gpu_memory_mib_per_request: Float | None = Field(default=None, ge=0, le=MAX_MEMORY_MIB)
    """A GPU service's GPU memory per request in service (activations): with the GPUs'
    memory it bounds the requests a replica serves at once (below ``concurrency``)."""

    @model_validator(mode="after")
    def _one_arrival_process(self) -> ServiceWorkload:
        if self.arrivals.exact_counts and getattr(self.load, "poisson", False):
            raise ValueError(
                "arrivals.exact_counts: the load says poisson: true (counts drawn by a "
                "Poisson process), not exact counts"
            )
        if self.arrivals.dispersion_index != 1.0 and getattr(self.load, "poisson", False):
            raise ValueError(
                "arrivals.dispersion_index: the load says poisson: true (dispersion index 1), "
                f"got {self.arrivals.dispersion_index:g}"
            )
        if self.llm is None and self.slo is not None:
            for name in ("p95_ttft_ms", "p95_tpot_ms"):
                if getattr(self.slo, name) is not None:
                    raise ValueError(f"slo.{name}: only for an LLM service (one with llm:)")
        gpu_memory = self.gpu_memory_mib is not None or self.gpu_memory_mib_per_request is not None
        if gpu_memory and self.gpu_ms_per_request is None:
            raise ValueError("gpu_memory_mib: only for a GPU service (one with gpu_ms_per_request)")
        if self.gpu_ms_per_request is not None and self.llm is not None:
            raise ValueError(
                "gpu_ms_per_request: an LLM service's GPU work is its llm: passes, not a "
                "time per request"
            )
        if self.llm is not None and (self.llm.prompt_tokens is None) != (
            self.llm.output_tokens is None
        ):
            raise ValueError(
                "llm.prompt_tokens: give both prompt_tokens and output_tokens, or neither"
            )
        return self

    @property
    def accelerated(self) -> bool:
        """Whether the replicas serve on GPUs (``gpu_ms_per_request`` or ``llm``): the
        work then runs on the GPUs and ``cpu_ms_per_request`` is host CPU."""
        return self.gpu_ms_per_request is not None or self.llm is not None

    def replica_shape(
        self, cpu_limit_cores: float, gpus: float = 0.0, gpu_memory_mib: float | None = None
    ) -> ReplicaShape:
        """What one replica serves with: the service model's view of a replica under a
        CPU cap of ``cpu_limit_cores`` holding ``gpus`` GPUs of ``gpu_memory_mib`` each
        (None: not stated)."""
        if self.llm is not None:
            prompt, output = self.mean_tokens or (1.0, 1.0)
            batch = self.llm.fitting_batch(prompt, output, self.concurrency)
            request_s = self.llm.request_s(batch, prompt, output)
            return ReplicaShape(request_s, batch, batch, self.cpu_ms_per_request / 1e3)
        if self.gpu_ms_per_request is not None:
            slots = float(self.concurrency)
            per_request = self.gpu_memory_mib_per_request or 0.0
            if gpu_memory_mib is not None and per_request > 0:
                room = gpus * gpu_memory_mib - (self.gpu_memory_mib or 0.0)
                slots = max(1.0, min(slots, math.floor(room / per_request)))
            return ReplicaShape(
                self.gpu_ms_per_request / 1e3, slots, max(gpus, 1.0), self.cpu_ms_per_request / 1e3
            )
        return ReplicaShape(
            self.cpu_ms_per_request / 1e3, float(self.concurrency), cpu_limit_cores, None
        )

    def llm_request_s(self) -> float:
        """An LLM service's steady time per request (s) in a batch as full as its slots
        and KV cache allow (:meth:`LlmServing.request_s`); what the expected model and
        the warm start take as a request's work."""
        assert self.llm is not None
        prompt, output = self.mean_tokens or (1.0, 1.0)
        batch = self.llm.fitting_batch(prompt, output, self.concurrency)
        return self.llm.request_s(batch, prompt, output)

    @property
    def queue_limit(self) -> float:
        """Requests a replica's queue holds beyond its slots (``inf``: no limit)."""
        return float("inf") if self.queue_limit_requests is None else self.queue_limit_requests

    def model_params(
        self,
        cpu_limit_cores: float,
        routing: str,
        tick_s: float,
        gpus: float = 0.0,
        gpu_memory_mib: float | None = None,
    ) -> FloatArray:
        """The service model's constants (:func:`capsim.models.service.service_params`)
        of this service's replicas (:meth:`replica_shape`), behind ``routing`` (a
        :data:`capsim.models.service.ROUTING` name), in ticks of ``tick_s``. For a GPU
        or LLM service the model's "cores" are the replica's servers and its CPU the work
        they do (no idle CPU): the engine books the host CPU apart."""
        shape = self.replica_shape(cpu_limit_cores, gpus, gpu_memory_mib)
        idle = 0.0 if shape.host_cpu_s is not None else self.idle_cpu_millicores / 1000.0
        scv = 1.0 if self.llm is not None else self.service_time.scv
        return service_params(
            tick_s,
            shape.work_s,
            shape.slots,
            shape.servers,
            self.timeout_s,
            idle,
            self.memory_mib,
            self.memory_mib_per_request,
            ROUTING[routing],
            scv,
            self.arrivals.dispersion_index,
            self.queue_limit,
        )


class BatchArrivals(FrozenModel):
    """Job submissions: a Poisson rate per hour, explicit submit times, or a CSV file with
    a column of submit times in seconds from the start of the run."""

    poisson_per_hour: Float | None = Field(default=None, gt=0, le=MAX_RATE * 3600)
    times_s: tuple[Seconds, ...] | None = Field(default=None, alias="times")
    path: RelativePath | None = None
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
    workers: Int = Field(default=1, ge=1, le=MAX_WORKERS)
    cpu_millicores: PositiveMillicores = Field(alias="cpu")
    memory_bytes: Bytes = Field(alias="memory")
    gpu: Int = Field(default=0, ge=0, le=MAX_GPU)
    duration: Distribution
    gang: bool = False
    priority: Int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)


Workload = Annotated[ServiceWorkload | BatchWorkload, Field(discriminator="kind")]
