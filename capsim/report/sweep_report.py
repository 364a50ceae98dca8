"""The report of a scenario sweep: one table of every combination with confidence
intervals, a cost-vs-SLO figure, and the raw runs.

A folder holds ``index.html`` (self-contained), ``report.md`` with ``figures/``,
``summary.csv`` (means and 95 % half-widths per combination and platform) and
``runs.csv`` (one row per run). Written atomically, like :mod:`capsim.report.writer`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from capsim.report.figures import png_bytes
from capsim.report.writer import embedded_png, format_value, html_page, markdown_table
from capsim.results.files import output_folder, write_durably

__all__ = ["headline_metrics", "sweep_figure", "sweep_table", "write_sweep_report"]


def headline_metrics(summary: pd.DataFrame) -> list[str]:
    """The columns a reader compares first: cost, then per service SLO time share and
    p95, then per batch workload p95 wait, where present."""
    wanted = ["cost_usd"]
    for column in summary.columns:
        if column.endswith(
            (".slo_violation_time_pct", ".latency_p95_ms", ".dropped_pct", ".wait_p95_s")
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
    header = ["combination", "platform", "seeds", *metrics]
    rows = []
    for _, row in summary.iterrows():
        cells = [str(row["combination"]), str(row["platform"]), str(int(row["seeds"]))]
        for metric in metrics:
            unit = "USD" if metric == "cost_usd" else ""
            cells.append(_with_ci(float(row[metric]), float(row[f"{metric}_ci95"]), unit))
        rows.append(cells)
    return header, rows


def sweep_figure(summary: pd.DataFrame) -> Figure | None:
    """Cost against time over the SLO (first service with one), one point per
    combination and platform, with 95 % intervals; ``None`` without such a service."""
    slo = [c for c in summary.columns if c.endswith(".slo_violation_time_pct")]
    if not slo:
        return None
    column = slo[0]
    figure = Figure(figsize=(9, 4.6))
    ax = figure.subplots()
    for platform, rows in summary.groupby("platform", sort=True):
        ax.errorbar(
            rows[column],
            rows["cost_usd"],
            xerr=np.nan_to_num(rows[f"{column}_ci95"].to_numpy(np.float64)),
            yerr=np.nan_to_num(rows["cost_usd_ci95"].to_numpy(np.float64)),
            fmt="o",
            capsize=3,
            label=str(platform),
        )
        for _, row in rows.iterrows():
            ax.annotate(
                str(row["combination"]),
                (row[column], row["cost_usd"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=7,
            )
    workload = column.split(".")[0]
    ax.set_title(f"Cost against {workload}'s time over the SLO (mean ± 95 % CI over seeds)")
    ax.set_xlabel(f"{workload}: time over the SLO (%)")
    ax.set_ylabel("cost (USD)")
    ax.grid(alpha=0.3)
    ax.legend(title="platform", fontsize=8)
    figure.tight_layout()
    return figure


def write_sweep_report(
    runs: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path, title: str
) -> Path:
    """Write the sweep's folder atomically; returns it. ``out_dir`` must be new, empty or
    a folder capsim wrote (:func:`capsim.results.files.check_output_folder`)."""
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
        markdown = [f"# {title}", markdown_table(header, rows)]
        if png:
            markdown.append("![cost against SLO](figures/cost_vs_slo.png)")
        markdown.append("Means over seeds ± the 95 % confidence half-width (Student's t).")
        write_durably(staging / "report.md", "\n\n".join(markdown) + "\n")
        write_durably(staging / "index.html", _html(title, header, rows, png))
    return target


def _html(title: str, header: list[str], rows: list[list[str]], png: bytes) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    image = embedded_png("cost against SLO", png) if png else ""
    return html_page(
        title,
        f"<h1>{html.escape(title)}</h1><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{image}"
        "<p>Means over seeds ± the 95 % confidence half-width (Student's t).</p>",
    )
