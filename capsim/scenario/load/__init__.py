"""Load sources: synthetic shapes and recorded traces → a load value per simulation tick.

A scenario's ``load:`` block is one spec, chosen by ``type``. Rates are plain numbers in
the load's unit (``requests_per_s`` unless a spec says ``unit:``; a trace's unit is its
column name). Durations are written as text or seconds and parsed by
:func:`capsim.units.parse_duration_s` (``period: 24h``, ``rise: 90s``, ``at: 3600``).
As in :mod:`capsim.scenario.schema`, YAML keys are natural and attributes carry units: the
models hold durations as float seconds in ``period_s``, ``rise_s``, ``at_s``, …::

    {type: constant, rate: 50}
    {type: diurnal, base: 20, peak: 120, period: 24h, peak_at: 14h}  # cosine cycle
    {type: step, before: 10, after: 40, at: 30m}
    {type: ramp, from: 10, to: 100, start: 1h, end: 2h}               # linear in between
    {type: spike, base: 5, start: 2h, rise: 2m, height: 300, decay: 10m}
    {type: sum, parts: [<spec>, ...]}       # add loads of one unit
    {type: product, parts: [<spec>, ...]}   # at most one part has a unit, the rest are factors
    {type: requests, path: traces/azure_llm_inference_2023_conv_requests.csv, loop: true}
    {type: trace, path: traces/nasa_http_1995-07_per_minute.csv, column: requests_per_s,
     scale: 40, start: 12d, end: "1995-07-15T00:00:00Z", time_scale: 0.5, gaps: error}

Any spec may add ``poisson: true`` (request rates only): it states that requests arrive as
a Poisson process at the load's rate, which the service model assumes of every load
(:mod:`capsim.models.service`); no per-tick count is drawn, so the values stay the rates.

Values are **mean rates over each tick** ``[k·tick, (k+1)·tick)``, integrated exactly for
every shape, so a step or spike inside a tick is averaged, never sampled. A ``product``
multiplies the parts' tick means (exact when at most one factor varies within a tick).

Traces (CSV or Parquet) have a ``timestamp`` column (ISO 8601, UTC if no zone given, or
numeric seconds) on a regular step, and value columns. Each row is the mean rate over its
step; replay treats the trace as that step function, so a coarser tick takes the
time-weighted mean (mean preserved) and a finer tick holds the row's value. Missing rows
and NaN values are *gaps*: ``gaps: error`` (default) raises, ``hold`` repeats the last
value, ``fill`` uses ``fill_value``. Only gaps inside the ``start``/``end`` window count.
Simulated time 0 is the window start; ``time_scale`` maps trace seconds to simulated
seconds (0.5 plays a day in 12 h at the same rates). ``start``/``end`` are durations from
the trace's first timestamp (``12d``) or ISO 8601 times. A run longer than the window is
an error unless ``loop: true`` repeats it.

The default tick is the finest trace step in the spec (after ``time_scale``), or 1 s for
purely synthetic load; a run must last a whole number of ticks.
"""

from __future__ import annotations

from capsim.scenario.load.build import (
    LoadSeries,
    build_load,
    check_load,
    clock_start,
    default_tick_s,
)
from capsim.scenario.load.specs import (
    ConstantLoad,
    DiurnalLoad,
    LoadSpec,
    ProductLoad,
    RampLoad,
    RequestsLoad,
    SpikeLoad,
    StepLoad,
    SumLoad,
    TraceLoad,
    WorkloadError,
    parse_load_spec,
)
from capsim.scenario.load.traces import Trace, read_trace

__all__ = [
    "ConstantLoad",
    "DiurnalLoad",
    "LoadSeries",
    "LoadSpec",
    "ProductLoad",
    "RampLoad",
    "RequestsLoad",
    "SpikeLoad",
    "StepLoad",
    "SumLoad",
    "Trace",
    "TraceLoad",
    "WorkloadError",
    "build_load",
    "check_load",
    "clock_start",
    "default_tick_s",
    "parse_load_spec",
    "read_trace",
]
