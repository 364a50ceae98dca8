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
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from capsim.results.files import fsync_dir, replace_folder, write_durably
from capsim.results.summary import summarize

__all__ = ["RunResult", "conform"]


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

    Equality compares the summaries and the frames (values, dtypes, columns, index).
    """

    timeseries: pd.DataFrame
    events: pd.DataFrame
    jobs: pd.DataFrame
    summary: dict[str, Any]

    @classmethod
    def from_recording(cls, recording: Recording) -> RunResult:
        """Conform the engine's frames to the schemas and compute the summary."""
        timeseries = conform(recording.timeseries, TIMESERIES_COLUMNS, "timeseries")
        events = conform(recording.events, EVENT_COLUMNS, "events")
        jobs = conform(recording.jobs, JOB_COLUMNS, "jobs")
        return cls(timeseries, events, jobs, summarize(recording, timeseries, events, jobs))

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

        Files go to a hidden sibling folder first; only once all are written and synced
        does it replace ``directory`` (rename the old one aside, rename the new one in,
        delete the old). A failure leaves an existing folder untouched and no staging
        folder behind. Same result → byte-identical files.
        """
        target = Path(directory)
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target}: exists and is not a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.saving-{uuid.uuid4().hex}")
        staging.mkdir()
        try:
            for name, data in self._files():
                write_durably(staging / name, data)
            fsync_dir(staging)
            replace_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a folder written by :meth:`save` (equal to what was saved)."""
        folder = Path(directory)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        parquet = folder / "timeseries.parquet"
        if parquet.exists():
            frame = pd.read_parquet(parquet, engine="pyarrow")
            timeseries = conform(frame, TIMESERIES_COLUMNS, parquet.name)
        else:
            timeseries = _read_csv(folder / "timeseries.csv", TIMESERIES_COLUMNS)
        events = _read_csv(folder / "events.csv", EVENT_COLUMNS)
        jobs = _read_csv(folder / "jobs.csv", JOB_COLUMNS)
        return cls(timeseries, events, jobs, summary)
