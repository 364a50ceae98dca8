"""Report figures from a :class:`~capsim.RunResult`: one Figure per chart, headless.

Figures are built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``, no global
state); :func:`save_png` writes one through the Agg renderer. :func:`figures` returns them
in reading order, keyed by file stem:

* per service workload ``w``: ``load_w`` (arrival and served rate, SLO-violation spans
  shaded), ``replicas_w`` (ready and desired replicas, VMs, scale events),
  ``latency_w`` (p95 latency against the SLO) and ``requests_w`` (requests in flight and
  queued per ready replica, and the target of an HPA on ``requests_in_flight``);
* ``utilization``, ``nodes`` and ``cost``: one line per platform on shared axes;
* with batch workloads: ``batch_queue`` (jobs running and queued, two panels) and
  ``batch_waits`` (the distribution of job waits).

**Time.** A time-series row describes the record interval *ending* at its ``time_s``
(``t₋₁ = 0``), so series are drawn as steps over ``(tₖ₋₁, tₖ]``: the value is held over
the interval it describes. The time axis is clock time (UTC) when the run's summary has a
``clock_start`` (its traces are timestamped: :func:`capsim.scenario.load.clock_start`),
else time since the start in minutes (runs up to 3 h), hours (up to 3 days) or days.
Latency is always on a log axis (:func:`latency_range_ms`); the arrival rate is drawn
under the served lines. Every platform keeps one colour (:data:`PLATFORM_COLORS`, by sorted name,
from the colour-blind safe Okabe–Ito palette); black is kept for load and SLO lines.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from capsim.analysis.metrics import row_spans
from capsim.hpa.quantity import quantity_milli
from capsim.results.files import replace_file
from capsim.results.run_result import RunResult, clock_time
from capsim.results.summary import interval_error_rate

__all__ = [
    "PALETTE",
    "PLATFORM_COLORS",
    "TimeAxis",
    "figures",
    "hpa_pods_targets",
    "latency_range_ms",
    "platform_colors",
    "png_bytes",
    "save_png",
    "time_axis",
    "violation_spans",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Okabe & Ito (2008) colour-blind safe colours, black left out (reference lines use it)
#: and yellow last (faint on white).
PALETTE: Final[tuple[str, ...]] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
)
REFERENCE_COLOR: Final = "black"
FIGSIZE: Final = (9.0, 3.6)
SHADE_ALPHA: Final = 0.18
LATENCY_MIN_FACTOR: Final = 10.0  # the latency (log) axis spans at least this factor


def platform_colors(platforms: Iterable[str]) -> dict[str, str]:
    """Each platform's colour: :data:`PALETTE` in order of sorted name (cycled past 7)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(platforms)))}


#: The platform → colour rule used by every figure (the function :func:`platform_colors`).
PLATFORM_COLORS: Final[Callable[[Iterable[str]], dict[str, str]]] = platform_colors


# --- time axis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeAxis:
    """The x axis: ``x = time_s / seconds_per_unit + origin``, and its label.

    Elapsed time (``clock_start`` None) starts at 0 in minutes, hours or days. Clock time
    (the run's ``clock_start``, UTC) puts x in matplotlib's date numbers (days since its
    epoch) for the PNG figures; :meth:`in_milliseconds` gives plotly's (ms since 1970)."""

    seconds_per_unit: float
    label: str
    origin: float = 0.0
    clock_start: datetime | None = None

    def of(self, time_s: npt.ArrayLike) -> FloatArray:
        """Simulated seconds → x."""
        return np.asarray(time_s, dtype=np.float64) / self.seconds_per_unit + self.origin

    def in_milliseconds(self) -> TimeAxis:
        """This axis for plotly: clock time as milliseconds since 1970 (a ``date`` axis),
        elapsed time unchanged."""
        if self.clock_start is None:
            return self
        return TimeAxis(0.001, self.label, self.clock_start.timestamp() * 1000.0, self.clock_start)


def time_axis(duration_s: float, clock_start: datetime | None = None) -> TimeAxis:
    """Clock time (UTC) when the run has a ``clock_start``; else minutes up to 3 h, hours
    up to 3 days, days beyond, since the start."""
    if clock_start is not None:
        origin = float(mdates.date2num(clock_start))  # type: ignore[no-untyped-call]
        return TimeAxis(86400.0, "time (UTC)", origin, clock_start)
    if duration_s <= 3 * 3600:
        return TimeAxis(60.0, "time since start (min)")
    if duration_s <= 3 * 86400:
        return TimeAxis(3600.0, "time since start (h)")
    return TimeAxis(86400.0, "time since start (days)")


def _wait_unit(max_wait_s: float) -> tuple[float, str]:
    """Seconds up to 2 min, minutes up to 3 h, hours beyond."""
    if max_wait_s <= 120:
        return 1.0, "s"
    if max_wait_s <= 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


# --- array helpers -----------------------------------------------------------------------


def _col(frame: pd.DataFrame, name: str) -> FloatArray:
    return frame[name].to_numpy(dtype=np.float64)


def _steps(time_s: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Points for ``drawstyle="steps-pre"`` covering ``(0, t₀]`` too (row 0 held from 0)."""
    if not time_s.size:
        return time_s, values
    return np.concatenate(([0.0], time_s)), np.concatenate((values[:1], values))


def violation_spans(time_s: npt.ArrayLike, bad: npt.ArrayLike) -> FloatArray:
    """``(start, end)`` seconds of each run of consecutive bad rows, shape ``(n, 2)``
    (:func:`capsim.analysis.metrics.row_spans`)."""
    return row_spans(time_s, bad)


# --- the prepared run --------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """What the figures share: platforms and colours, workloads by kind, series by key."""

    result: RunResult
    axis: TimeAxis
    duration_s: float
    platforms: tuple[str, ...]
    colors: dict[str, str]
    platform_kinds: dict[str, str]
    services: tuple[str, ...]
    batches: tuple[str, ...]
    series: dict[tuple[str, str], pd.DataFrame]

    def rows(self, platform: str, workload: str) -> pd.DataFrame:
        """One workload's rows on one platform in time order (empty if none)."""
        empty = self.result.timeseries.iloc[:0]
        return self.series.get((platform, workload), empty)

    def workload_info(self, platform: str, workload: str) -> Mapping[str, Any]:
        """The summary's entry for one workload on one platform (empty if none)."""
        info: Mapping[str, Any] = (
            self.result.summary.get("platforms", {})
            .get(platform, {})
            .get("workloads", {})
            .get(workload, {})
        )
        return info

    def slo(self, workload: str) -> tuple[float | None, float | None]:
        """``(p95 target ms, max error rate)`` of a service (the first platform that has it)."""
        for platform in self.platforms:
            info = self.workload_info(platform, workload)
            if info:
                p95, error = info.get("slo_p95_ms"), info.get("slo_max_error_rate")
                return (
                    None if p95 is None else float(p95),
                    None if error is None else float(error),
                )
        return None, None


def _workload_order(summary: Mapping[str, Any], names: set[str]) -> list[str]:
    """Scenario order where the summary gives it, then the rest sorted."""
    listed = summary.get("scenario_as_run", {}).get("workloads", [])
    ordered = [w["name"] for w in listed if isinstance(w, Mapping) and w.get("name") in names]
    return ordered + sorted(names - set(ordered))


def _prepare(result: RunResult) -> _Run:
    """Platforms (sorted), workload kinds from the summary, and each series split once."""
    ts = result.timeseries.sort_values(["platform", "workload", "time_s"], kind="stable")
    summary = result.summary
    platforms_info: Mapping[str, Any] = summary.get("platforms", {})
    platforms = tuple(sorted(set(platforms_info) | set(ts["platform"].unique())))
    kinds: dict[str, str] = {}
    for platform in platforms:
        for workload, info in platforms_info.get(platform, {}).get("workloads", {}).items():
            kinds.setdefault(workload, info.get("kind", "service"))
    for workload in ts["workload"].unique():
        kinds.setdefault(str(workload), "service")
    order = _workload_order(summary, set(kinds))
    duration = summary.get("duration_s")
    if duration is None:
        duration = float(ts["time_s"].max()) if len(ts) else 0.0
    series = {
        (str(key[0]), str(key[1])): frame
        for key, frame in ts.groupby(["platform", "workload"], sort=True)
    }
    return _Run(
        result=result,
        axis=time_axis(float(duration), clock_time(summary.get("clock_start"))),
        duration_s=float(duration),
        platforms=platforms,
        colors=platform_colors(platforms),
        platform_kinds={p: str(platforms_info.get(p, {}).get("kind", "")) for p in platforms},
        services=tuple(w for w in order if kinds[w] == "service"),
        batches=tuple(w for w in order if kinds[w] == "batch"),
        series=series,
    )


# --- figure scaffolding ------------------------------------------------------------------


def _new_figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=FIGSIZE, layout="constrained")
    return figure, figure.add_subplot()


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title, axis labels, light grid, and a legend right of the axes if anything is named;
    whole-number ticks on a count axis."""
    if "(count)" in ylabel:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
        )


def _time_limits(run: _Run, ax: Axes) -> None:
    """The x axis spans the run, from its start to its end, in the run's time unit; dates
    (concise labels) on a clock-time axis."""
    if run.duration_s > 0:
        ax.set_xlim(*run.axis.of([0.0, run.duration_s]))
    if run.axis.clock_start is not None:
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(
            mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        )


def _time_figure(run: _Run) -> tuple[Figure, Axes]:
    """A figure whose x axis is the run's time."""
    figure, ax = _new_figure()
    _time_limits(run, ax)
    return figure, ax


def _step_line(ax: Axes, run: _Run, time_s: FloatArray, values: FloatArray, **style: Any) -> None:
    x, y = _steps(time_s, values)
    ax.plot(run.axis.of(x), y, drawstyle="steps-pre", **({"linewidth": 1.4} | style))


def _shade_spans(
    ax: Axes, spans_x: FloatArray, band: tuple[float, float], color: str, label: str
) -> None:
    """One collection of full-width rectangles over ``spans_x`` (x in data units) filling
    the fraction ``band`` of the axes height."""
    low, high = band
    x0, x1 = spans_x[:, 0], spans_x[:, 1]
    corners = np.stack(
        (
            np.column_stack((x0, np.full_like(x0, low))),
            np.column_stack((x0, np.full_like(x0, high))),
            np.column_stack((x1, np.full_like(x0, high))),
            np.column_stack((x1, np.full_like(x0, low))),
        ),
        axis=1,
    )
    collection = PolyCollection(
        list(corners),
        transform=ax.get_xaxis_transform(),
        facecolors=color,
        edgecolors="none",
        alpha=SHADE_ALPHA,
        label=label,
    )
    ax.add_collection(collection, autolim=False)


# --- service figures ---------------------------------------------------------------------


def _violations(rows: pd.DataFrame, slo: tuple[float | None, float | None]) -> BoolArray:
    """Rows violating the service's objective: p95 above its target (NaN p95, nothing
    served, never does), or requests dropped: error rate above the allowed one if the SLO
    sets one, else any drop."""
    target_ms, max_error = slo
    bad: BoolArray = np.zeros(len(rows), dtype=bool)
    if target_ms is not None:
        bad |= _col(rows, "latency_p95_ms") > target_ms
    dropped = _col(rows, "dropped_rate")
    if max_error is not None:
        bad |= interval_error_rate(_col(rows, "served_rate"), dropped) > max_error
    else:
        bad |= dropped > 0
    return bad


def _load_figure(run: _Run, workload: str) -> Figure:
    """Arrival rate (thin dashed black, under the served lines: it shows where a platform
    served less than arrived; the same load reaches every platform) and each platform's
    served rate (requests/s), with the spans where that platform violated its SLO or
    dropped requests shaded in its colour, each platform in its own band of the height."""
    figure, ax = _time_figure(run)
    slo = run.slo(workload)
    present = [p for p in run.platforms if len(run.rows(p, workload))]
    if present:
        first = run.rows(present[0], workload)
        _step_line(
            ax,
            run,
            _col(first, "time_s"),
            _col(first, "arrival_rate"),
            color=REFERENCE_COLOR,
            linestyle="--",
            linewidth=1.0,
            zorder=1.5,  # under the served lines (2): they stay readable where they match it
            label="arrival rate",
        )
    what = "SLO violated" if slo != (None, None) else "dropping requests"
    for i, platform in enumerate(present):
        rows = run.rows(platform, workload)
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        _step_line(
            ax, run, time_s, _col(rows, "served_rate"), color=color, label=f"{platform} served"
        )
        spans = violation_spans(time_s, _violations(rows, slo))
        if len(spans):
            band = (i / len(present), (i + 1) / len(present))
            _shade_spans(ax, run.axis.of(spans), band, color, f"{platform}: {what}")
    ax.set_ylim(bottom=0.0)
    _finish(ax, f"{workload}: load and throughput", run.axis.label, "rate (requests/s)")
    return figure


MAX_SCALE_MARKERS = 120
"""Beyond this many scale events of one platform, the replica figure draws none: the
markers would bury the lines (the dashed desired line steps at each event anyway), and
the legend says how many were left out."""


def _scale_markers(ax: Axes, run: _Run, platform: str, workload: str) -> None:
    """▲/▼ at each scale event's time and target (replicas on Kubernetes, VMs on VMs), up
    to :data:`MAX_SCALE_MARKERS` of them."""
    events = run.result.events
    mine = events[
        (events["kind"] == "scale")
        & (events["platform"] == platform)
        & (events["workload"] == workload)
    ]
    if not len(mine):
        return
    if len(mine) > MAX_SCALE_MARKERS:
        ax.plot(
            [], [], linestyle="none", label=f"{platform}: {len(mine):,} scale events, not marked"
        )
        return
    t, before, after = run.axis.of(_col(mine, "time_s")), _col(mine, "from"), _col(mine, "to")
    color = run.colors[platform]
    for marker, which, word in (("^", after > before, "up"), ("v", after < before, "down")):
        if which.any():
            ax.plot(
                t[which],
                after[which],
                linestyle="none",
                marker=marker,
                markersize=6,
                color=color,
                markeredgecolor="black",
                markeredgewidth=0.5,
                label=f"{platform} scale {word}",
            )


def _replicas_figure(run: _Run, workload: str) -> Figure:
    """Ready (solid) and desired (dashed) replicas per platform, VMs (dotted) where a VM
    runs several instances, and scale events (▲ up, ▼ down) at their new target."""
    figure, ax = _time_figure(run)
    vms_drawn = False
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        _step_line(
            ax, run, time_s, _col(rows, "replicas_ready"), color=color, label=f"{platform} ready"
        )
        _step_line(
            ax,
            run,
            time_s,
            _col(rows, "replicas_desired"),
            color=color,
            linestyle="--",
            alpha=0.8,
            label=f"{platform} desired",
        )
        vms = _col(rows, "nodes")
        if run.platform_kinds[platform] == "vm" and not np.array_equal(
            vms, _col(rows, "replicas_total")
        ):
            vms_drawn = True
            _step_line(ax, run, time_s, vms, color=color, linestyle=":", label=f"{platform} VMs")
        _scale_markers(ax, run, platform, workload)
    ax.set_ylim(bottom=0.0)
    ylabel = "replicas, VMs (count)" if vms_drawn else "replicas (count)"
    _finish(ax, f"{workload}: replicas desired vs ready", run.axis.label, ylabel)
    return figure


def latency_range_ms(values: FloatArray) -> tuple[float, float] | None:
    """The latency axis's range (ms): every report draws latency on a log axis, from a
    third below the lowest to a half above the highest positive value, widened evenly to
    at least :data:`LATENCY_MIN_FACTOR` (one decade) so that it always shows a few
    labelled ticks; None when there is no positive value."""
    positive = values[np.isfinite(values) & (values > 0)]
    if not positive.size:
        return None
    low, high = float(positive.min()) / 1.5, float(positive.max()) * 1.5
    short = LATENCY_MIN_FACTOR / (high / low)
    if short > 1:
        low, high = low / math.sqrt(short), high * math.sqrt(short)
    return low, high


def _latency_figure(run: _Run, workload: str) -> Figure:
    """p95 latency per platform (ms; gaps where nothing was served) and the SLO target as
    a dashed black line, on a log axis (:func:`latency_range_ms`) labelled at 1-2-5 steps."""
    figure, ax = _time_figure(run)
    seen = [np.empty(0)]
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        p95 = _col(rows, "latency_p95_ms")
        seen.append(p95)
        _step_line(ax, run, _col(rows, "time_s"), p95, color=run.colors[platform], label=platform)
    target_ms = run.slo(workload)[0]
    if target_ms is not None:
        seen.append(np.array([target_ms]))
        ax.axhline(
            target_ms,
            color=REFERENCE_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=f"SLO p95 {target_ms:g} ms",
        )
    ax.set_yscale("log")
    limits = latency_range_ms(np.concatenate(seen))
    if limits is not None:
        ax.set_ylim(*limits)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    _finish(ax, f"{workload}: p95 latency vs SLO", run.axis.label, "p95 latency (ms, log)")
    return figure


def hpa_pods_targets(
    result: RunResult, metric: str = "requests_in_flight"
) -> dict[tuple[str, str], float]:
    """``(platform, workload) → target`` per pod of each HPA written inline in the run's
    scenario that scales on the Pods metric ``metric`` (its ``averageValue``, in units).
    An HPA in a manifest file is not in the summary, so it is not listed."""
    out: dict[tuple[str, str], float] = {}
    platforms = result.summary.get("scenario_as_run", {}).get("platforms", {})
    for platform, spec in platforms.items():
        workloads = spec.get("workloads", {}) if isinstance(spec, Mapping) else {}
        for workload, config in workloads.items():
            hpa = config.get("hpa") if isinstance(config, Mapping) else None
            for entry in (hpa or {}).get("metrics", []) or []:
                pods = entry.get("pods") if entry.get("type") == "Pods" else None
                if not pods or pods.get("metric", {}).get("name") != metric:
                    continue
                value = pods.get("target", {}).get("average_value")
                if value is not None:
                    out[(str(platform), str(workload))] = quantity_milli(value) / 1000.0
    return out


def _requests_figure(run: _Run, workload: str, targets: Mapping[tuple[str, str], float]) -> Figure:
    """Requests in flight (solid: in service plus queued) and queued (dotted) per ready
    replica, interval means, per platform; the target of an HPA on
    ``requests_in_flight`` as a dash-dotted line in the platform's colour."""
    figure, ax = _time_figure(run)
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        _step_line(
            ax,
            run,
            time_s,
            _col(rows, "in_flight_per_pod"),
            color=color,
            label=f"{platform} in flight",
        )
        _step_line(
            ax,
            run,
            time_s,
            _col(rows, "queue_per_pod"),
            color=color,
            linestyle=":",
            label=f"{platform} queued",
        )
        target = targets.get((platform, workload))
        if target is not None:
            ax.axhline(
                target,
                color=color,
                linestyle="-.",
                linewidth=2.0,
                alpha=0.5,  # the in-flight line sits on it once the HPA has settled
                label=f"{platform} HPA target {target:g}",
            )
    ax.set_ylim(bottom=0.0)
    _finish(
        ax,
        f"{workload}: requests per ready replica",
        run.axis.label,
        "in flight, queued (requests per replica)",
    )
    return figure


# --- platform figures --------------------------------------------------------------------


def _platform_frame(run: _Run, platform: str) -> pd.DataFrame:
    """Per time: nodes (Kubernetes: the pool count every row repeats, so max; VMs: each
    workload's own, so sum), cumulative cost, vCPUs bought and cores used, in time order."""
    ts = run.result.timeseries
    rows = ts[ts["platform"] == platform]
    nodes = "sum" if run.platform_kinds[platform] == "vm" else "max"
    return rows.groupby("time_s", sort=True).agg(
        nodes=("nodes", nodes),
        cost=("cost_usd", "max"),
        cpu=("platform_cpu_cores", "max"),
        used=("cpu_used_cores", "sum"),
        gpus=("platform_gpus", "max"),
        gpu_used=("gpu_used", "sum"),
    )


def _platform_figure(
    run: _Run,
    frames: Mapping[str, pd.DataFrame],
    value: Callable[[pd.DataFrame], FloatArray],
    steps: bool = True,
) -> tuple[Figure, Axes]:
    """One line per platform of ``value(frame)`` over the frame's time index."""
    figure, ax = _time_figure(run)
    for platform, frame in frames.items():
        time_s = frame.index.to_numpy(dtype=np.float64)
        color = run.colors[platform]
        if steps:
            _step_line(ax, run, time_s, value(frame), color=color, label=platform)
        else:  # a cumulative quantity: a line from 0 at t = 0
            x = run.axis.of(np.concatenate(([0.0], time_s)))
            ax.plot(x, np.concatenate(([0.0], value(frame))), color=color, label=platform)
    return figure, ax


def _utilization_pct(frame: pd.DataFrame) -> FloatArray:
    used, bought = _col(frame, "used"), _col(frame, "cpu")
    return np.divide(100.0 * used, bought, out=np.zeros_like(used), where=bought > 0)


def _utilization_figure(run: _Run, frames: Mapping[str, pd.DataFrame]) -> Figure:
    """CPU used by all workloads as a share of the vCPUs bought (nodes or VMs), per
    platform, in % (0 while nothing is bought)."""
    figure, ax = _platform_figure(run, frames, _utilization_pct)
    ax.set_ylim(0.0, 100.0)
    _finish(ax, "CPU utilization of what was bought", run.axis.label, "CPU used / bought (%)")
    return figure


def _gpu_utilization_pct(frame: pd.DataFrame) -> FloatArray:
    used, bought = _col(frame, "gpu_used"), _col(frame, "gpus")
    return np.divide(100.0 * used, bought, out=np.zeros_like(used), where=bought > 0)


def _gpu_utilization_figure(run: _Run, frames: Mapping[str, pd.DataFrame]) -> Figure:
    """GPUs busy with batch work as a share of the GPUs bought, per platform, in %."""
    figure, ax = _platform_figure(run, frames, _gpu_utilization_pct)
    ax.set_ylim(0.0, 100.0)
    _finish(ax, "GPU utilization of what was bought", run.axis.label, "GPUs used / bought (%)")
    return figure


def _nodes_figure(run: _Run, frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Nodes (Kubernetes) or VMs (VM platforms, all workloads) per platform."""
    figure, ax = _platform_figure(run, frames, lambda f: _col(f, "nodes"))
    ax.set_ylim(bottom=0.0)
    _finish(ax, "Nodes and VMs over time", run.axis.label, "nodes / VMs (count)")
    return figure


def _cost_figure(run: _Run, frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Cumulative cost per platform (USD), from 0 at the start."""
    figure, ax = _platform_figure(run, frames, lambda f: _col(f, "cost"), steps=False)
    ax.set_ylim(bottom=0.0)
    _finish(ax, "Cumulative cost", run.axis.label, "cumulative cost (USD)")
    return figure


# --- batch figures -----------------------------------------------------------------------


def _batch_queue_figure(run: _Run) -> Figure:
    """Batch jobs running (top) and queued (bottom) per platform, summed over batch
    workloads, at each record time: two panels sharing the time axis, so neither hides
    the other on long runs."""
    figure = Figure(figsize=(FIGSIZE[0], 1.5 * FIGSIZE[1]), layout="constrained")
    running_ax = figure.add_subplot(2, 1, 1)
    queued_ax = figure.add_subplot(2, 1, 2, sharex=running_ax)
    _time_limits(run, running_ax)
    ts = run.result.timeseries
    batch = ts[ts["workload"].isin(run.batches)]
    for platform in run.platforms:
        rows = batch[batch["platform"] == platform]
        if not len(rows):
            continue
        per_time = rows.groupby("time_s", sort=True)[["jobs_queued", "jobs_running"]].sum()
        time_s, color = per_time.index.to_numpy(dtype=np.float64), run.colors[platform]
        for ax, column, word in (
            (running_ax, "jobs_running", "running"),
            (queued_ax, "jobs_queued", "queued"),
        ):
            values = _col(per_time, column)
            _step_line(ax, run, time_s, values, color=color, label=f"{platform} {word}")
    for ax, word in ((running_ax, "running"), (queued_ax, "queued")):
        ax.set_ylim(bottom=0.0)
        _finish(ax, f"Batch jobs {word}", run.axis.label, f"jobs {word} (count)")
    return figure


def _wait_curves(run: _Run) -> tuple[str, list[tuple[str, FloatArray, FloatArray, str]]]:
    """The wait unit, and per platform with batch jobs the empirical CDF of job wait
    (start − submit) over all batch workloads as a share of jobs *submitted* (jobs never
    started keep it below 100 %): (platform, waits, shares in %, legend label). Both the
    PNG and the interactive figure draw these."""
    jobs = run.result.jobs
    jobs = jobs[jobs["workload"].isin(run.batches)]
    waits = _col(jobs, "start_s") - _col(jobs, "submit_s")
    started = np.isfinite(waits)
    scale, unit = _wait_unit(float(waits[started].max()) if started.any() else 0.0)
    platform_of = jobs["platform"].to_numpy()
    curves = []
    for platform in run.platforms:
        mine = platform_of == platform
        submitted = int(mine.sum())
        if not submitted:
            continue
        done = np.sort(waits[mine & started]) / scale
        share = 100.0 * np.arange(1, done.size + 1) / submitted
        label = f"{platform} ({done.size}/{submitted} started)"
        curves.append(
            (platform, np.concatenate(([0.0], done)), np.concatenate(([0.0], share)), label)
        )
    return unit, curves


def _batch_waits_figure(run: _Run) -> Figure:
    """Empirical CDF per platform of job wait (start − submit) over all batch workloads, as
    a share of jobs *submitted*: jobs never started keep the curve below 100 %."""
    figure, ax = _new_figure()
    unit, curves = _wait_curves(run)
    for platform, x, y, label in curves:
        ax.plot(x, y, drawstyle="steps-post", color=run.colors[platform], label=label)
    ax.set_xlim(left=0.0)
    ax.set_ylim(0.0, 100.0)
    _finish(
        ax,
        "Batch job waits (start − submit)",
        f"wait before start ({unit})",
        "jobs started (% of submitted)",
    )
    return figure


# --- public ------------------------------------------------------------------------------


def figures(result: RunResult) -> dict[str, Figure]:
    """Figures for a report, in reading order; keys are file stems (e.g. "load_web").

    Per service workload ``w``: ``load_w``, ``replicas_w``, ``latency_w``,
    ``requests_w`` (when the run recorded requests per replica); then ``utilization``
    (and ``gpu_utilization`` when GPUs are bought), ``nodes``, ``cost``; then, with batch
    workloads, ``batch_queue`` and ``batch_waits``. Figures that do not apply are left
    out.
    """
    run = _prepare(result)
    per_pod = {"in_flight_per_pod", "queue_per_pod"} <= set(result.timeseries.columns)
    targets = hpa_pods_targets(result)
    out: dict[str, Figure] = {}
    for workload in run.services:
        out[f"load_{workload}"] = _load_figure(run, workload)
        out[f"replicas_{workload}"] = _replicas_figure(run, workload)
        out[f"latency_{workload}"] = _latency_figure(run, workload)
        if per_pod:
            out[f"requests_{workload}"] = _requests_figure(run, workload, targets)
    frames = {p: _platform_frame(run, p) for p in run.platforms}
    frames = {p: f for p, f in frames.items() if len(f)}
    if frames:
        out["utilization"] = _utilization_figure(run, frames)
        if any((_col(f, "gpus") > 0).any() for f in frames.values()):
            out["gpu_utilization"] = _gpu_utilization_figure(run, frames)
        out["nodes"] = _nodes_figure(run, frames)
        out["cost"] = _cost_figure(run, frames)
    if run.batches:
        out["batch_queue"] = _batch_queue_figure(run)
        out["batch_waits"] = _batch_waits_figure(run)
    return out


def png_bytes(figure: Figure, dpi: int = 110) -> bytes:
    """``figure`` rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_png(figure: Figure, path: Path, dpi: int = 110) -> None:
    """Write ``figure`` as a PNG at ``path``: written to a hidden sibling file first, then
    renamed over ``path``, so a reader never sees a half-written image."""
    replace_file(Path(path), png_bytes(figure, dpi))
