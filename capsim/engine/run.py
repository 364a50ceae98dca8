"""The discrete-event engine: a scenario and a seed → a :class:`~capsim.engine.recording.
Recording` (:func:`capsim.run` makes it a run result).

Each platform of the scenario runs in its own SimPy environment against the same load
(:mod:`capsim.scenario.inputs`), so platforms never influence each other.

* **Lifecycles are events.** A pod is scheduled, pulls its image, starts and becomes
  Ready. A node is requested and becomes ready. A VM boots and enters service. A batch
  job is submitted, placed, runs and ends (:mod:`capsim.engine.batch`).
* **Periodic work runs in a fixed order at equal times** (:mod:`capsim.models.schedule`).
  The order is: the record row, the load tick (every service stepped at once with
  NumPy), then the metrics scrape, then the autoscalers (the HPA sync, or VM alarms),
  then the cluster autoscaler. So what a controller sees at time ``t`` includes the
  tick that starts at ``t``.

**Warm start.** Runs start warm. Every autoscaled workload starts at the size its
autoscaler would settle at for the first tick's load, clamped to its bounds. Its pods
or VMs are already running and ready, and the nodes they need are ready. Fixed-size
workloads start at their size.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.engine.kubernetes import KubernetesSim
from capsim.engine.platform import PlatformSim
from capsim.engine.progress import ProgressCallback
from capsim.engine.recorder import PlatformRecorder
from capsim.engine.recording import EVENT_COLUMNS, JOB_COLUMNS, Recording
from capsim.engine.vm import VmSim
from capsim.scenario import KubernetesPlatform, Scenario, ServiceWorkload, VmPlatform
from capsim.scenario.inputs import prepare_inputs

__all__ = ["simulate"]

_INT_COLUMNS = (
    "replicas_desired",
    "replicas_ready",
    "replicas_total",
    "nodes",
    "jobs_queued",
    "jobs_running",
)


def _joined(pieces: list[list[Any] | npt.NDArray[Any]]) -> list[Any] | npt.NDArray[Any]:
    """The platforms' pieces of one column, in order: one array for numbers, one list
    for names."""
    if all(isinstance(p, np.ndarray) for p in pieces):
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return [x for p in pieces for x in p]


def _frame(columns: dict[str, list[Any] | npt.NDArray[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(columns, copy=False)  # the columns are the run's own arrays
    for name in _INT_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype("int64")
    return frame


def _events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The decision and lifecycle log, built column by column (a list of row tuples goes
    through pandas' slow nested-data path)."""
    if not rows:
        return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    columns = {  # (zip(*rows) would make an iterator per row)
        name: pd.Series(list(map(operator.itemgetter(k), rows)))
        for k, name in enumerate(EVENT_COLUMNS)
    }
    return pd.DataFrame(columns, copy=False)


def _progress(progress: bool | ProgressCallback) -> ProgressCallback | None:
    if callable(progress):
        return progress
    if progress:
        from capsim.engine.progress import ProgressBars

        return ProgressBars()
    return None


def simulate(
    scenario: Scenario, seed: int | None = None, progress: bool | ProgressCallback = False
) -> Recording:
    """Simulate every platform of ``scenario`` (see the module docs).

    ``progress=True`` draws a bar per platform on stderr; a callable instead receives
    ``(platform, simulated seconds done, total)`` at every record row.
    """
    inputs = prepare_inputs(scenario, seed)
    report = _progress(progress)
    recorders: list[PlatformRecorder] = []
    job_rows: list[tuple[object, ...]] = []
    for name, platform in scenario.platforms.items():
        rng = np.random.default_rng(inputs.platform_seeds[name])
        sim: PlatformSim
        if isinstance(platform, KubernetesPlatform):
            sim = KubernetesSim(name, platform, inputs, rng)
        else:
            assert isinstance(platform, VmPlatform)
            sim = VmSim(name, platform, inputs, rng)
        sim.on_progress = report
        recorders.append(sim.run())
        job_rows.extend(sim.batch_jobs.job_rows(name))
    parts: dict[str, list[list[Any] | npt.NDArray[Any]]] = {}
    for recorder in recorders:
        for key, values in recorder.columns.items():
            parts.setdefault(key, []).append(values)
    columns = {key: _joined(pieces) for key, pieces in parts.items()}
    events = _events_frame([e for r in recorders for e in r.events])
    latency = {key: value for r in recorders for key, value in r.latency_components().items()}
    return Recording(
        scenario_name=scenario.name,
        seed=inputs.seed,
        duration_s=scenario.duration_s,
        tick_s=inputs.tick_s,
        record_every_s=inputs.record_every_s,
        timeseries=_frame(columns),
        events=events,
        latency=latency,
        slo={w.name: w.slo for w in scenario.workloads if isinstance(w, ServiceWorkload)},
        platform_kinds={name: p.kind for name, p in scenario.platforms.items()},
        workload_kinds={w.name: w.kind for w in scenario.workloads},
        jobs=pd.DataFrame(job_rows, columns=list(JOB_COLUMNS)),
        scenario=scenario.model_dump(mode="json", by_alias=False, exclude={"base_dir"}),
    )
