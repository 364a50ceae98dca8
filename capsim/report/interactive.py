"""Interactive report figures (plotly) for ``index.html``: zoom, pan and hover.

The same figures as :mod:`capsim.report.figures` (same keys, same content, same colours
and rules), built as :class:`plotly.graph_objects.Figure` objects by
:func:`interactive_figures`; :func:`figures_html` lays them out as HTML for the report
page. plotly is an optional dependency (``pip install 'capsim[html]'``):
:func:`plotly_available` says whether it is installed, and the report falls back to the
PNG figures when it is not.

**Time.** The x axis is the one :func:`capsim.report.figures.time_axis` picks: clock
time (UTC, a plotly ``date`` axis) when the run's summary has a ``clock_start`` (its
traces are timestamped), else the time elapsed since the start in minutes, hours or days.
Series are drawn as steps over ``(tₖ₋₁, tₖ]`` (plotly's ``line_shape="vh"``), as in the
PNGs. Latency is on a log axis, as in the PNGs
(:func:`capsim.report.figures.latency_range_ms`).

**The page.** :func:`figures_html` inlines plotly.js once (no CDN, nothing fetched), each
figure's JSON in a ``<script type="application/json">`` next to its ``<div>``, and one
script that draws them all. The div ids come from the figure keys and nothing else varies:
the same run gives the same bytes. :data:`PLOTLY_JS_ID` and :data:`FIGURE_DATA_CLASS`
mark the library's code and the figure data (tests strip them to digest capsim's text).
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from capsim.report.figures import (
    MAX_SCALE_MARKERS,
    REFERENCE_COLOR,
    SHADE_ALPHA,
    FloatArray,
    _col,
    _gpu_utilization_pct,
    _platform_frame,
    _prepare,
    _Run,
    _steps,
    _utilization_pct,
    _violations,
    _wait_curves,
    hpa_pods_targets,
    latency_range_ms,
    violation_spans,
)
from capsim.results.run_result import RunResult

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "FIGURE_DATA_CLASS",
    "INSTALL_HINT",
    "PLOTLY_JS_ID",
    "base_figure",
    "figures_html",
    "interactive_figures",
    "plotly_available",
]

INSTALL_HINT: Final = (
    "Interactive figures (zoom, pan, hover) need plotly: pip install 'capsim[html]'."
)
PLOTLY_JS_ID: Final = "capsim-plotly-js"
FIGURE_DATA_CLASS: Final = "capsim-figure-data"
DIV_PREFIX: Final = "capsim-figure-"
HEIGHT_PX: Final = 380
GRID_COLOR: Final = "#e5e5e5"
CONFIG: Final[Mapping[str, Any]] = {"displaylogo": False, "responsive": True}


def plotly_available() -> bool:
    """True when plotly can be imported."""
    return importlib.util.find_spec("plotly") is not None


# --- traces ------------------------------------------------------------------------------


def _values(values: FloatArray) -> Any:
    """Values for a trace: float32 halves the page and keeps 7 significant digits."""
    return values.astype(np.float32)


def _x_fields(x: FloatArray) -> dict[str, Any]:
    """``x0``/``dx`` when the points are evenly spaced (the record grid), else ``x``."""
    if x.size >= 3:
        steps = np.diff(x)
        if np.allclose(steps, steps[0], rtol=1e-9, atol=0.0) and steps[0] > 0:
            return {"x0": float(x[0]), "dx": float(steps[0])}
    return {"x": x}


def _line(
    x: FloatArray,
    y: FloatArray,
    name: str,
    color: str,
    dash: str = "solid",
    width: float = 1.6,
    shape: str = "vh",
    **extra: Any,
) -> go.Scatter:
    import plotly.graph_objects as go

    return go.Scatter(
        **_x_fields(x),
        y=_values(y),
        name=name,
        mode="lines",
        line={"color": color, "dash": dash, "width": width, "shape": shape},
        **extra,
    )


def _reference(run: _Run, level: float, name: str, color: str, **style: Any) -> go.Scatter:
    """A horizontal reference line at ``level`` over the whole run (no hover)."""
    return _line(
        run.axis.of([0.0, run.duration_s]),
        np.array([level, level]),
        name,
        color,
        shape="linear",
        hoverinfo="skip",
        **style,
    )


def _step(
    run: _Run, time_s: FloatArray, values: FloatArray, name: str, color: str, **style: Any
) -> go.Scatter:
    """A series held over the interval each row describes, from t = 0."""
    x, y = _steps(time_s, values)
    return _line(run.axis.of(x), y, name, color, **style)


def _time_range(run: _Run) -> tuple[float, float] | None:
    """The run's span on its x axis (None for an empty run)."""
    if run.duration_s <= 0:
        return None
    start, end = run.axis.of([0.0, run.duration_s])
    return float(start), float(end)


def _rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def base_figure(
    title: str, ytitle: str, xtitle: str, x_range: tuple[float, float] | None
) -> go.Figure:
    """An empty figure in the report's style: title, axes, grid, legend on the right."""
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.update_layout(
        template="none",
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 50, "b": 55},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        hovermode="x unified",
        legend={"x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
    )
    figure.update_xaxes(
        title_text=xtitle,
        gridcolor=GRID_COLOR,
        zeroline=False,
        showline=True,
        linecolor="#888",
        range=list(x_range) if x_range else None,
    )
    figure.update_yaxes(
        title_text=ytitle,
        gridcolor=GRID_COLOR,
        zeroline=False,
        showline=True,
        linecolor="#888",
    )
    return figure


def _time_figure(run: _Run, title: str, ytitle: str) -> go.Figure:
    figure = base_figure(title, ytitle, run.axis.label, _time_range(run))
    if run.axis.clock_start is not None:
        figure.update_xaxes(type="date")
    return figure


def _y_from_zero(figure: go.Figure, ytitle: str) -> None:
    figure.update_yaxes(rangemode="tozero")
    if "(count)" in ytitle:
        figure.update_yaxes(tickformat=",d")


# --- service figures ---------------------------------------------------------------------


def _shading(run: _Run, spans_s: FloatArray, band: tuple[float, float]) -> dict[str, Any]:
    """Rectangles over each span, filling the fraction ``band`` of the height (on the
    hidden axis ``y2``, 0 to 1), as one polygon trace with gaps between them."""
    low, high = band
    spans = run.axis.of(spans_s)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for start, end in spans:
        xs += [float(start), float(start), float(end), float(end), float(start), None]
        ys += [low, high, high, low, low, None]
    return {"x": xs, "y": ys}


def _load_figure(run: _Run, workload: str) -> go.Figure:
    """Arrival rate (thin dashed black, drawn first so the served lines stay readable on
    it) and each platform's served rate, with the spans where a platform violated its SLO
    or dropped requests shaded in its colour, each platform in its own band of the height."""
    import plotly.graph_objects as go

    ytitle = "rate (requests/s)"
    figure = _time_figure(run, f"{workload}: load and throughput", ytitle)
    slo = run.slo(workload)
    present = [p for p in run.platforms if len(run.rows(p, workload))]
    if present:
        first = run.rows(present[0], workload)
        figure.add_trace(
            _step(
                run,
                _col(first, "time_s"),
                _col(first, "arrival_rate"),
                "arrival rate",
                REFERENCE_COLOR,
                dash="dash",
                width=1.2,
            )
        )
    what = "SLO violated" if slo != (None, None) else "dropping requests"
    shaded = False
    for i, platform in enumerate(present):
        rows = run.rows(platform, workload)
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        figure.add_trace(
            _step(run, time_s, _col(rows, "served_rate"), f"{platform} served", color, width=2.0)
        )
        spans = violation_spans(time_s, _violations(rows, slo))
        if len(spans):
            shaded = True
            band = (i / len(present), (i + 1) / len(present))
            figure.add_trace(
                go.Scatter(
                    **_shading(run, spans, band),
                    yaxis="y2",
                    name=f"{platform}: {what}",
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(color, SHADE_ALPHA),
                    line={"width": 0, "color": color},
                    hoverinfo="skip",
                )
            )
    if shaded:
        figure.update_layout(
            yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
        )
    _y_from_zero(figure, ytitle)
    return figure


def _scale_markers(figure: go.Figure, run: _Run, platform: str, workload: str) -> None:
    """▲/▼ at each scale event's time and new target, up to
    :data:`capsim.report.figures.MAX_SCALE_MARKERS` per platform (beyond, a legend entry
    says how many were left out: the dashed desired line steps at each event anyway)."""
    import plotly.graph_objects as go

    events = run.result.events
    mine = events[
        (events["kind"] == "scale")
        & (events["platform"] == platform)
        & (events["workload"] == workload)
    ]
    if not len(mine):
        return
    color = run.colors[platform]
    if len(mine) > MAX_SCALE_MARKERS:
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"color": color, "symbol": "triangle-up"},
                name=f"{platform}: {len(mine):,} scale events, not marked",
                hoverinfo="skip",
            )
        )
        return
    t, before, after = run.axis.of(_col(mine, "time_s")), _col(mine, "from"), _col(mine, "to")
    for symbol, which, word in (
        ("triangle-up", after > before, "up"),
        ("triangle-down", after < before, "down"),
    ):
        if which.any():
            figure.add_trace(
                go.Scatter(
                    x=t[which],
                    y=_values(after[which]),
                    mode="markers",
                    name=f"{platform} scale {word}",
                    marker={
                        "symbol": symbol,
                        "size": 8,
                        "color": color,
                        "opacity": 0.85,
                        "line": {"color": "black", "width": 0.5},
                    },
                )
            )


def _replicas_figure(run: _Run, workload: str) -> go.Figure:
    """Ready (solid) and desired (dashed) replicas per platform, VMs (dotted) where a VM
    runs several instances, and scale events (▲ up, ▼ down) at their new target."""
    figure = _time_figure(run, f"{workload}: replicas desired vs ready", "")
    vms_drawn = False
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        figure.add_trace(
            _step(run, time_s, _col(rows, "replicas_ready"), f"{platform} ready", color, width=2)
        )
        figure.add_trace(
            _step(
                run,
                time_s,
                _col(rows, "replicas_desired"),
                f"{platform} desired",
                color,
                dash="dash",
                opacity=0.8,
            )
        )
        vms = _col(rows, "nodes")
        if run.platform_kinds[platform] == "vm" and not np.array_equal(
            vms, _col(rows, "replicas_total")
        ):
            vms_drawn = True
            figure.add_trace(_step(run, time_s, vms, f"{platform} VMs", color, dash="dot"))
        _scale_markers(figure, run, platform, workload)
    ytitle = "replicas, VMs (count)" if vms_drawn else "replicas (count)"
    figure.update_yaxes(title_text=ytitle)
    _y_from_zero(figure, ytitle)
    return figure


def _latency_figure(run: _Run, workload: str) -> go.Figure:
    """p95 latency per platform (ms; gaps where nothing was served) and the SLO target as
    a dashed black line, on the log axis of the PNG figures
    (:func:`capsim.report.figures.latency_range_ms`)."""
    ytitle = "p95 latency (ms, log)"
    figure = _time_figure(run, f"{workload}: p95 latency vs SLO", ytitle)
    seen = [np.empty(0)]
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        p95 = _col(rows, "latency_p95_ms")
        seen.append(p95)
        figure.add_trace(
            _step(run, _col(rows, "time_s"), p95, platform, run.colors[platform], width=2.0)
        )
    target_ms = run.slo(workload)[0]
    if target_ms is not None:
        seen.append(np.array([target_ms]))
        figure.add_trace(
            _reference(
                run, target_ms, f"SLO p95 {target_ms:g} ms", REFERENCE_COLOR, dash="dash", width=1.4
            )
        )
    figure.update_yaxes(type="log", dtick="D2")  # labels at 1-2-5 steps, as in the PNGs
    limits = latency_range_ms(np.concatenate(seen))
    if limits is not None:
        figure.update_yaxes(range=[math.log10(limits[0]), math.log10(limits[1])])
    return figure


def _requests_figure(
    run: _Run, workload: str, targets: Mapping[tuple[str, str], float]
) -> go.Figure:
    """Requests in flight (solid) and queued (dotted) per ready replica per platform, and
    the target of an HPA on ``requests_in_flight`` (dash-dotted, in the platform's colour)."""
    ytitle = "in flight, queued (requests per replica)"
    figure = _time_figure(run, f"{workload}: requests per ready replica", ytitle)
    for platform in run.platforms:
        rows = run.rows(platform, workload)
        if not len(rows):
            continue
        time_s, color = _col(rows, "time_s"), run.colors[platform]
        figure.add_trace(
            _step(run, time_s, _col(rows, "in_flight_per_pod"), f"{platform} in flight", color)
        )
        figure.add_trace(
            _step(run, time_s, _col(rows, "queue_per_pod"), f"{platform} queued", color, dash="dot")
        )
        target = targets.get((platform, workload))
        if target is not None:
            figure.add_trace(
                _reference(
                    run,
                    target,
                    f"{platform} HPA target {target:g}",
                    color,
                    dash="dashdot",
                    width=2.0,
                    opacity=0.5,
                )
            )
    _y_from_zero(figure, ytitle)
    return figure


# --- platform figures --------------------------------------------------------------------


def _platform_figure(
    run: _Run,
    frames: Mapping[str, pd.DataFrame],
    value: Callable[[pd.DataFrame], FloatArray],
    title: str,
    ytitle: str,
    steps: bool = True,
) -> go.Figure:
    """One line per platform of ``value(frame)`` over the frame's time index."""
    figure = _time_figure(run, title, ytitle)
    for platform, frame in frames.items():
        time_s = frame.index.to_numpy(dtype=np.float64)
        color = run.colors[platform]
        if steps:
            figure.add_trace(_step(run, time_s, value(frame), platform, color, width=2.0))
        else:  # a cumulative quantity: a line from 0 at t = 0
            x = run.axis.of(np.concatenate(([0.0], time_s)))
            y = np.concatenate(([0.0], value(frame)))
            figure.add_trace(_line(x, y, platform, color, width=2.0, shape="linear"))
    _y_from_zero(figure, ytitle)
    return figure


def _percent(figure: go.Figure) -> go.Figure:
    figure.update_yaxes(range=[0.0, 100.0], rangemode="normal")
    return figure


# --- batch figures -----------------------------------------------------------------------


def _batch_queue_figure(run: _Run) -> go.Figure:
    """Batch jobs running (top) and queued (bottom) per platform, summed over batch
    workloads: two panels sharing the time axis."""
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=("Batch jobs running", "Batch jobs queued"),
    )
    base = _time_figure(run, "Batch jobs running and queued", "")
    figure.update_layout(base.layout)
    figure.layout.template = "none"  # merging base's empty template kept plotly's default
    figure.update_layout(height=int(1.5 * HEIGHT_PX))
    ts = run.result.timeseries
    batch = ts[ts["workload"].isin(run.batches)]
    for platform in run.platforms:
        rows = batch[batch["platform"] == platform]
        if not len(rows):
            continue
        per_time = rows.groupby("time_s", sort=True)[["jobs_queued", "jobs_running"]].sum()
        time_s, color = per_time.index.to_numpy(dtype=np.float64), run.colors[platform]
        for row, column, word in ((1, "jobs_running", "running"), (2, "jobs_queued", "queued")):
            trace = _step(run, time_s, _col(per_time, column), f"{platform} {word}", color)
            figure.add_trace(trace, row=row, col=1)
    x_range = _time_range(run)
    for row, word in ((1, "running"), (2, "queued")):
        figure.update_yaxes(
            title_text=f"jobs {word} (count)",
            rangemode="tozero",
            tickformat=",d",
            gridcolor=GRID_COLOR,
            showline=True,
            linecolor="#888",
            row=row,
            col=1,
        )
        figure.update_xaxes(
            gridcolor=GRID_COLOR,
            showline=True,
            linecolor="#888",
            range=list(x_range) if x_range else None,
            type="date" if run.axis.clock_start is not None else None,
            row=row,
            col=1,
        )
    figure.update_xaxes(title_text=run.axis.label, row=2, col=1)
    figure.update_xaxes(title_text=None, row=1, col=1)
    return figure


def _batch_waits_figure(run: _Run) -> go.Figure:
    """Empirical CDF per platform of job wait (start − submit) over all batch workloads, as
    a share of jobs *submitted*: jobs never started keep the curve below 100 %."""
    unit, curves = _wait_curves(run)
    figure = base_figure(
        "Batch job waits (start − submit)",
        "jobs started (% of submitted)",
        f"wait before start ({unit})",
        None,
    )
    figure.update_layout(hovermode="closest")
    figure.update_xaxes(rangemode="tozero")
    for platform, x, y, label in curves:
        figure.add_trace(_line(x, y, label, run.colors[platform], width=2.0, shape="hv"))
    return _percent(figure)


# --- public ------------------------------------------------------------------------------


def interactive_figures(result: RunResult) -> dict[str, go.Figure]:
    """The report's figures as plotly figures, with the keys and in the order of
    :func:`capsim.report.figures.figures`. Needs plotly."""
    prepared = _prepare(result)
    run = dataclasses.replace(prepared, axis=prepared.axis.in_milliseconds())
    per_pod = {"in_flight_per_pod", "queue_per_pod"} <= set(result.timeseries.columns)
    targets = hpa_pods_targets(result)
    out: dict[str, go.Figure] = {}
    for workload in run.services:
        out[f"load_{workload}"] = _load_figure(run, workload)
        out[f"replicas_{workload}"] = _replicas_figure(run, workload)
        out[f"latency_{workload}"] = _latency_figure(run, workload)
        if per_pod:
            out[f"requests_{workload}"] = _requests_figure(run, workload, targets)
    frames = {p: _platform_frame(run, p) for p in run.platforms}
    frames = {p: f for p, f in frames.items() if len(f)}
    if frames:
        out["utilization"] = _percent(
            _platform_figure(
                run,
                frames,
                _utilization_pct,
                "CPU utilization of what was bought",
                "CPU used / bought (%)",
            )
        )
        if any((_col(f, "gpus") > 0).any() for f in frames.values()):
            out["gpu_utilization"] = _percent(
                _platform_figure(
                    run,
                    frames,
                    _gpu_utilization_pct,
                    "GPU utilization of what was bought",
                    "GPUs used / bought (%)",
                )
            )
        out["nodes"] = _platform_figure(
            run,
            frames,
            lambda f: _col(f, "nodes"),
            "Nodes and VMs over time",
            "nodes / VMs (count)",
        )
        out["cost"] = _platform_figure(
            run,
            frames,
            lambda f: _col(f, "cost"),
            "Cumulative cost",
            "cumulative cost (USD)",
            steps=False,
        )
    if run.batches:
        out["batch_queue"] = _batch_queue_figure(run)
        out["batch_waits"] = _batch_waits_figure(run)
    return out


_DRAW_JS = (
    "document.querySelectorAll('div.capsim-figure').forEach(function (div) {"
    "var figure = JSON.parse(document.getElementById(div.id + '-data').textContent);"
    "Plotly.newPlot(div, figure.data, figure.layout, %s);});"
)
_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)


def _json_in_script(text: str) -> str:
    """JSON safe inside ``<script>``: ``<`` as ``\\u003c`` (still the same JSON)."""
    return text.replace("<", "\\u003c")


def figures_html(figures: Mapping[str, go.Figure]) -> str:
    """The figures as HTML: plotly.js inlined once, one ``<div>`` and its JSON per figure,
    and a script that draws them; nothing is fetched and the bytes depend only on the
    figures (and the plotly version). Empty when there are no figures."""
    if not figures:
        return ""
    from plotly.offline import get_plotlyjs

    plotly_js = get_plotlyjs()
    if _SCRIPT_END.search(plotly_js):  # would end the inline script early
        raise RuntimeError("plotly.js contains '</script': cannot inline it")
    parts = [f'<script id="{PLOTLY_JS_ID}">{plotly_js}</script>']
    for name, figure in figures.items():
        div_id = html.escape(DIV_PREFIX + name)
        parts.append(
            f'<div id="{div_id}" class="capsim-figure" '
            f'style="width:100%;height:{int(figure.layout.height or HEIGHT_PX)}px"></div>'
        )
        data = _json_in_script(figure.to_json(validate=False))
        parts.append(
            f'<script type="application/json" class="{FIGURE_DATA_CLASS}" '
            f'id="{div_id}-data">{data}</script>'
        )
    config = json.dumps(dict(CONFIG), sort_keys=True)
    parts.append(f"<script>{_DRAW_JS % config}</script>")
    return "\n".join(parts)
