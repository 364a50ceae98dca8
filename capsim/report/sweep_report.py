"""The report of a scenario sweep: one table of every combination with confidence
intervals, a cost-vs-SLO figure, and the raw runs.

A folder holds ``index.html`` (self-contained), ``report.md`` with ``figures/``,
``summary.csv`` (means and 95 % half-widths per combination and platform) and
``runs.csv`` (one row per run). Written atomically, like :mod:`capsim.report.writer`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from capsim.report.figures import FloatArray, platform_colors, png_bytes
from capsim.report.writer import embedded_png, format_value, html_page, markdown_table
from capsim.results.files import output_folder, write_durably

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "SWEEP_RULE",
    "headline_metrics",
    "sweep_figure",
    "sweep_figure_interactive",
    "sweep_table",
    "sweep_verdict",
    "write_sweep_report",
]


def headline_metrics(summary: pd.DataFrame) -> list[str]:
    """The columns a reader compares first: cost, then per service SLO time share and
    p95, then per batch workload p95 wait, where present."""
    wanted = ["cost_usd"]
    for column in summary.columns:
        if column.endswith(
            (
                ".slo_met",
                ".slo_budget_used_pct",
                ".latency_p95_ms",
                ".dropped_pct",
                ".jobs_completed",
                ".wait_p95_s",
            )
        ):
            wanted.append(column)
    return [c for c in wanted if c in summary.columns]


def _with_ci(mean: float, half: float, unit: str = "") -> str:
    text = format_value(mean, unit)
    if half is None or math.isnan(half):
        return text
    return f"{text} ± {format_value(half, unit)}"


def sweep_table(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison: combination, platform, seeds, headline means
    with their 95 % intervals."""
    metrics = headline_metrics(summary)
    header = ["#", "combination", "platform", "seeds", *metrics]
    rows = []
    for number, (_, row) in enumerate(summary.iterrows(), start=1):
        cells = [
            str(number),
            str(row["combination"]),
            str(row["platform"]),
            str(int(row["seeds"])),
        ]
        for metric in metrics:
            unit = "USD" if metric == "cost_usd" else ""
            cells.append(_with_ci(float(row[metric]), float(row[f"{metric}_ci95"]), unit))
        rows.append(cells)
    return header, rows


SWEEP_RULE = (
    "A combination meets its SLOs on a platform when every service's SLO (the README's "
    "rules: windowed latency and errors, each within its budget) is met in every seed "
    "(a seed that cannot be judged counts as missed); among those, the cheapest by mean "
    "cost over seeds wins. Means over seeds ± the 95 % confidence half-width (Student's t)."
)


def sweep_verdict(summary: pd.DataFrame) -> list[str]:
    """The cheapest combination and platform meeting every SLO in every seed (see
    :data:`SWEEP_RULE`), and how many did; nothing to say without an SLO."""
    met = [c for c in summary.columns if c.endswith(".slo_met")]
    if not met or not len(summary):
        return []
    good = summary[(summary[met] >= 1.0).all(axis=1)]
    total = len(summary)
    if not len(good):
        return [f"No combination meets every SLO in every seed (0 of {total})."]
    best = good.iloc[int(np.argmin(good["cost_usd"].to_numpy(np.float64)))]
    return [
        f"{best['combination']} on {best['platform']} is the cheapest that meets every SLO "
        f"in every seed, at {format_value(float(best['cost_usd']), 'USD')} (mean over "
        f"{int(best['seeds'])} seed(s)); {len(good)} of {total} meet them."
    ]


@dataclass(frozen=True)
class _CostPlot:
    """What both renderings of the cost-against-SLO figure draw."""

    column: str  # the SLO figure on x: budget used, else time over the SLO (%)
    workload: str
    what: str
    labels: dict[tuple[float, float], list[str]]  # front points → the table's row numbers

    @property
    def heading(self) -> str:
        return f"Cost against {self.workload}'s {self.what}"

    subheading = "mean ± 95 % CI over seeds; #: the table's rows no other beats on both"

    @property
    def title(self) -> str:
        return f"{self.heading} ({self.subheading})"

    @property
    def xlabel(self) -> str:
        return f"{self.workload}: {self.what} (%)"


def _cost_plot(summary: pd.DataFrame) -> _CostPlot | None:
    """The first service with an SLO, its figure, and the labels of the Pareto front:
    the table's row numbers, only on the front (the others would overlap), one label per
    point where several rows coincide; ``None`` without such a service."""
    slo = [c for c in summary.columns if c.endswith(".slo_budget_used_pct")]
    slo = slo or [c for c in summary.columns if c.endswith(".slo_violation_time_pct")]
    if not slo:
        return None
    column = slo[0]
    front = _front(summary, column)
    labels: dict[tuple[float, float], list[str]] = {}
    for number, (index, row) in enumerate(summary.iterrows(), start=1):
        if index in front:
            labels.setdefault((float(row[column]), float(row["cost_usd"])), []).append(f"#{number}")
    what = "SLO error budget used" if column.endswith("budget_used_pct") else "time over the SLO"
    return _CostPlot(column, column.split(".")[0], what, labels)


def _error_bars(rows: pd.DataFrame, column: str) -> tuple[FloatArray, FloatArray]:
    """The 95 % half-widths on x and on cost (0 where one seed gives none)."""
    return (
        np.nan_to_num(rows[f"{column}_ci95"].to_numpy(np.float64)),
        np.nan_to_num(rows["cost_usd_ci95"].to_numpy(np.float64)),
    )


def sweep_figure(summary: pd.DataFrame) -> Figure | None:
    """Cost against time over the SLO (first service with one), one point per
    combination and platform, with 95 % intervals; ``None`` without such a service."""
    plot = _cost_plot(summary)
    if plot is None:
        return None
    figure = Figure(figsize=(9, 4.6))
    ax = figure.subplots()
    for platform, rows in summary.groupby("platform", sort=True):
        xerr, yerr = _error_bars(rows, plot.column)
        ax.errorbar(
            rows[plot.column],
            rows["cost_usd"],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            capsize=3,
            label=str(platform),
        )
    for (x, y), names in plot.labels.items():
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_title(plot.title, fontsize=10)
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel("cost (USD)")
    ax.grid(alpha=0.3)
    ax.legend(title="platform", fontsize=8)
    figure.tight_layout()
    return figure


def sweep_figure_interactive(summary: pd.DataFrame) -> go.Figure | None:
    """The cost-against-SLO figure for ``index.html`` (plotly: zoom, pan, hover naming
    each point's row, combination and platform); the same points, bars and front labels
    as :func:`sweep_figure`, each platform in its colour. ``None`` without an SLO."""
    import plotly.graph_objects as go

    from capsim.report.interactive import base_figure

    plot = _cost_plot(summary)
    if plot is None:
        return None
    title = f"{html.escape(plot.heading)}<br><sup>{html.escape(plot.subheading)}</sup>"
    figure = base_figure(title, "cost (USD)", plot.xlabel, None)
    figure.update_layout(hovermode="closest", height=480, margin={"t": 80})
    colors = platform_colors(summary["platform"].astype(str))
    numbers = {index: number for number, index in enumerate(summary.index, start=1)}
    for platform, rows in summary.groupby("platform", sort=True):
        xerr, yerr = _error_bars(rows, plot.column)
        hover = [f"#{numbers[i]} {row['combination']} on {platform}" for i, row in rows.iterrows()]
        figure.add_trace(
            go.Scatter(
                x=rows[plot.column].to_numpy(np.float64),
                y=rows["cost_usd"].to_numpy(np.float64),
                mode="markers",
                name=str(platform),
                marker={"color": colors[str(platform)], "size": 9},
                error_x={"type": "data", "array": xerr, "visible": True},
                error_y={"type": "data", "array": yerr, "visible": True},
                text=hover,
                hovertemplate="%{text}<br>%{x:.3g} %, $%{y:.4g}<extra></extra>",
            )
        )
    if plot.labels:
        figure.add_trace(
            go.Scatter(
                x=[x for x, _ in plot.labels],
                y=[y for _, y in plot.labels],
                mode="text",
                text=[", ".join(names) for names in plot.labels.values()],
                textposition="top right",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    return figure


def _front(summary: pd.DataFrame, column: str) -> set[object]:
    """Index labels of the rows no other row beats on both cost and ``column``."""
    x = summary[column].to_numpy(np.float64)
    y = summary["cost_usd"].to_numpy(np.float64)
    keep = set()
    for i, label in enumerate(summary.index):
        beaten = (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        if not beaten.any():
            keep.add(label)
    return keep


def write_sweep_report(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    out_dir: str | Path,
    title: str,
    assumptions: Sequence[str] = (),
) -> Path:
    """Write the sweep's folder atomically; returns it. ``out_dir`` must be new, empty or
    a folder capsim wrote (:func:`capsim.results.files.check_output_folder`).
    ``assumptions`` (what the runs rest on besides the scenario) are listed in both
    pages; ``index.html`` draws the figure interactively when plotly is installed."""
    target = Path(out_dir)
    with output_folder(target) as staging:
        write_durably(staging / "runs.csv", runs.to_csv(index=False, lineterminator="\n"))
        write_durably(staging / "summary.csv", summary.to_csv(index=False, lineterminator="\n"))
        header, rows = sweep_table(summary)
        figure = sweep_figure(summary)
        png = png_bytes(figure) if figure is not None else b""
        if png:
            (staging / "figures").mkdir()
            write_durably(staging / "figures" / "cost_vs_slo.png", png)
        verdict = sweep_verdict(summary)
        listed = [*assumptions, SWEEP_RULE]
        markdown = [f"# {title}", *(f"> {line}" for line in verdict), f"_{SWEEP_RULE}_"]
        markdown.append(markdown_table(header, rows))
        if png:
            markdown.append("![cost against SLO](figures/cost_vs_slo.png)")
        markdown += ["## Assumptions", "\n".join(f"- {line}" for line in listed)]
        write_durably(staging / "report.md", "\n\n".join(markdown) + "\n")
        page = _html(title, header, rows, _html_figure(summary, png), verdict, listed)
        write_durably(staging / "index.html", page)
    return target


def _html_figure(summary: pd.DataFrame, png: bytes) -> str:
    """The interactive figure when plotly is installed, else the PNG and how to get it."""
    from capsim.report import interactive

    if not png:
        return ""
    if interactive.plotly_available():
        figure = sweep_figure_interactive(summary)
        if figure is not None:
            return interactive.figures_html({"cost_vs_slo": figure})
    hint = f'<p class="muted">{html.escape(interactive.INSTALL_HINT)}</p>'
    return embedded_png("cost against SLO", png) + hint


def _html(
    title: str,
    header: list[str],
    rows: list[list[str]],
    figure: str,
    verdict: list[str],
    assumptions: list[str],
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in verdict)
    box = f'<div class="verdict">{lines}</div>' if lines else ""
    listed = "".join(f"<li>{html.escape(line)}</li>" for line in assumptions)
    return html_page(
        title,
        f"<h1>{html.escape(title)}</h1>{box}"
        f'<p class="muted">{html.escape(SWEEP_RULE)}</p>'
        '<div style="overflow-x:auto">'  # a wide table scrolls instead of spilling over
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{figure}"
        f"<h2>Assumptions</h2><ul>{listed}</ul>",
    )
