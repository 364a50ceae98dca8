"""Load spec models (the ``load:`` block of a scenario) and their validation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from capsim.scenario.fields import (
    DurationOut,
    Float,
    PositiveSeconds,
    RelativePathText,
    Seconds,
    StrictModel,
)
from capsim.scenario.limits import MAX_LOAD_DEPTH, MAX_RATE, nesting_problem
from capsim.scenario.parsing import format_loc
from capsim.units import parse_duration_s

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
REQUESTS_PER_S = "requests_per_s"
SYNTHETIC_TICK_S = 1.0
MAX_POISSON_COUNT = 1e15  # per tick; NumPy's Poisson sampler stops near 9.2e18


class WorkloadError(ValueError):
    """A load spec or trace is not usable; the message names file or field and the value."""


Rate = Annotated[Float, Field(ge=0, le=MAX_RATE, allow_inf_nan=False)]
"""A non-negative load value in the spec's unit, at most ``MAX_RATE`` (1e9)."""


def _trace_time(value: Any) -> float | datetime:
    """A window bound: a duration from the trace start, or an absolute (UTC) timestamp."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return parse_duration_s(value)
    except ValueError:
        if not isinstance(value, str):
            raise
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            "expected a duration from the trace start (12d, 3600) or an ISO 8601 timestamp"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


TraceTime = Annotated[
    float | datetime,
    BeforeValidator(_trace_time),
    DurationOut,
    WithJsonSchema({"type": ["string", "number"], "examples": ["12d", "1995-07-06T21:00:00Z"]}),
]


class _Spec(StrictModel):
    unit: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    poisson: bool = False


class _Shape(_Spec):
    """A synthetic shape: an exact mean rate over any interval."""

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        """Mean rate over each interval ``[t0, t1)`` (seconds, ``t1 > t0``)."""
        raise NotImplementedError  # pragma: no cover - every shape defines it


class ConstantLoad(_Shape):
    """``rate`` all the time."""

    type: Literal["constant"]
    rate: Rate

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        return np.full(t0.shape, self.rate)


class DiurnalLoad(_Shape):
    """A cosine cycle from ``base`` (trough) to ``peak``; peak at ``peak_at`` (mod ``period``).

    ``rate(t) = base + (peak - base) · (1 + cos(2π (t - peak_at) / period)) / 2``; by
    default ``peak_at`` is half a period, so the load starts at its trough.
    """

    type: Literal["diurnal"]
    base: Rate
    peak: Rate
    period_s: Seconds = Field(default=86400.0, gt=0, alias="period")
    peak_at_s: Seconds | None = Field(default=None, alias="peak_at")

    @model_validator(mode="after")
    def _peak_above_base(self) -> DiurnalLoad:
        if self.peak < self.base:
            raise ValueError(f"peak ({self.peak:g}) must be >= base ({self.base:g})")
        return self

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        period = self.period_s
        peak_at = period / 2 if self.peak_at_s is None else self.peak_at_s
        phase = np.mod((t0 + t1) / 2 - peak_at, period) * (2 * math.pi / period)
        wave = np.cos(phase) * np.sinc((t1 - t0) / period)
        return self.base + (self.peak - self.base) * (1 + wave) / 2


class StepLoad(_Shape):
    """``before`` until ``at``, then ``after``."""

    type: Literal["step"]
    before: Rate
    after: Rate
    at_s: Seconds = Field(alias="at")

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        share_after = np.clip(t1 - np.maximum(t0, self.at_s), 0.0, None) / (t1 - t0)
        return self.before + (self.after - self.before) * share_after


class RampLoad(_Shape):
    """``from`` until ``start``, linear to ``to`` at ``end``, then ``to``."""

    type: Literal["ramp"]
    from_: Rate = Field(alias="from")
    to: Rate
    start_s: Seconds = Field(alias="start")
    end_s: Seconds = Field(alias="end")

    @model_validator(mode="after")
    def _end_after_start(self) -> RampLoad:
        if self.end_s < self.start_s:
            raise ValueError(f"end ({self.end_s:g} s) must be >= start ({self.start_s:g} s)")
        return self

    def _progress_integral(self, t: FloatArray) -> FloatArray:
        """∫ from -∞ to t of the ramp's progress (0 before start, 1 after end)."""
        start, end = self.start_s, self.end_s
        if end == start:
            return np.clip(t - start, 0.0, None)
        inside = np.clip(t, start, end) - start
        return inside**2 / (2 * (end - start)) + np.clip(t - end, 0.0, None)

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        progress = (self._progress_integral(t1) - self._progress_integral(t0)) / (t1 - t0)
        return self.from_ + (self.to - self.from_) * progress


class SpikeLoad(_Shape):
    """A flash crowd on ``base``: from ``start``, a linear rise over ``rise`` to
    ``base + height``, then exponential decay back with time constant ``decay``
    (the excess falls to 1/e after ``decay``)."""

    type: Literal["spike"]
    base: Rate = 0.0
    start_s: Seconds = Field(alias="start")
    rise_s: Seconds = Field(default=0.0, alias="rise")
    height: Rate
    decay_s: Seconds = Field(gt=0, alias="decay")

    def mean_rate(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        u0, u1, rise, decay = t0 - self.start_s, t1 - self.start_s, self.rise_s, self.decay_s
        rising = np.zeros(t0.shape)
        if rise > 0:
            rising = (np.clip(u1, 0, rise) ** 2 - np.clip(u0, 0, rise) ** 2) / (2 * rise)
        a, b = np.clip(u0 - rise, 0.0, None), np.clip(u1 - rise, 0.0, None)
        decaying = decay * np.exp(-a / decay) * -np.expm1(-(b - a) / decay)
        return self.base + self.height * (rising + decaying) / (t1 - t0)


class SumLoad(_Spec):
    """The sum of ``parts`` (all in one unit)."""

    type: Literal["sum"]
    parts: tuple[LoadSpec, ...] = Field(min_length=1)


class ProductLoad(_Spec):
    """The product of ``parts``: one part may carry a unit, the others are plain factors."""

    type: Literal["product"]
    parts: tuple[LoadSpec, ...] = Field(min_length=1)


class TraceLoad(_Spec):
    """A recorded trace, replayed from its window ``[start, end)`` (see the module doc).

    ``start``/``end`` hold seconds from the trace's first timestamp (``float``) or an
    absolute UTC time (``datetime``, for traces with ISO 8601 timestamps).
    """

    type: Literal["trace"]
    path: RelativePathText = Field(min_length=1)
    column: str | None = None
    scale: Float = Field(default=1.0, ge=0, le=MAX_RATE, allow_inf_nan=False)
    start: TraceTime | None = None
    end: TraceTime | None = None
    time_scale: Float = Field(default=1.0, ge=1e-6, le=1e6, allow_inf_nan=False)
    gaps: Literal["error", "hold", "fill"] = "error"
    fill_value: Rate | None = None
    loop: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TraceLoad:
        if (self.gaps == "fill") != (self.fill_value is not None):
            raise ValueError("fill_value is required with gaps: fill, and only with it")
        return self


class RequestsLoad(_Spec):
    """A per-request trace (:mod:`capsim.scenario.load.requests`): one row per request,
    its arrival instant in ``time_column`` (seconds from the trace start) and, for LLM
    services, its tokens in ``prompt_column`` and ``output_column``."""

    type: Literal["requests"]
    path: RelativePathText = Field(min_length=1)
    time_column: str = "time_s"
    prompt_column: str = "prompt_tokens"
    output_column: str = "output_tokens"
    loop: bool = False
    period_s: PositiveSeconds | None = Field(default=None, alias="period")


LoadSpec = Annotated[
    ConstantLoad
    | DiurnalLoad
    | StepLoad
    | RampLoad
    | SpikeLoad
    | SumLoad
    | ProductLoad
    | TraceLoad
    | RequestsLoad,
    Field(discriminator="type"),
]
"""One ``load:`` spec; embed it in other pydantic models or use :func:`parse_load_spec`."""
SumLoad.model_rebuild()
ProductLoad.model_rebuild()
_SPEC_ADAPTER: TypeAdapter[LoadSpec] = TypeAdapter(LoadSpec)


_TAGS = frozenset(
    {"constant", "diurnal", "step", "ramp", "spike", "sum", "product", "trace", "requests"}
)


def load_depth(spec: LoadSpec) -> int:
    """How deep ``sum``/``product`` specs nest in ``spec`` (1: no sum or product).
    Iterative, so safe on any depth."""
    deepest = 0
    stack: list[tuple[LoadSpec, int]] = [(spec, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, SumLoad | ProductLoad):
            stack.extend((part, depth + 1) for part in node.parts)
    return deepest


def check_load_depth(spec: LoadSpec, where: str) -> None:
    """Refuse sums and products nested deeper than ``MAX_LOAD_DEPTH``, naming ``where``."""
    depth = load_depth(spec) - 1
    if depth > MAX_LOAD_DEPTH:
        raise WorkloadError(
            f"{where}: sums and products nested {depth} deep, more than the limit of "
            f"{MAX_LOAD_DEPTH}"
        )


def _joined(path: str) -> str:
    """``parts[0].parts[0]`` → ``.parts[0].parts[0]``; ``[3]`` stays ``[3]``."""
    return path if not path or path.startswith("[") else f".{path}"


def parse_load_spec(
    data: Any, *, where: str = "load", names: Mapping[str, str] | None = None
) -> LoadSpec:
    """Validate a ``load:`` mapping (as read from YAML, or built from command-line flags).

    Raises :class:`WorkloadError`, one line naming ``where``, the field path and the bad
    value. ``names`` shows top-level fields under other names (``{"scale": "--scale"}``:
    ``where: --scale: …``), for specs built from flags. Data nested deeper than
    ``MAX_NESTING`` and sums or products deeper than ``MAX_LOAD_DEPTH`` are refused
    before anything recurses.
    """
    too_deep = nesting_problem(data)
    if too_deep is not None:
        inner, message = too_deep
        raise WorkloadError(f"{where}{_joined(inner)}: {message}")
    try:
        spec = _SPEC_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = format_loc(tuple(first["loc"]), data, _TAGS)
        if names is not None and loc.split(".")[0].split("[")[0] in names:
            head = loc.split(".")[0].split("[")[0]
            path = f"{where}: {names[head]}{loc[len(head) :]}"
        else:
            path = where if loc == "(document)" else f"{where}.{loc}"
        if first["type"] == "missing":
            raise WorkloadError(f"{path}: required field is missing") from None
        message = first["msg"].removeprefix("Value error, ")
        shown = repr(first.get("input"))
        got = "" if shown in message else f", got {shown}"
        raise WorkloadError(f"{path}: {message}{got}") from None
    check_load_depth(spec, where)
    return spec
