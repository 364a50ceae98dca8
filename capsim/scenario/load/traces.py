"""Recorded traces (CSV, Parquet): reading, checking, windows and resampling to ticks.

A trace file is read with bounded size before it is parsed: a regular file (not a
directory, FIFO, device or symbolic-link loop) of at most ``MAX_TRACE_BYTES`` (512 MiB) and
``MAX_TRACE_ROWS`` (20 million) rows, whose span is at most ``MAX_TRACE_STEPS`` (50 million)
of its steps; values are finite, ≥ 0 and, after ``scale``, at most ``MAX_RATE`` (1e9;
a column of bytes, ``*_bytes``, at most ``MAX_MEMORY_BYTES``);
numeric timestamps are seconds within ±``MAX_TIMESTAMP_S`` (1e11). Every row of a CSV
has as many fields as its header. Each problem is one line naming the file, the line (CSV)
or row (Parquet) or the column, and the value (:mod:`capsim.scenario.limits`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
import os
import stat
from array import array
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from capsim.scenario.limits import (
    MAX_MEMORY_BYTES,
    MAX_RATE,
    MAX_TRACE_BYTES,
    MAX_TRACE_ROWS,
    MAX_TRACE_STEPS,
)
from capsim.scenario.load.specs import FloatArray, IntArray, TraceLoad, WorkloadError
from capsim.units import format_duration


@dataclass(frozen=True, eq=False)
class Trace:
    """A recorded load ready to replay: ``values[i]`` is the mean over simulated seconds
    ``[offset_s + i·step_s, offset_s + (i+1)·step_s)``; the replay covers ``[0, span_s)``
    (``offset_s <= 0`` when the window starts inside a step) and repeats when ``loop``.

    ``start_time`` is the clock time (UTC) of simulated second 0 when the trace has
    absolute timestamps and is replayed at its own pace (``time_scale`` 1), else ``None``:
    simulated second ``t`` is then ``start_time + t`` within the first lap."""

    values: FloatArray
    step_s: float
    unit: str
    source: str = ""  # message prefix naming the spec and file, e.g. "load: t.csv: "
    offset_s: float = 0.0
    span_s: float = field(default=math.nan)
    loop: bool = False
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        values.flags.writeable = False
        object.__setattr__(self, "values", values)
        if math.isnan(self.span_s):
            object.__setattr__(self, "span_s", len(values) * self.step_s + self.offset_s)

    def tick_means(self, tick_s: float, ticks: int) -> FloatArray:
        """Mean over each tick ``[k·tick_s, (k+1)·tick_s)``, ``k < ticks``: time-weighted
        means of the steps a tick covers (exact copies or block means when aligned)."""
        end = ticks * tick_s
        if end > self.span_s * (1 + 1e-12) and not self.loop:
            raise WorkloadError(
                f"{self.source}the trace window lasts {format_duration(self.span_s)} of "
                f"simulated time but the run needs {format_duration(end)}; shorten the run, "
                "widen start/end, change time_scale, or set loop: true"
            )
        aligned = self._aligned(tick_s, ticks)
        if aligned is not None:
            return aligned
        edges = np.arange(ticks + 1, dtype=np.float64) * tick_s
        integral = self._looped_integral(edges)
        return np.diff(integral) / tick_s

    def _aligned(self, tick_s: float, ticks: int) -> FloatArray | None:
        """The exact path when ticks and steps share edges (the common case), else None."""
        whole = self.offset_s == 0 and math.isclose(self.span_s, len(self.values) * self.step_s)
        per_tick, per_step = tick_s / self.step_s, self.step_s / tick_s
        if ticks * per_tick > MAX_TRACE_STEPS:  # a looped fine trace: integrate instead
            return None
        if whole and per_tick >= 1 and math.isclose(per_tick, round(per_tick)):
            index = np.arange(ticks * round(per_tick)) % len(self.values)
            return np.asarray(
                self.values[index].reshape(ticks, round(per_tick)).mean(axis=1), dtype=np.float64
            )
        if whole and math.isclose(per_step, round(per_step)):
            index = (np.arange(ticks) // round(per_step)) % len(self.values)
            return np.asarray(self.values[index], dtype=np.float64)
        return None

    def _looped_integral(self, t: FloatArray) -> FloatArray:
        """∫ from 0 to t of the replayed rate (t within the span unless ``loop``)."""
        laps = np.floor(t / self.span_s) if self.loop else np.zeros(t.shape)
        rest = np.clip(t - laps * self.span_s, 0.0, self.span_s)
        step_edges = self.offset_s + np.arange(len(self.values) + 1) * self.step_s
        cumulative = np.concatenate(([0.0], np.cumsum(self.values * self.step_s)))
        at = np.interp(np.concatenate((rest, [0.0, self.span_s])), step_edges, cumulative)
        lap_total, at_zero = at[-1] - at[-2], at[-2]
        return np.asarray(laps * lap_total + at[:-2] - at_zero, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class _Table:
    """A trace file read once: its rows, and each row's seconds since the first row."""

    frame: pd.DataFrame
    offsets_s: FloatArray
    first_time: datetime | None  # None for numeric-seconds timestamps
    is_csv: bool
    lines: IntArray | None = None  # a CSV's line of each row, when not simply row + 2

    def row(self, index: int) -> str:
        return row_name(self.is_csv, index, self.lines)

    def when(self, offset_s: float) -> str:
        if self.first_time is None:
            return f"t={offset_s:g} s"
        moment = pd.Timestamp(self.first_time) + pd.Timedelta(seconds=offset_s)
        return str(moment.isoformat()).replace("+00:00", "Z")


def row_name(is_csv: bool, index: int, lines: IntArray | None = None) -> str:
    """Where row ``index`` (0-based) is: a CSV line number (``lines[index]`` when given)
    or a 1-based Parquet row."""
    if lines is not None:
        return f"line {int(lines[index])}"
    return f"line {index + 2}" if is_csv else f"row {index + 1}"


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() not in {".parquet", ".pq"}


MAX_TIMESTAMP_S = 1e11
"""Numeric timestamps are seconds within ±1e11 (about 3,170 years; Unix milliseconds are not
seconds)."""

_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds (``np.int64(5)`` shows as ``5``)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def first_line(error: BaseException) -> str:
    """An exception's message on one line, at most 200 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a trace (missing, not a regular file, a symbolic-link
    loop, unreadable), or None. Follows symbolic links."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:  # ELOOP, EACCES, ENAMETOOLONG, ...
        return f"cannot open: {exc.strerror or first_line(exc)}"
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_FILE_KINDS.get(stat.S_IFMT(mode), 'a special file')})"
    return None


def read_bounded(path: Path, *, limit: int = MAX_TRACE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; raises :class:`WorkloadError`
    naming the file otherwise. Never blocks on a FIFO, never reads a device."""
    problem = file_problem(path)
    if problem is not None:
        raise WorkloadError(f"{path}: {problem}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot open: {exc.strerror or first_line(exc)}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped since the check above
            raise WorkloadError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise WorkloadError(
                f"{path}: {info.st_size:,} bytes, more than the limit of {limit:,} "
                f"({limit // 2**20} MiB) for a trace file"
            )
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise WorkloadError(f"{path}: cannot read: {exc.strerror or first_line(exc)}") from None
    if len(data) > limit:
        raise WorkloadError(f"{path}: more than the limit of {limit:,} bytes for a trace file")
    return data


def read_csv_table(path: Path, shown: str) -> tuple[pd.DataFrame, IntArray | None]:
    """A small CSV file (``shown`` as the user named it) read with the trace reader's
    rules: a regular file within the size limit, well-formed rows
    (:func:`csv_line_numbers`); its table and each row's line number. Raises
    ``ValueError`` starting with ``shown`` (or the file's path) on any problem."""
    problem = file_problem(path)
    if problem is not None:
        raise ValueError(f"{problem}: {shown}")
    try:
        data = read_bounded(path)
        lines = csv_line_numbers(path, data)
    except WorkloadError as exc:
        raise ValueError(str(exc)) from None
    try:
        frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{shown}: cannot read as CSV: {first_line(exc)}") from None
    return frame, lines


def csv_line_numbers(path: Path, data: bytes) -> IntArray | None:
    """Check a CSV's shape before pandas reads it: UTF-8 text, a header, every row with as
    many fields as the header, at most ``MAX_TRACE_ROWS`` rows. Returns each row's line
    number when blank lines or quoted line breaks shift them (else None: row i is on line
    i + 2). Raises :class:`WorkloadError` naming the file and the line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkloadError(
            f"{path}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    width = -1
    rows = 0
    lines: array[int] | None = None
    try:
        for record in reader:
            if not record:  # a blank line: pandas skips it too
                continue
            if width < 0:
                width = len(record)
                if reader.line_num != 1:
                    lines = array("q")
                continue
            rows += 1
            if len(record) != width:
                raise WorkloadError(
                    f"{path}: line {reader.line_num}: {len(record)} field"
                    f"{'' if len(record) == 1 else 's'}, but the header has {width} (every row "
                    "needs one value per column)"
                )
            if rows > MAX_TRACE_ROWS:
                raise WorkloadError(
                    f"{path}: more than the limit of {MAX_TRACE_ROWS:,} rows for a trace file"
                )
            if lines is None and reader.line_num != rows + 1:
                lines = array("q", range(2, rows + 1))
            if lines is not None:
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise WorkloadError(f"{path}: line {reader.line_num}: not CSV: {first_line(exc)}") from None
    if width < 0:
        raise WorkloadError(f"{path}: empty file (expected a header: timestamp,<column>)")
    return None if lines is None else np.frombuffer(lines, dtype=np.int64)


def _read_parquet(path: Path, data: bytes) -> pd.DataFrame:
    if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise WorkloadError(f"{path}: not a Parquet file (no PAR1 magic bytes at both ends)")
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        raise WorkloadError(f"{path}: reading Parquet needs pyarrow ({exc})") from None
    try:
        rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        if rows > MAX_TRACE_ROWS:
            raise WorkloadError(
                f"{path}: {rows:,} rows, more than the limit of {MAX_TRACE_ROWS:,} for a trace"
            )
        return pd.read_parquet(io.BytesIO(data))
    except WorkloadError:
        raise
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        raise WorkloadError(f"{path}: cannot read as Parquet: {first_line(exc)}") from None


def _read_frame(path: Path) -> tuple[pd.DataFrame, IntArray | None]:
    """The file's table, and each row's CSV line when not simply row + 2."""
    data = read_bounded(path)
    if not _is_csv(path):
        return _read_parquet(path, data), None
    lines = csv_line_numbers(path, data)
    try:
        return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig"), lines
    except (ValueError, pd.errors.ParserError) as exc:
        raise WorkloadError(f"{path}: cannot read as CSV: {first_line(exc)}") from None


def _offsets(
    frame: pd.DataFrame, path: Path, where: Callable[[int], str]
) -> tuple[FloatArray, datetime | None]:
    """Seconds since the first row, and the first row's time when timestamps are absolute."""
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps) and not pd.api.types.is_bool_dtype(stamps):
        seconds = stamps.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~(np.abs(seconds) <= MAX_TIMESTAMP_S))
        if bad.size:
            raise WorkloadError(
                f"{path}: timestamp: missing, not finite or beyond ±{MAX_TIMESTAMP_S:.0e} "
                f"seconds at {where(int(bad[0]))}: {_plain(stamps.iloc[bad[0]])!r}"
            )
        return seconds - seconds[0], None
    moments = pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(moments.isna().to_numpy())
    if bad.size:
        raise WorkloadError(
            f"{path}: timestamp: not an ISO 8601 time or number of seconds at "
            f"{where(bad[0])}: {stamps.iloc[bad[0]]!r}"
        )
    offsets = np.asarray((moments - moments.iloc[0]).dt.total_seconds(), dtype=np.float64)
    return offsets, moments.iloc[0].to_pydatetime()


@functools.lru_cache(maxsize=16)
def _load_table(path: Path, _mtime_ns: int, _size: int) -> _Table:
    """Read and parse a trace file; cached per path, modification time and size."""
    frame, lines = _read_frame(path)
    if "timestamp" not in frame.columns:
        raise WorkloadError(
            f"{path}: timestamp: column not found (columns: {', '.join(map(str, frame.columns))})"
        )
    if len(frame) < 2:
        raise WorkloadError(f"{path}: needs at least 2 rows to know its step, has {len(frame)}")
    where = functools.partial(row_name, _is_csv(path), lines=lines)
    offsets, first_time = _offsets(frame, path, where)
    return _Table(frame, offsets, first_time, _is_csv(path), lines)


def _table(path: Path) -> _Table:
    problem = file_problem(path)
    if problem is not None:
        raise WorkloadError(f"{path}: {problem}")
    info = path.stat()
    return _load_table(path.resolve(), info.st_mtime_ns, info.st_size)


def _step_s(table: _Table, path: Path) -> float:
    """The regular step; raises on unsorted, duplicate or off-grid timestamps."""
    stamps = table.frame["timestamp"]
    deltas = np.diff(table.offsets_s)
    if (deltas <= 0).any():
        i = int(np.flatnonzero(deltas <= 0)[0])
        later, earlier = f"{table.row(i + 1)} ({stamps.iloc[i + 1]})", table.row(i)
        if deltas[i] == 0:
            raise WorkloadError(f"{path}: timestamp: duplicate: {later} repeats {earlier}")
        raise WorkloadError(
            f"{path}: timestamp: not sorted: {later} is earlier than {earlier} ({stamps.iloc[i]})"
        )
    step = float(deltas.min())
    span = float(table.offsets_s[-1])
    if span / step > MAX_TRACE_STEPS:
        raise WorkloadError(
            f"{path}: timestamp: spans {format_duration(span)} in steps of {step:g} s "
            f"({span / step:.3g} steps), more than the limit of {MAX_TRACE_STEPS:,}; "
            "resample the trace to a coarser step"
        )
    off_grid = np.abs(deltas - np.rint(deltas / step) * step) > 1e-6 * step
    if off_grid.any():
        i = int(np.flatnonzero(off_grid)[0])
        raise WorkloadError(
            f"{path}: timestamp: not on a regular step of {step:g} s: {table.row(i + 1)} "
            f"({stamps.iloc[i + 1]}) is {deltas[i]:g} s after the row before"
        )
    return step


def _column_values(table: _Table, path: Path, column: str | None) -> tuple[str, FloatArray]:
    """The value column as floats (NaN where empty); raises on text, inf or negatives."""
    names = [str(c) for c in table.frame.columns if c != "timestamp"]
    if column is None:
        if len(names) != 1:
            raise WorkloadError(
                f"{path}: column: required, the file has several value columns: {', '.join(names)}"
            )
        column = names[0]
    if column not in names:
        raise WorkloadError(
            f"{path}: column {column!r} not found (columns: "
            f"{', '.join(map(str, table.frame.columns))})"
        )
    raw = table.frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    limit = column_limit(str(column))
    checks = (
        (np.isnan(values) & raw.notna().to_numpy(), "not a number"),
        (np.isinf(values), "not finite"),
        (values < 0, "negative value"),
        (values > limit, f"more than the limit of {limit:.0e}:"),
    )
    for bad, problem in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = raw.iloc[i].item() if hasattr(raw.iloc[i], "item") else raw.iloc[i]
            raise WorkloadError(
                f"{path}: {column}: {problem} {shown!r} at {table.row(i)} "
                f"(timestamp {table.frame['timestamp'].iloc[i]})"
            )
    return column, values


def column_limit(column: str) -> float:
    """The largest value a trace column may hold: ``MAX_RATE`` (1e9) for a load (requests
    per second, cores), ``MAX_MEMORY_BYTES`` (2⁵⁰) for a column of bytes (``*_bytes``, as
    ``capsim live`` writes memory), which can be read but never drive a service."""
    return float(MAX_MEMORY_BYTES) if column.endswith("_bytes") else MAX_RATE


def _window_offset(table: _Table, path: Path, name: str, bound: float | datetime) -> float:
    if isinstance(bound, float):
        return bound
    if table.first_time is None:
        raise WorkloadError(
            f"{path}: {name}: {bound.isoformat()} is a timestamp but the trace's timestamps "
            "are seconds; give a duration from the trace start instead"
        )
    return (bound - table.first_time).total_seconds()


def _gap_error(
    table: _Table,
    path: Path,
    column: str,
    step_s: float,
    window: FloatArray,
    rows: IntArray,
    base: int,
) -> WorkloadError:
    """The first gap in a window starting at grid step ``base``: a NaN value or missing rows.

    ``rows[i]`` is the file row of window step ``i``, or -1 where the file has no row.
    """
    missing = np.isnan(window)
    first = int(np.flatnonzero(missing)[0])
    advice = (
        f" (missing steps in the window: {int(missing.sum())}); set gaps: hold or "
        "gaps: fill (with fill_value) to replay it anyway"
    )
    row = int(rows[first])
    if row >= 0:
        return WorkloadError(
            f"{path}: {column}: NaN (empty) at {table.row(row)} "
            f"(timestamp {table.frame['timestamp'].iloc[row]})" + advice
        )
    run = first
    while run < len(window) and rows[run] < 0:
        run += 1
    return WorkloadError(
        f"{path}: timestamp: gap at {table.when((base + first) * step_s)}: no rows for "
        f"{format_duration((run - first) * step_s)} ({run - first} steps of {step_s:g} s)" + advice
    )


# Traces read once at the edge and shipped with a run to a machine without the user's files
# (a Dask worker): while set, read_trace answers from them only (capsim.scenario.portable).
_PRELOADED: ContextVar[Mapping[str, Trace] | None] = ContextVar("preloaded", default=None)


def trace_key(spec: TraceLoad, base_dir: Path) -> str:
    """What identifies a read trace: its file as the scenario names it, and the spec."""
    return f"{base_dir}\0{spec.model_dump_json()}"


@contextmanager
def preloaded_traces(traces: Mapping[str, Trace]) -> Iterator[None]:
    """Within the block, :func:`read_trace` returns ``traces[trace_key(spec, base_dir)]``
    and opens no file; a spec that is not there is a bug (``LookupError``)."""
    token = _PRELOADED.set(traces)
    try:
        yield
    finally:
        _PRELOADED.reset(token)


def read_trace(spec: TraceLoad, *, base_dir: Path, where: str = "load") -> Trace:
    """Read, check and window a trace; ``spec.path`` is relative to ``base_dir``.

    Raises :class:`WorkloadError` naming the file, field or column, and the bad value.
    """
    path = Path(spec.path) if Path(spec.path).is_absolute() else base_dir / spec.path
    preloaded = _PRELOADED.get()
    if preloaded is not None:
        key = trace_key(spec, base_dir)
        if key not in preloaded:
            raise LookupError(f"{path}: this trace was not read at the edge and shipped")
        source = f"{where}: {path}: " if where else f"{path}: "
        return dataclasses.replace(preloaded[key], source=source)
    problem = file_problem(path)
    if problem is not None:
        field = f"{where}.path" if where else "path"
        raise WorkloadError(f"{field}: {problem}: {spec.path}")
    table = _table(path)
    step = _step_s(table, path)
    column, values = _column_values(table, path, spec.column)
    index = np.rint(table.offsets_s / step).astype(np.int64)
    total_s = (int(index[-1]) + 1) * step
    start = 0.0 if spec.start is None else _window_offset(table, path, "start", spec.start)
    end = total_s if spec.end is None else _window_offset(table, path, "end", spec.end)
    for name, bound in (("start", start), ("end", end)):
        if not 0 <= bound <= total_s:
            raise WorkloadError(
                f"{path}: {name}: {table.when(bound)} is outside the trace "
                f"({table.when(0)} to {table.when(total_s)})"
            )
    if end <= start:
        raise WorkloadError(f"{path}: end ({table.when(end)}) must be after start")
    grid = np.full(int(index[-1]) + 1, np.nan)
    grid[index] = values
    rows = np.full(grid.shape, -1, dtype=np.int64)
    rows[index] = np.arange(len(index))
    first, last = math.floor(start / step), math.ceil(end / step - 1e-9)
    if spec.gaps == "hold":
        grid = pd.Series(grid).ffill().to_numpy(dtype=np.float64)
    elif spec.gaps == "fill":
        grid = np.where(np.isnan(grid), float(spec.fill_value or 0.0), grid)
    window = grid[first:last]
    if np.isnan(window).any():
        if spec.gaps == "hold":
            raise WorkloadError(f"{path}: {column}: gaps: hold has no value before the first gap")
        raise _gap_error(table, path, column, step, window, rows[first:last], first)
    peak = float(window.max()) if window.size else 0.0
    limit = column_limit(str(column))
    if peak * spec.scale > limit:
        field = f"{where}.scale" if where else "scale"
        raise WorkloadError(
            f"{field}: {column} peaks at {peak:g} in {path}; scaled by {spec.scale:g} that is "
            f"{peak * spec.scale:.3g}, more than the limit of {limit:.0e}, got {spec.scale!r}"
        )
    return Trace(
        values=window * spec.scale,
        step_s=step * spec.time_scale,
        unit=spec.unit or column,
        source=f"{where}: {path}: " if where else f"{path}: ",
        offset_s=(first * step - start) * spec.time_scale,
        span_s=(end - start) * spec.time_scale,
        loop=spec.loop,
        start_time=(
            table.first_time + timedelta(seconds=start)
            if table.first_time is not None and spec.time_scale == 1
            else None
        ),
    )
