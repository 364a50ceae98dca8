"""Scenarios that run where the user's files are not: on another machine, or on a Dask
worker started in another folder (``capsim sweep --scheduler``).

Every file a parsed scenario names is read once, here at the edge, into typed, checked
data that travels with the run; the run then opens no file:

* **traces** (``load: {type: trace}``, also inside sums and products): each is read,
  checked and windowed by :func:`~capsim.scenario.load.traces.read_trace` into a
  :class:`~capsim.scenario.load.traces.Trace`, keyed by
  :func:`~capsim.scenario.load.traces.trace_key`. A run answers every trace read from these
  inside :func:`run_portable`'s block (:func:`~capsim.scenario.load.traces.preloaded_traces`);
  one that is not there is a bug, never a file read;
* **batch arrivals** from a CSV file (``arrivals.path``) become the same submit times,
  inline (``arrivals.times``): :func:`~capsim.scenario.jobs.submit_times` treats both alike;
* **an HPA manifest** (``hpa_manifest``) becomes the HPA spec that
  :func:`~capsim.scenario.platforms.hpa_template` picks from it, inline (``hpa``).

So a portable scenario gives the same inputs, seed streams and results as the original.
``base_dir`` is kept: it only names files in messages. Traces are kept apart from the
scenario so that many runs can share one copy (a Dask ``scatter``); everything else is
small and travels in the scenario.

Assumption: the files do not change between the read here and the end of the runs; the
runs see them as they were read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from capsim.scenario.jobs import read_submit_times
from capsim.scenario.load.requests import (
    RequestTrace,
    preloaded_requests,
    read_requests,
    request_key,
)
from capsim.scenario.load.specs import LoadSpec, ProductLoad, RequestsLoad, SumLoad, TraceLoad
from capsim.scenario.load.traces import Trace, preloaded_traces, read_trace, trace_key
from capsim.scenario.platforms import KubernetesPlatform, hpa_template
from capsim.scenario.schema import Scenario
from capsim.scenario.workloads import BatchWorkload, ServiceWorkload

__all__ = ["Shipped", "make_portable", "run_portable"]

Shipped = Trace | RequestTrace
"""A file's contents read at the edge and shipped with a run: a trace or a per-request
trace."""


def _trace_specs(spec: LoadSpec) -> Iterator[TraceLoad | RequestsLoad]:
    if isinstance(spec, TraceLoad | RequestsLoad):
        yield spec
    elif isinstance(spec, SumLoad | ProductLoad):
        for part in spec.parts:
            yield from _trace_specs(part)


def _inline_arrivals(scenario: Scenario) -> Scenario:
    workloads = []
    for workload in scenario.workloads:
        if isinstance(workload, BatchWorkload) and workload.arrivals.path is not None:
            times = tuple(float(t) for t in read_submit_times(workload.arrivals, scenario.base_dir))
            arrivals = workload.arrivals.model_copy(update={"path": None, "times_s": times})
            workload = workload.model_copy(update={"arrivals": arrivals})
        workloads.append(workload)
    return scenario.model_copy(update={"workloads": tuple(workloads)})


def _inline_hpa_manifests(scenario: Scenario) -> Scenario:
    platforms = {}
    for name, platform in scenario.platforms.items():
        if isinstance(platform, KubernetesPlatform):
            configs = {
                workload: (
                    config.model_copy(
                        update={
                            "hpa": hpa_template(config, scenario.base_dir, workload),
                            "hpa_manifest": None,
                        }
                    )
                    if config.hpa_manifest is not None
                    else config
                )
                for workload, config in platform.workloads.items()
            }
            platform = platform.model_copy(update={"workloads": configs})
        platforms[name] = platform
    return scenario.model_copy(update={"platforms": platforms})


def make_portable(scenario: Scenario) -> tuple[Scenario, dict[str, Shipped]]:
    """The scenario with its arrival files and HPA manifests inline, and its traces read
    (module docs). Raises what reading them raises (``WorkloadError``, ``ValueError``,
    ``ManifestError``); a scenario that :func:`~capsim.scenario.parse_scenario` accepted
    has already been read once, so these only come from files changed since."""
    traces: dict[str, Shipped] = {}
    for workload in scenario.workloads:
        if isinstance(workload, ServiceWorkload):
            for spec in _trace_specs(workload.load):
                if isinstance(spec, RequestsLoad):
                    key = request_key(spec, scenario.base_dir)
                    if key not in traces:
                        traces[key] = read_requests(spec, base_dir=scenario.base_dir)
                    continue
                key = trace_key(spec, scenario.base_dir)
                if key not in traces:
                    traces[key] = read_trace(spec, base_dir=scenario.base_dir, where="")
    return _inline_hpa_manifests(_inline_arrivals(scenario)), traces


@contextmanager
def run_portable(traces: Mapping[str, Shipped]) -> Iterator[None]:
    """Within the block, runs read traces only from ``traces`` (from :func:`make_portable`)
    and open no trace file."""
    plain = {k: v for k, v in traces.items() if isinstance(v, Trace)}
    requests = {k: v for k, v in traces.items() if isinstance(v, RequestTrace)}
    with preloaded_traces(plain), preloaded_requests(requests):
        yield
