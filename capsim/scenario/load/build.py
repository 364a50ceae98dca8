"""From a load spec to a value per simulation tick (synthetic shapes, traces, noise)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from capsim.scenario.limits import MAX_RATE, MAX_TICKS
from capsim.scenario.load.requests import read_requests, request_rates
from capsim.scenario.load.specs import (
    REQUESTS_PER_S,
    SYNTHETIC_TICK_S,
    FloatArray,
    LoadSpec,
    ProductLoad,
    RequestsLoad,
    SumLoad,
    TraceLoad,
    WorkloadError,
    check_load_depth,
)
from capsim.scenario.load.traces import read_trace
from capsim.units import format_duration


@dataclass(frozen=True, eq=False)
class LoadSeries:
    """The load of one run: ``values[k]`` is the mean over ``[times_s[k], times_s[k] + tick_s)``
    in ``unit`` (``requests_per_s``, ``cpu_cores`` or a trace's column name)."""

    times_s: FloatArray
    values: FloatArray
    unit: str
    tick_s: float

    def __post_init__(self) -> None:
        for name in ("times_s", "values"):
            array = np.array(getattr(self, name), dtype=np.float64)
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @property
    def duration_s(self) -> float:
        return len(self.values) * self.tick_s


def _traces(spec: LoadSpec) -> list[TraceLoad]:
    if isinstance(spec, TraceLoad):
        return [spec]
    if isinstance(spec, SumLoad | ProductLoad):
        return [trace for part in spec.parts for trace in _traces(part)]
    return []


def default_tick_s(spec: LoadSpec, *, base_dir: Path) -> float:
    """The natural tick: the finest step of the traces in ``spec`` (after ``time_scale``),
    or 1 s for purely synthetic load."""
    steps = [read_trace(trace, base_dir=base_dir).step_s for trace in _traces(spec)]
    return min(steps, default=SYNTHETIC_TICK_S)


def clock_start(specs: Iterable[LoadSpec], *, base_dir: Path, duration_s: float) -> datetime | None:
    """The clock time (UTC) of simulated second 0, when the run has one: every trace in
    ``specs`` has absolute timestamps, is replayed at its own pace and is not looped past
    its end within ``duration_s``, and all start at the same instant (synthetic parts
    have no clock and change nothing). ``None`` otherwise, and for a purely synthetic run:
    its figures then count time since the start."""
    starts: set[datetime] = set()
    for spec in specs:
        for part in _traces(spec):
            trace = read_trace(part, base_dir=base_dir)
            if trace.start_time is None or duration_s > trace.span_s * (1 + 1e-12):
                return None
            starts.add(trace.start_time)
    return starts.pop() if len(starts) == 1 else None


def _sub(where: str, part: str) -> str:
    """The path of a part: ``load`` + ``parts[1]`` → ``load.parts[1]``."""
    return f"{where}.{part}" if where else part


def _error(where: str, message: str) -> WorkloadError:
    return WorkloadError(f"{where}: {message}" if where else message)


def _combined_unit(spec: LoadSpec, units: list[str | None], where: str) -> str | None:
    """The unit of a sum (parts agree) or product (one part has a unit, the rest are factors)."""
    stated = sorted({u for u in units if u is not None})
    if isinstance(spec, ProductLoad) and sum(u is not None for u in units) > 1:
        raise _error(
            where,
            f"a product may have one part with a unit (the others are factors), got units "
            f"{', '.join(u for u in units if u)}",
        )
    if spec.unit is not None and spec.unit not in stated:
        stated.append(spec.unit)
    if len(stated) > 1:
        raise _error(where, f"a {spec.type} mixes units: {', '.join(stated)}")
    return stated[0] if stated else None


def _check_poisson(spec: LoadSpec, unit: str | None, where: str) -> None:
    if spec.poisson and unit not in (None, REQUESTS_PER_S):
        raise _error(
            where, f"poisson: only for request rates ({REQUESTS_PER_S}), this load is in {unit}"
        )


def _unit(spec: LoadSpec, base_dir: Path, where: str) -> str | None:
    """Check ``spec`` without generating it (trace files read and checked); its unit."""
    if isinstance(spec, TraceLoad):
        unit: str | None = read_trace(spec, base_dir=base_dir, where=where).unit
    elif isinstance(spec, RequestsLoad):
        read_requests(spec, base_dir=base_dir, where=where)
        unit = REQUESTS_PER_S
    elif isinstance(spec, SumLoad | ProductLoad):
        parts = [_unit(p, base_dir, _sub(where, f"parts[{i}]")) for i, p in enumerate(spec.parts)]
        unit = _combined_unit(spec, parts, where)
    else:
        unit = spec.unit
    _check_poisson(spec, unit, where)
    return unit


def check_load(spec: LoadSpec, *, base_dir: Path, where: str = "") -> str:
    """Check a spec as :func:`build_load` will use it (trace files, windows, gaps, units)
    and return its unit. Messages start with ``where`` (empty: the caller adds the path)."""
    check_load_depth(spec, where or "load")
    return _unit(spec, base_dir, where) or REQUESTS_PER_S


def _evaluate(
    spec: LoadSpec, tick_s: float, ticks: int, rng: np.random.Generator, base_dir: Path, where: str
) -> tuple[FloatArray, str | None]:
    """Means of ``spec`` over ``ticks`` ticks and its unit (``None``: not stated)."""
    unit: str | None
    if isinstance(spec, TraceLoad):
        trace = read_trace(spec, base_dir=base_dir, where=where)
        values, unit = trace.tick_means(tick_s, ticks), trace.unit
    elif isinstance(spec, RequestsLoad):
        values = request_rates(spec, base_dir=base_dir, tick_s=tick_s, ticks=ticks, where=where)
        unit = REQUESTS_PER_S
    elif isinstance(spec, SumLoad | ProductLoad):
        parts = [
            _evaluate(part, tick_s, ticks, rng, base_dir, _sub(where, f"parts[{i}]"))
            for i, part in enumerate(spec.parts)
        ]
        unit = _combined_unit(spec, [u for _, u in parts], where)
        combine = np.sum if isinstance(spec, SumLoad) else np.prod
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            values = np.asarray(combine([v for v, _ in parts], axis=0), dtype=np.float64)
        if values.size and not values.max() <= MAX_RATE:
            raise _error(
                where,
                f"the {spec.type} reaches {values.max():.3g} per second, more than the limit "
                f"of {MAX_RATE:.0e}; check its parts' scale",
            )
    else:
        edges = np.arange(ticks + 1, dtype=np.float64) * tick_s
        values, unit = spec.mean_rate(edges[:-1], edges[1:]), spec.unit
    values = np.maximum(values, 0.0)  # integrals of non-negative rates, up to rounding
    # ``poisson: true`` declares the arrivals a Poisson process at this rate, which is what
    # the service model assumes of every load: no count is drawn (a drawn count fed to the
    # queueing maths as that tick's rate would count the Poisson noise twice).
    _check_poisson(spec, unit, where)
    return values, unit


def build_load(
    spec: LoadSpec,
    *,
    duration_s: float,
    tick_s: float | None = None,
    rng: np.random.Generator,
    base_dir: Path = Path(),
    where: str = "load",
) -> LoadSeries:
    """The load over ``[0, duration_s)`` as mean values per tick.

    ``tick_s`` defaults to :func:`default_tick_s`; ``duration_s`` must be a whole number
    of ticks. ``rng`` draws the Poisson noise (same generator state → same arrays).
    Trace paths are relative to ``base_dir`` (the scenario file's folder).
    """
    tick = default_tick_s(spec, base_dir=base_dir) if tick_s is None else tick_s
    if not (math.isfinite(tick) and tick > 0):
        raise _error(where, f"tick must be a positive number of seconds, got {tick!r}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise _error(where, f"duration must be positive, got {duration_s!r} s")
    if duration_s / tick > MAX_TICKS:
        raise _error(
            where,
            f"the duration {format_duration(duration_s)} is {duration_s / tick:.3g} ticks of "
            f"{tick:g} s, more than the limit of {MAX_TICKS:,}; use a longer tick",
        )
    ticks = round(duration_s / tick)
    if ticks < 1 or abs(ticks * tick - duration_s) > 1e-9 * duration_s:
        raise _error(
            where,
            f"the duration {format_duration(duration_s)} is not a whole number of {tick:g} s ticks",
        )
    values, unit = _evaluate(spec, tick, ticks, rng, base_dir, where)
    times = np.arange(ticks, dtype=np.float64) * tick
    return LoadSeries(times_s=times, values=values, unit=unit or REQUESTS_PER_S, tick_s=tick)
