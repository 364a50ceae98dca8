"""Per-request traces: one row per request, replayed as recorded (``type: requests``).

A CSV file with a column of arrival instants (``time_s``: seconds from the trace start,
non-decreasing) and, for LLM services, the prompt and output tokens of each request
(``prompt_tokens``, ``output_tokens``: whole numbers ≥ 1), as the Azure LLM inference
traces have them. Simulated time 0 is the trace's time 0; with ``loop: true`` the trace
repeats every ``period`` (default: its last instant rounded up to a whole second, at
least 1 s), else a run longer than the trace is an error.

As a load, the trace is its **count of arrivals per tick over the tick's length**
(requests/s): what every other part of capsim (warm start, the expected model, the
controllers' metrics) reads. ``service_model: exact`` and LLM services replay the
instants themselves (and the tokens), so their requests arrive exactly as recorded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from capsim.scenario.load.specs import RequestsLoad, WorkloadError
from capsim.scenario.load.traces import read_csv_table, row_name

__all__ = [
    "RequestTrace",
    "check_span",
    "preloaded_requests",
    "read_requests",
    "replay_window",
    "request_key",
    "request_rates",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_TOKENS = 10_000_000
"""Most tokens of one request's prompt or output."""


@dataclass(frozen=True, eq=False)
class RequestTrace:
    """The requests of one file: arrival instants (s) and, when the file has them, tokens."""

    time_s: FloatArray
    prompt_tokens: IntArray | None
    output_tokens: IntArray | None
    period_s: float

    @property
    def span_s(self) -> float:
        return self.period_s


def _column(frame: object, column: str, shown: str) -> npt.NDArray[np.float64]:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if column not in frame.columns:
        raise WorkloadError(
            f"{shown}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})"
        )
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


@functools.lru_cache(maxsize=8)
def _read(path: Path, _mtime_ns: int, spec: RequestsLoad) -> RequestTrace:
    shown = str(spec.path)
    try:
        frame, lines = read_csv_table(path, shown)
    except ValueError as exc:
        raise WorkloadError(str(exc)) from None
    times = _column(frame, spec.time_column, shown)
    bad = np.flatnonzero(~np.isfinite(times) | (times < 0) | (times > 1e9))
    if bad.size:
        i = int(bad[0])
        raise WorkloadError(
            f"{shown}: {row_name(True, i, lines)}: {spec.time_column} must be seconds from 0 "
            f"to 1e9, got {frame[spec.time_column].iloc[i]!r}"
        )
    if times.size == 0:
        raise WorkloadError(f"{shown}: no request rows")
    back = np.flatnonzero(np.diff(times) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise WorkloadError(
            f"{shown}: {row_name(True, i, lines)}: {spec.time_column} goes back in time "
            f"({times[i - 1]:g} then {times[i]:g}); sort the file by arrival"
        )
    tokens: list[IntArray | None] = []
    for column in (spec.prompt_column, spec.output_column):
        if column not in frame.columns:
            tokens.append(None)
            continue
        values = _column(frame, column, shown)
        bad = np.flatnonzero(
            ~np.isfinite(values)
            | (values < 1)
            | (values > MAX_TOKENS)
            | (values != np.round(values))
        )
        if bad.size:
            i = int(bad[0])
            raise WorkloadError(
                f"{shown}: {row_name(True, i, lines)}: {column} must be a whole number of "
                f"tokens from 1 to {MAX_TOKENS:,}, got {frame[column].iloc[i]!r}"
            )
        tokens.append(values.astype(np.int64))
    period = spec.period_s if spec.period_s is not None else max(1.0, math.ceil(float(times[-1])))
    if period <= float(times[-1]) and spec.period_s is not None:
        raise WorkloadError(
            f"{shown}: period {period:g} s must be longer than the last arrival at "
            f"{float(times[-1]):g} s"
        )
    for array in (times, *[t for t in tokens if t is not None]):
        array.flags.writeable = False
    return RequestTrace(times, tokens[0], tokens[1], float(period))


_PRELOADED: ContextVar[Mapping[str, RequestTrace] | None] = ContextVar(
    "capsim_preloaded_requests", default=None
)


def request_key(spec: RequestsLoad, base_dir: Path) -> str:
    """What identifies a read per-request trace: the folder and the spec."""
    return f"requests\0{base_dir}\0{spec.model_dump_json()}"


@contextmanager
def preloaded_requests(traces: Mapping[str, RequestTrace]) -> Iterator[None]:
    """Within the block, :func:`read_requests` returns ``traces[request_key(spec,
    base_dir)]`` and opens no file (runs shipped to other machines)."""
    token = _PRELOADED.set(traces)
    try:
        yield
    finally:
        _PRELOADED.reset(token)


def read_requests(spec: RequestsLoad, *, base_dir: Path, where: str = "load") -> RequestTrace:
    """The requests of ``spec``'s file (read once per file version); errors name
    ``where``, the file, the row and the value."""
    preloaded = _PRELOADED.get()
    if preloaded is not None:
        key = request_key(spec, base_dir)
        if key not in preloaded:
            raise LookupError(f"{spec.path}: this trace was not read at the edge and shipped")
        return preloaded[key]
    path = base_dir / spec.path
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    try:
        return _read(path, mtime, spec)
    except WorkloadError as exc:
        raise WorkloadError(f"{where}: {exc}") from None


def check_span(
    trace: RequestTrace, spec: RequestsLoad, duration_s: float, where: str = "load"
) -> None:
    """Refuse a run longer than the trace unless it loops."""
    if duration_s > trace.period_s and not spec.loop:
        raise WorkloadError(
            f"{where}: the run lasts {duration_s:g} s, longer than the trace "
            f"({trace.period_s:g} s); set loop: true to repeat it"
        )


def replay_window(trace: RequestTrace, start_s: float, end_s: float) -> tuple[FloatArray, IntArray]:
    """The arrival instants within ``[start_s, end_s)`` of the trace repeated every
    ``period`` from 0 (lap ``k`` at ``k × period + time_s``), and the row of the file
    each one replays; built lap by lap, so memory follows the window, not the run."""
    period = trace.period_s
    first, last = max(0, math.floor(start_s / period)), math.floor(end_s / period)
    times: list[FloatArray] = []
    rows: list[IntArray] = []
    for lap in range(first, last + 1):
        offset = lap * period
        lo, hi = np.searchsorted(trace.time_s, [start_s - offset, end_s - offset], side="left")
        if hi > lo:
            times.append(offset + trace.time_s[lo:hi])
            rows.append(np.arange(lo, hi, dtype=np.int64))
    if not times:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(rows)


def request_rates(
    spec: RequestsLoad, *, base_dir: Path, tick_s: float, ticks: int, where: str = "load"
) -> FloatArray:
    """Arrivals counted per tick over the tick's length (requests/s)."""
    trace = read_requests(spec, base_dir=base_dir, where=where)
    duration_s = ticks * tick_s
    check_span(trace, spec, duration_s, where)
    counts = np.zeros(ticks, dtype=np.int64)
    laps = max(1, math.ceil(duration_s / trace.period_s))
    for lap in range(laps):  # lap by lap: memory follows the trace, not the run
        times = lap * trace.period_s + trace.time_s
        times = times[times < duration_s]
        index = np.minimum((times / tick_s).astype(np.int64), ticks - 1)
        counts += np.bincount(index, minlength=ticks)
    rates: FloatArray = counts.astype(np.float64) / tick_s
    return rates
