"""The figure of ``capsim live compare``: the cluster's replicas (and CPU utilization,
when observed) against the simulation's (:mod:`capsim.analysis.calibrate`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from capsim.report.figures import time_axis

__all__ = ["calibration_figure"]


def calibration_figure(observed: pd.DataFrame, simulated: pd.DataFrame, title: str) -> Figure:
    """Replicas (and utilization, when observed) of the cluster and of the simulation."""
    at = observed["time_s"].to_numpy(dtype=np.float64)
    axis = time_axis(float(at[-1]) if at.size else 0.0)
    has_util = bool(np.isfinite(observed["utilization_pct"].to_numpy(dtype=np.float64)).any())
    figure = Figure(figsize=(9.0, 6.0 if has_util else 3.6), layout="constrained")
    panels = figure.subplots(2 if has_util else 1, 1, sharex=True, squeeze=False)[:, 0]
    sim_t = simulated["time_s"].to_numpy(dtype=np.float64)
    for ax, column, label in zip(
        panels,
        ("replicas", "utilization_pct"),
        ("ready replicas", "CPU utilization (%)"),
        strict=False,
    ):
        ax.step(
            axis.of(at), observed[column], where="post", label="cluster (observed)", color="#444444"
        )
        ax.step(
            axis.of(sim_t), simulated[column], where="post", label="simulation", color="#1f77b4"
        )
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    panels[0].set_title(title)
    panels[-1].set_xlabel(axis.label)
    return figure
