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

__all__ = [
    "SWEEP_RULE",
    "headline_metrics",
    "sweep_figure",
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


def sweep_figure(summary: pd.DataFrame) -> Figure | None:
    """Cost against time over the SLO (first service with one), one point per
    combination and platform, with 95 % intervals; ``None`` without such a service."""
    slo = [c for c in summary.columns if c.endswith(".slo_budget_used_pct")]
    slo = slo or [c for c in summary.columns if c.endswith(".slo_violation_time_pct")]
    if not slo:
        return None
    column = slo[0]
    front = _front(summary, column)
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
    # Labels: the table's row numbers, only on the front (the others would overlap), one
    # label per point where several rows coincide.
    labels: dict[tuple[float, float], list[str]] = {}
    for number, (index, row) in enumerate(summary.iterrows(), start=1):
        if index in front:
            labels.setdefault((float(row[column]), float(row["cost_usd"])), []).append(f"#{number}")
    for (x, y), names in labels.items():
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    workload, what = (
        column.split(".")[0],
        ("SLO error budget used" if column.endswith("budget_used_pct") else "time over the SLO"),
    )
    ax.set_title(
        f"Cost against {workload}'s {what} (mean ± 95 % CI over seeds; "
        "#: the table's rows no other beats on both)",
        fontsize=10,
    )
    ax.set_xlabel(f"{workload}: {what} (%)")
    ax.set_ylabel("cost (USD)")
    ax.grid(alpha=0.3)
    ax.legend(title="platform", fontsize=8)
    figure.tight_layout()
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
        verdict = sweep_verdict(summary)
        markdown = [f"# {title}", *(f"> {line}" for line in verdict), f"_{SWEEP_RULE}_"]
        markdown.append(markdown_table(header, rows))
        if png:
            markdown.append("![cost against SLO](figures/cost_vs_slo.png)")
        write_durably(staging / "report.md", "\n\n".join(markdown) + "\n")
        write_durably(staging / "index.html", _html(title, header, rows, png, verdict))
    return target


def _html(
    title: str, header: list[str], rows: list[list[str]], png: bytes, verdict: list[str]
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    image = embedded_png("cost against SLO", png) if png else ""
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in verdict)
    box = f'<div class="verdict">{lines}</div>' if lines else ""
    return html_page(
        title,
        f"<h1>{html.escape(title)}</h1>{box}"
        f'<p class="muted">{html.escape(SWEEP_RULE)}</p>'
        '<div style="overflow-x:auto">'  # a wide table scrolls instead of spilling over
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{image}",
    )
