"""A pulled trace → a scenario of the real workload (``capsim live prometheus
--scenario-out``), ready for ``capsim run`` and ``capsim live compare``.

What the trace says is taken from it; what it cannot say is a stated assumption:

* **load**: the ``requests_per_s`` column when ``--rate-query`` was given, with
  ``cpu_ms_per_request`` = total CPU-seconds / total requests over the rows that have
  both. Without a request rate the load is the ``cpu_cores`` column itself, read as
  "requests" of 1,000 ms of CPU each: replicas and utilization are right, latency is not
  meaningful. Gaps are held (``gaps: hold``): the last value before a gap continues.
* **the window**: a held gap needs a value before it, so the trace (the CSV written beside
  the scenario, not only the scenario's window) starts at the first point where the load
  column has a value (:func:`trim_leading_gaps`); the points before it are left out and
  the assumptions say how many. ``capsim live compare`` then lines the simulation up with
  the trace's first row, as it does for any trace.
* **pod**: the median CPU and memory request per pod (capsim's defaults if absent; at
  least 1m and 1 byte, the smallest a manifest can say).
* **scaling**: the HPA's last minReplicas, maxReplicas and CPU Utilization target. Its
  ``behavior`` is not exported by kube-state-metrics: the scenario uses none (the legacy
  path) and says so. Without an HPA: fixed replicas, the median ready replicas.
* **nodes**: one autoscaled pool as ``capsim validate`` assumes (4 vCPU, 16 GiB, $0.194/h,
  1–200 nodes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capsim.analysis.validate import (
    DEFAULT_CPU_REQUEST,
    DEFAULT_MEMORY_REQUEST,
    NodePool,
    workload_name,
)

__all__ = ["load_column", "scenario_from_trace", "trim_leading_gaps"]


def _last(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame.columns:
        return None
    values = frame[column].dropna()
    return float(values.iloc[-1]) if len(values) else None


def _median(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame.columns:
        return None
    values = frame[column].dropna()
    return float(values.median()) if len(values) else None


def load_column(frame: pd.DataFrame) -> str:
    """The column the scenario replays: ``requests_per_s`` when pulled, else ``cpu_cores``."""
    return "requests_per_s" if "requests_per_s" in frame.columns else "cpu_cores"


def trim_leading_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` from its first row with a value in the load column on (rows renumbered),
    and a note when rows were left out. ``ValueError`` when the column has no value at
    all (there is nothing to replay)."""
    column = load_column(frame)
    present = frame[column].notna().to_numpy()
    if not present.any():
        raise ValueError(f"{column}: no value at any of the {len(frame)} points (every one a gap)")
    first = int(np.argmax(present))
    if first == 0:
        return frame, []
    trimmed = frame.iloc[first:].reset_index(drop=True)
    note = (
        f"the trace starts at {trimmed['timestamp'].iloc[0]}, the first point with a {column} "
        f"value: the {first} points from {frame['timestamp'].iloc[0]} on had none and are left "
        "out (a held gap needs a value before it)"
    )
    return trimmed, [note]


def scenario_from_trace(
    frame: pd.DataFrame,
    *,
    trace_path: Path,
    scenario_path: Path,
    namespace: str,
    deployment: str,
    step_s: float,
    source: str,
) -> tuple[dict[str, Any], list[str]]:
    """The scenario (a mapping to write as YAML) and its assumptions, one line each."""
    notes: list[str] = []
    name = workload_name(deployment)
    relative = Path(os.path.relpath(trace_path.resolve(), scenario_path.resolve().parent))
    load: dict[str, Any] = {"type": "trace", "path": relative.as_posix(), "gaps": "hold"}
    have_rate = load_column(frame) == "requests_per_s"
    if have_rate:
        both = frame[["cpu_cores", "requests_per_s"]].dropna()
        cpu_s, requests = float(both["cpu_cores"].sum()), float(both["requests_per_s"].sum())
        cpu_ms = 1000.0 * cpu_s / requests if requests > 0 else 50.0
        load["column"] = "requests_per_s"
        notes.append(f"{cpu_ms:.1f} ms of CPU per request: the pulled CPU over the pulled requests")
    else:
        cpu_ms = 1000.0
        load["column"] = "cpu_cores"
        notes.append(
            "no --rate-query: the load is the CPU itself (1,000 ms of CPU per 'request'); "
            "replicas and utilization are modelled, latency is not"
        )
    pod: dict[str, Any] = {}
    cpu_request = _median(frame, "cpu_request_cores")
    memory_request = _median(frame, "memory_request_bytes")
    pod["cpu_request"] = (
        f"{max(1, round(cpu_request * 1000))}m" if cpu_request else DEFAULT_CPU_REQUEST
    )
    pod["memory_request"] = (
        max(1, round(memory_request)) if memory_request else DEFAULT_MEMORY_REQUEST
    )
    if not cpu_request:
        notes.append(f"no CPU request in the data: {DEFAULT_CPU_REQUEST} assumed")
    scaling, scaling_notes = _scaling(frame)
    notes.extend(scaling_notes)
    pool = NodePool()
    notes.append(
        f"node pool {pool.name}: {pool.vcpu} vCPU, {pool.memory}, ${pool.price_per_hour}/h, "
        "1 to 200 nodes under the cluster autoscaler (capsim validate's assumption)"
    )
    duration = (len(frame) - 1) * step_s
    scenario = {
        "name": name,
        "description": f"capsim live prometheus: {namespace}/{deployment} from {source}, "
        f"{frame['timestamp'].iloc[0]} to {frame['timestamp'].iloc[-1]}",
        "seed": 0,
        "duration": duration,
        "workloads": [
            {"kind": "service", "name": name, "load": load, "cpu_ms_per_request": round(cpu_ms, 3)}
        ],
        "platforms": {
            "kubernetes": {
                "kind": "kubernetes",
                "node_pools": [pool.scenario_pool()],
                "workloads": {name: {"pod": pod, **scaling}},
            }
        },
    }
    return scenario, notes


def _scaling(frame: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    low, high = _last(frame, "hpa_min_replicas"), _last(frame, "hpa_max_replicas")
    target = _last(frame, "hpa_target_cpu_utilization")
    if high is not None and target is not None:
        hpa = {
            "minReplicas": int(low) if low is not None else 1,
            "maxReplicas": int(high),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": round(target)},
                    },
                }
            ],
        }
        return {"hpa": hpa}, [
            f"HPA: {hpa['minReplicas']}–{hpa['maxReplicas']} replicas at {round(target)} % CPU "
            "(its behavior is not in kube-state-metrics: none assumed; add it from "
            "`kubectl get hpa -o yaml` if it has one)"
        ]
    ready = _median(frame, "replicas_ready")
    replicas = max(1, round(ready)) if ready is not None and np.isfinite(ready) else 1
    note = (
        "an HPA without a CPU Utilization target: fixed replicas assumed"
        if high is not None
        else "no HPA"
    )
    return {"replicas": replicas}, [f"{note}: {replicas} replicas (the median ready)"]
