"""Run results: the engine's recording → time series, events and jobs as DataFrames, the
JSON summary (:mod:`.summary`), the pooled latency law (:mod:`.latency`) and atomic file
writing (:mod:`.files`). :func:`capsim.run` (:mod:`.simulate`) runs a scenario into a
:class:`~capsim.results.run_result.RunResult`.

Importing this package imports nothing: import the module you need.
"""
