"""Run results: the engine's recording → time series, events and jobs as DataFrames, the
JSON summary, pooled latency distributions and atomic file writing."""

from capsim.results.run_result import RunResult

__all__ = ["RunResult"]
