"""Run results: what the engine recorded → time series, events, jobs and a JSON summary.

``RunResult.from_recording(recording)`` conforms the engine's frames to their schemas
(:mod:`capsim.engine.recording`; extra columns are kept after them) and computes the
summary (:mod:`capsim.results.summary`). A :class:`RunResult` is saved as one folder:
``summary.json``, ``timeseries.parquet`` (``timeseries.csv`` without pyarrow),
``events.csv`` and ``jobs.csv``; :meth:`RunResult.load` reads it back equal.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capsim.engine.recording import (
    EVENT_COLUMNS,
    JOB_COLUMNS,
    STRING,
    TIMESERIES_COLUMNS,
    Recording,
)
from capsim.results.files import output_folder, write_durably
from capsim.results.summary import summarize

__all__ = ["RunResult", "clock_time", "conform"]


def conform(frame: pd.DataFrame, columns: Mapping[str, str], name: str) -> pd.DataFrame:
    """``frame`` with the schema's columns first, in its dtypes, and a fresh RangeIndex.

    Strings: missing → ``""``, anything else via ``str``. Extra columns follow unchanged.
    Missing columns are an error unless the frame has no rows.
    """
    out = frame.reset_index(drop=True)
    missing = [c for c in columns if c not in out.columns]
    if missing and len(out):
        raise ValueError(f"{name}: missing columns {missing}")
    for col in missing:
        out[col] = pd.Series(dtype=object)
    for col, dtype in columns.items():
        try:
            out[col] = (
                out[col].fillna("").astype(str)
                if dtype == STRING
                else out[col].astype(np.dtype(dtype))
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}.{col}: cannot be read as {dtype}: {error}") from error
    return out[[*columns, *(c for c in out.columns if c not in columns)]]


def _parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with shortest round-trip floats, NaN as an empty field, ``\\n`` line ends."""
    return frame.to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet via pyarrow: no timestamps; pandas metadata (dtypes) is the same every time."""
    data = frame.to_parquet(None, engine="pyarrow", index=False, compression="zstd")
    assert data is not None
    return data


MAX_SUMMARY_BYTES = 64 * 2**20
"""Largest ``summary.json`` :meth:`RunResult.load` reads (a run's is a few kilobytes)."""


class ResultFolderError(ValueError):
    """A folder given as a saved run is not one (exit 2, one line naming the file)."""


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SUMMARY_BYTES + 1)
    except FileNotFoundError:
        raise ResultFolderError(f"{path}: file not found (not a saved run)") from None
    except OSError as exc:
        raise ResultFolderError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_SUMMARY_BYTES:
        raise ResultFolderError(f"{path}: larger than {MAX_SUMMARY_BYTES // 2**20} MiB")
    try:
        summary: dict[str, Any] = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if isinstance(exc, ValueError) else "nested too deep"
        raise ResultFolderError(f"{path}: not valid JSON: {reason}") from None
    problem = _summary_problem(summary)
    if problem:
        raise ResultFolderError(f"{path}: not a capsim run summary: {problem}")
    return summary


def clock_time(value: Any) -> datetime | None:
    """A summary's ``clock_start`` (ISO 8601 with a UTC offset) as an aware datetime,
    or None when it is not one (null, another type, no time zone, out of range)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or not 1 <= moment.year <= 9998:
        return None
    return moment.astimezone(UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _summary_problem(summary: Any) -> str | None:
    """What makes ``summary`` unlike the one :func:`summarize` writes, or None.

    The shape checked is what readers rely on: numbers at the top, ``platforms`` → name →
    figures (numbers or null) and ``kind``, and ``workloads`` → name → the same (and a
    service's ``slo`` verdict, an object or null)."""
    if not isinstance(summary, dict):
        return "a JSON object expected"
    for key in ("duration_s", "tick_s", "record_every_s"):
        if not _is_number(summary.get(key)) or not math.isfinite(summary[key]):
            return f"{key}: a finite number expected, got {summary.get(key)!r}"
    if not isinstance(summary.get("scenario_as_run"), dict):
        return "scenario_as_run: an object expected"
    start = summary.get("clock_start")
    if start is not None and clock_time(start) is None:
        return f"clock_start: an ISO 8601 UTC time or null expected, got {start!r}"
    checks = summary.get("checks", [])
    if not isinstance(checks, list):
        return f"checks: a list expected, got {checks!r}"
    for index, finding in enumerate(checks):
        fields = ("platform", "workload", "check", "message")
        if not isinstance(finding, dict) or not all(
            isinstance(finding.get(f), str) for f in fields
        ):
            return f"checks[{index}]: an object of strings {', '.join(fields)} expected"
    platforms = summary.get("platforms")
    if not isinstance(platforms, dict) or not platforms:
        return "platforms: an object of platforms expected"
    for name, platform in platforms.items():
        where = f"platforms.{name}"
        if not isinstance(platform, dict) or not isinstance(platform.get("workloads"), dict):
            return f"{where}.workloads: an object expected"
        entries = [(where, platform)] + [
            (f"{where}.workloads.{w}", e) for w, e in platform["workloads"].items()
        ]
        for at, entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
                return f"{at}.kind: a string expected"
            for key, value in entry.items():
                if key == "slo":  # a service's SLO verdict (capsim.models.slo)
                    problem = _slo_problem(value)
                    if problem:
                        return f"{at}.slo{problem}"
                    continue
                if key not in ("kind", "workloads") and not (value is None or _is_number(value)):
                    return f"{at}.{key}: a number or null expected, got {value!r}"
    return None


_SLO_FIELDS = {
    "latency": ("threshold_ms", "window_s", "objective_pct", "windows", "good_windows"),
    "errors": ("max_error_rate", "requests_failed", "requests_arrived"),
}


def _slo_problem(value: Any) -> str | None:
    """What makes a workload's ``slo`` entry unlike :meth:`SloVerdict.as_dict`'s (the
    fields a reader rebuilds the verdict from), as ``.field: reason``; or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return f": an object or null expected, got {value!r}"
    for part, names in _SLO_FIELDS.items():
        block = value.get(part)
        if block is None:
            continue
        if not isinstance(block, dict):
            return f".{part}: an object or null expected, got {block!r}"
        for name in names:
            number: Any = block.get(name)
            if not _is_number(number) or not math.isfinite(number) or number < 0:
                return f".{part}.{name}: a finite number >= 0 expected, got {number!r}"
    return None


def _read_csv(path: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    """Read a CSV written by :func:`_csv_bytes` back in the schema's dtypes."""
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: d for c, d in columns.items() if c in header}
    na = {c: [""] for c, d in dtypes.items() if d != STRING}
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=na, **exact)  # type: ignore[call-overload]
    return conform(frame, columns, path.name)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.columns.equals(b.columns) and a.dtypes.equals(b.dtypes) and a.equals(b)


@dataclass(frozen=True, eq=False)
class RunResult:
    """One run: time series, events and jobs (schemas above) and the JSON summary.

    ``scenario_document``: the scenario as a scenario file that reproduces the run
    (:func:`capsim.scenario.document.scenario_document`, at the run's seed), which the
    report shows; :func:`capsim.run` sets it. It is not saved (the summary's
    ``scenario_as_run`` is the record of the scenario), so a loaded result has ``None``.

    Equality compares the summaries and the frames (values, dtypes, columns, index).
    """

    timeseries: pd.DataFrame
    events: pd.DataFrame
    jobs: pd.DataFrame
    summary: dict[str, Any]
    scenario_document: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_recording(
        cls, recording: Recording, scenario_document: dict[str, Any] | None = None
    ) -> RunResult:
        """Conform the engine's frames to the schemas and compute the summary."""
        timeseries = conform(recording.timeseries, TIMESERIES_COLUMNS, "timeseries")
        events = conform(recording.events, EVENT_COLUMNS, "events")
        jobs = conform(recording.jobs, JOB_COLUMNS, "jobs")
        summary = summarize(recording, timeseries, events, jobs)
        return cls(timeseries, events, jobs, summary, scenario_document)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunResult):
            return NotImplemented
        pairs = (
            (self.timeseries, other.timeseries),
            (self.events, other.events),
            (self.jobs, other.jobs),
        )
        return self.summary == other.summary and all(_frames_equal(a, b) for a, b in pairs)

    def _files(self) -> Iterator[tuple[str, bytes]]:
        """``(file name, bytes)`` in writing order; the bytes depend only on the result."""
        text = json.dumps(self.summary, sort_keys=True, indent=2, allow_nan=False)
        yield "summary.json", (text + "\n").encode("utf-8")
        if _parquet_available():
            yield "timeseries.parquet", _parquet_bytes(self.timeseries)
        else:
            yield "timeseries.csv", _csv_bytes(self.timeseries)
        yield "events.csv", _csv_bytes(self.events)
        yield "jobs.csv", _csv_bytes(self.jobs)

    def save(self, directory: str | Path) -> Path:
        """Write the result folder atomically and return its path.

        ``directory`` must be new, empty, or a folder capsim wrote: anything else is
        refused with :class:`~capsim.results.files.OutputError` (capsim never replaces a
        folder it did not write). Files go to a hidden sibling folder first; only once
        all are written and synced does it replace ``directory``. A failure leaves an
        existing folder untouched and no staging folder behind. Same result →
        byte-identical files.
        """
        target = Path(directory)
        with output_folder(target, "directory") as staging:
            self.write_files(staging)
        return target

    def write_files(self, folder: Path) -> None:
        """Write the data files into ``folder`` (which exists), each synced."""
        for name, data in self._files():
            write_durably(folder / name, data)

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a folder written by :meth:`save` (equal to what was saved).

        A folder that is not one (a file missing, ``summary.json`` not a JSON object or
        larger than :data:`MAX_SUMMARY_BYTES`, a table that does not parse) raises
        :class:`ResultFolderError` naming the file.
        """
        folder = Path(directory)
        summary = _read_summary(folder / "summary.json")
        parquet = folder / "timeseries.parquet"
        try:
            if parquet.exists():
                frame = pd.read_parquet(parquet, engine="pyarrow")
                timeseries = conform(frame, TIMESERIES_COLUMNS, parquet.name)
            else:
                timeseries = _read_csv(folder / "timeseries.csv", TIMESERIES_COLUMNS)
            events = _read_csv(folder / "events.csv", EVENT_COLUMNS)
            jobs = _read_csv(folder / "jobs.csv", JOB_COLUMNS)
        except FileNotFoundError as exc:
            raise ResultFolderError(f"{exc.filename}: file not found (not a saved run)") from None
        except ImportError:
            raise
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ResultFolderError(f"{folder}: not a saved run: {first}") from None
        except Exception as exc:  # pyarrow's own errors on a file that is not Parquet
            if type(exc).__module__.startswith("pyarrow"):
                raise ResultFolderError(f"{parquet}: not a readable Parquet file") from None
            raise
        return cls(timeseries, events, jobs, summary)
