"""The report: a run's verdict, comparison table, figures and details, in HTML and Markdown.

:func:`write_report` is the only report writer. A report folder holds:

* ``index.html``: one self-contained page (CSS inline; interactive plotly figures with
  plotly.js inlined when plotly is installed, :mod:`capsim.report.interactive`, else
  figures embedded as PNG data);
* ``report.md`` and ``figures/*.png``: the same content for pull requests and wikis;
* ``summary.json``, ``timeseries.parquet`` (or CSV), ``events.csv`` and ``jobs.csv``:
  the run itself (:meth:`capsim.RunResult.save`), so the report can be reloaded and
  compared later (``capsim compare``).

**Writing is atomic.** Everything is written into a temporary folder beside the target,
then swapped in with renames; if anything fails before the swap, the previous report is
left as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from capsim.analysis.compare import VERDICT_RULES, Comparison, compare
from capsim.results.files import check_output_folder, output_folder, write_durably
from capsim.results.run_result import RunResult
from capsim.results.sanity import CHECK_RULES
from capsim.scenario.document import document_yaml

__all__ = [
    "FORMATS",
    "ReportContext",
    "format_value",
    "markdown_table",
    "render_html",
    "render_markdown",
    "write_report",
]

FORMATS = ("html", "md", "json")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
.verdict{background:#f3f7fb;border-left:4px solid #2a6fb0;padding:.8rem 1rem;margin:1rem 0}
.verdict p{margin:.3rem 0}table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}td.win{background:#e6f4ea;font-weight:600}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
pre{background:#f6f6f6;padding:.8rem;overflow:auto;font-size:.85rem}
.muted{color:#666;font-size:.9rem}
"""


def format_value(value: Any, unit: str = "") -> str:
    """A number for people: thousands separators, sensible decimals, ``—`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool | str):
        return str(value)
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if unit in ("USD", "USD/day"):
        return f"${number:,.2f}"
    if number == int(number) and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 1:
        return f"{number:,.2f}"
    return f"{number:.3g}"


def _figures_png(result: RunResult) -> dict[str, bytes]:
    """Each report figure as PNG bytes, in reading order."""
    from capsim.report.figures import figures, png_bytes

    return {name: png_bytes(figure) for name, figure in figures(result).items()}


def _interactive() -> bool:
    """True when the page gets interactive (plotly) figures, i.e. plotly is installed."""
    from capsim.report.interactive import plotly_available

    return plotly_available()


def _html_figures(result: RunResult, figures: dict[str, bytes]) -> str:
    """The page's figures: interactive (plotly) when it is installed, else the PNGs and
    a line saying how to get interactive ones."""
    from capsim.report import interactive

    if _interactive():
        return interactive.figures_html(interactive.interactive_figures(result))
    images = "".join(embedded_png(name, data) for name, data in figures.items())
    return images + f'<p class="muted">{html.escape(interactive.INSTALL_HINT)}</p>'


def _figure_notes(result: RunResult) -> list[str]:
    """Sentences for the figures: where each HPA on a Pods metric has its target."""
    from capsim.report.figures import hpa_pods_targets

    notes = []
    for (platform, workload), target in sorted(hpa_pods_targets(result).items()):
        notes.append(
            f"requests_{workload}: the {platform} HPA scales {workload} on requests_in_flight "
            f"with a target of {format_value(target)} per pod (averageValue), the "
            f"dash-dotted line; it compares the target with the mean over the metrics "
            f"adapter's window of the solid line."
        )
    for (platform, workload), target in sorted(
        hpa_pods_targets(result, "requests_per_second").items()
    ):
        notes.append(
            f"The {platform} HPA scales {workload} on requests_per_second with a target of "
            f"{format_value(target)} per pod (averageValue): the time series column "
            f"rps_per_pod is what it reads."
        )
    return notes


@dataclasses.dataclass(frozen=True)
class ReportContext:
    """What a command adds to a run's report: its title (default: the scenario's), and
    the assumptions it made (``capsim validate`` lists the defaults it filled in)."""

    title: str | None = None
    assumptions: tuple[str, ...] = ()


def _title(result: RunResult, context: ReportContext = ReportContext()) -> str:
    return context.title or f"capsim report: {result.summary['scenario']}"


def _assumptions(result: RunResult, context: ReportContext) -> list[str]:
    """The context's assumptions, then the run's own: its seed, service model and grid."""
    s = result.summary
    model = s.get("scenario_as_run", {}).get("service_model", "expected")
    own = [
        f"seed {s['seed']}; service model: {model} (README.md, 'The service model')",
        f"load tick {format_value(s['tick_s'])} s, a row every "
        f"{format_value(s['record_every_s'])} s; SLO windows as the scenario sets them",
    ]
    return [*context.assumptions, *own]


def _description(result: RunResult) -> str:
    return str(result.summary.get("scenario_as_run", {}).get("description", "")).strip()


def _run_facts(result: RunResult) -> str:
    s = result.summary
    hours = float(s["duration_s"]) / 3600
    span = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"
    facts = (
        f"{span} simulated, seed {s['seed']}, load tick {format_value(s['tick_s'])} s, "
        f"one row every {format_value(s['record_every_s'])} s; "
        f"platforms: {', '.join(s['platforms'])}."
    )
    if s.get("scenario_as_run", {}).get("service_model") == "exact":
        facts += (
            " Every request simulated (service_model: exact): latencies are sampled, with "
            "95 % batch-means intervals; a platform wins a latency row only when the "
            "intervals do not overlap."
        )
    return facts


def _detail_tables(result: RunResult) -> list[tuple[str, pd.DataFrame]]:
    """Per workload: every summary figure of every platform."""
    platforms = result.summary["platforms"]
    names = sorted({w for p in platforms.values() for w in p["workloads"]})
    tables = []
    for workload in names:
        data: dict[str, dict[str, Any]] = {
            platform: entry["workloads"][workload]
            for platform, entry in platforms.items()
            if workload in entry["workloads"]
        }
        keys = [  # (a service's SLO verdict is in the verdict box, not here)
            k
            for k, v in next(iter(data.values())).items()
            if k != "kind" and not isinstance(v, dict)
        ]
        frame = pd.DataFrame(
            {p: [values.get(k) for k in keys] for p, values in data.items()}, index=keys
        )
        tables.append((workload, frame))
    return tables


def _scale_events(result: RunResult, limit: int = 12) -> pd.DataFrame:
    """The first scaling decisions in time, across every platform (ties by platform)."""
    events = result.events
    scales = events[events["kind"] == "scale"].sort_values(["time_s", "platform"], kind="stable")
    columns = ["time_s", "platform", "workload", "from", "to", "reason"]
    return scales[columns].head(limit)


def _scenario_as_run(result: RunResult) -> tuple[str, str]:
    """The caption and YAML of *Scenario as run*: the scenario file that reproduces the run
    (:mod:`capsim.scenario.document`) when the result carries it (a run of
    :func:`capsim.run`), else the summary's record of the parsed scenario, which is no
    scenario file (a result loaded from a folder)."""
    if result.scenario_document is not None:
        caption = "A scenario file: save it and run it (capsim run FILE) to reproduce the run."
        return caption, document_yaml(result.scenario_document)
    caption = (
        "The parsed scenario as summary.json records it, every default filled in, in the "
        "schema's own units (vcpu_millicores, memory_bytes, timeout_s): a record, not a "
        "scenario file (capsim run would read its numbers in other units)."
    )
    return caption, yaml.safe_dump(result.summary.get("scenario_as_run", {}), sort_keys=False)


# --- HTML ------------------------------------------------------------------------------


def _html_comparison(comparison: Comparison) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in comparison.columns)
    body = []
    for row in comparison.rows:
        cells = []
        for column in comparison.columns:
            css = ' class="win"' if row.winner == column else ""
            cells.append(f"<td{css}>{html.escape(format_value(row.values[column], row.unit))}</td>")
        unit = f" ({html.escape(row.unit)})" if row.unit else ""
        body.append(f"<tr><td>{html.escape(row.label)}{unit}</td>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr><th>metric</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        '<p class="muted">Green: the better value where one platform is better.</p>'
    )


def _html_frame(frame: pd.DataFrame, index: bool = True) -> str:
    head = ("<th></th>" if index else "") + "".join(
        f"<th>{html.escape(str(c))}</th>" for c in frame.columns
    )
    rows = []
    for label, row in frame.iterrows():
        first = f"<td>{html.escape(str(label))}</td>" if index else ""
        cells = "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row.tolist())
        rows.append(f"<tr>{first}{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(
    result: RunResult,
    comparison: Comparison,
    figures: dict[str, bytes],
    context: ReportContext = ReportContext(),
) -> str:
    """The self-contained HTML page."""
    title = html.escape(_title(result, context))
    verdict = "".join(f"<p>{html.escape(line)}</p>" for line in comparison.verdict)
    images = _html_figures(result, figures)
    images += "".join(f'<p class="muted">{html.escape(note)}</p>' for note in _figure_notes(result))
    details = "".join(
        f"<h3>{html.escape(workload)}</h3>{_html_frame(frame)}"
        for workload, frame in _detail_tables(result)
    )
    events = _scale_events(result)
    caption, scenario_text = _scenario_as_run(result)
    parts = [
        f"<h1>{title}</h1>",
        f"<p>{html.escape(_description(result))}</p>",
        f'<p class="muted">{html.escape(_run_facts(result))}</p>',
        f'<div class="verdict">{verdict}</div>',
        "".join(f'<p class="muted">{html.escape(rule)}</p>' for rule in VERDICT_RULES),
        "<h2>Checks</h2>",
        _html_checks(comparison),
        "<h2>Sizing</h2>",
        _html_list(comparison.sizing, _SIZING_NOTE),
        "<h2>Comparison</h2>",
        _html_comparison(comparison),
        "<h2>Figures</h2>",
        images,
        "<h2>Per workload</h2>",
        details,
        "<h2>First scaling decisions</h2>",
        _html_frame(events, index=False) if len(events) else "<p>No scaling decisions.</p>",
        "<h2>Assumptions</h2>",
        _html_list(_assumptions(result, context), "What the figures rest on besides the scenario."),
        "<h2>Scenario as run</h2>",
        f'<p class="muted">{html.escape(caption)}</p>',
        f"<pre>{html.escape(scenario_text)}</pre>",
    ]
    return html_page(_title(result, context), "\n".join(parts))


_SIZING_NOTE = (
    "Nodes or VMs at the levels the platform held for 5 %, 50 % and 95 % of the run "
    "(time-weighted) and at its peak; the suggested bounds run from the 5 % level to 25 % "
    "above the peak, within the cap the scenario set. A platform that reached its cap "
    "cannot say how many the load needs."
)


def _html_list(lines: list[str], note: str) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul>{items}</ul><p class="muted">{html.escape(note)}</p>'


def _check_rules() -> str:
    rules = "; ".join(f"{name}: {rule}" for name, rule in CHECK_RULES.items())
    return f"Each run is checked for: {rules}."


def _html_checks(comparison: Comparison) -> str:
    found = "".join(f"<li>{html.escape(line)}</li>" for line in comparison.checks)
    body = f"<ul>{found}</ul>" if found else "<p>No check found anything.</p>"
    return body + f'<p class="muted">{html.escape(_check_rules())}</p>'


def _md_checks(comparison: Comparison) -> str:
    found = "\n".join(f"- {line}" for line in comparison.checks) or "No check found anything."
    return f"{found}\n\n_{_check_rules()}_"


def html_page(title: str, body: str) -> str:
    """A self-contained page: the report style, ``title`` (plain text), ``body`` (HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"{body}\n</body></html>\n"
    )


def embedded_png(alt: str, data: bytes) -> str:
    """An ``<img>`` carrying its PNG inline, so the page needs no other file."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


# --- Markdown --------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    def clean(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_comparison(comparison: Comparison) -> str:
    rows = []
    for row in comparison.rows:
        cells = []
        for column in comparison.columns:
            text = format_value(row.values[column], row.unit)
            cells.append(f"**{text}**" if row.winner == column else text)
        label = f"{row.label} ({row.unit})" if row.unit else row.label
        rows.append([label, *cells])
    return markdown_table(["metric", *comparison.columns], rows) + "\n\nBold: the better value."


def render_markdown(
    result: RunResult,
    comparison: Comparison,
    figure_names: list[str],
    context: ReportContext = ReportContext(),
) -> str:
    """The Markdown report; figures are linked as ``figures/<name>.png``."""
    parts = [
        f"# {_title(result, context)}",
        _description(result),
        f"_{_run_facts(result)}_",
        "\n".join(f"> {line}" for line in comparison.verdict),
        "\n\n".join(f"_{rule}_" for rule in VERDICT_RULES),
        "## Checks",
        _md_checks(comparison),
        "## Sizing",
        "\n".join(f"- {line}" for line in comparison.sizing) + f"\n\n_{_SIZING_NOTE}_",
        "## Comparison",
        _md_comparison(comparison),
        "## Figures",
        "\n\n".join(f"![{name}](figures/{name}.png)" for name in figure_names),
        "\n\n".join(f"_{note}_" for note in _figure_notes(result)),
        "## Per workload",
    ]
    for workload, frame in _detail_tables(result):
        rows = [[str(k), *(format_value(v) for v in frame.loc[k])] for k in frame.index]
        parts += [f"### {workload}", markdown_table(["", *frame.columns], rows)]
    events = _scale_events(result)
    parts.append("## First scaling decisions")
    parts.append(
        markdown_table(
            list(events.columns),
            [[format_value(v) for v in row] for row in events.itertuples(index=False)],
        )
        if len(events)
        else "No scaling decisions."
    )
    caption, scenario_text = _scenario_as_run(result)
    parts += ["## Assumptions", "\n".join(f"- {a}" for a in _assumptions(result, context))]
    parts += ["## Scenario as run", f"_{caption}_", "```yaml\n" + scenario_text + "```"]
    return "\n\n".join(p for p in parts if p) + "\n"


# --- writing -----------------------------------------------------------------------------


def write_report(
    result: RunResult,
    out_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    headline: Sequence[str] = (),
    context: ReportContext = ReportContext(),
) -> Comparison:
    """Write the report of ``result`` into ``out_dir`` atomically; returns the comparison.

    ``headline`` lines go first in the verdict box (``capsim validate`` puts its PASS or
    FAIL and reasons there); ``context`` gives the report a title and assumptions.

    ``formats``: any of ``html`` (``index.html``), ``md`` (``report.md`` and
    ``figures/``), ``json`` (the run's data files). Unknown formats raise ``ValueError``
    before anything is written.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"--format: unknown {unknown or 'nothing'}; choose from {FORMATS}")
    target = Path(out_dir)
    check_output_folder(target)
    comparison = compare(result)
    if headline:
        comparison = dataclasses.replace(comparison, verdict=[*headline, *comparison.verdict])
    with output_folder(target) as staging:
        pngs = "md" in chosen or ("html" in chosen and not _interactive())
        figures = _figures_png(result) if pngs else {}
        if "json" in chosen:
            result.write_files(staging)
        if "html" in chosen:
            page = render_html(result, comparison, figures, context)
            write_durably(staging / "index.html", page)
        if "md" in chosen:
            folder = staging / "figures"
            folder.mkdir()
            for name, data in figures.items():
                write_durably(folder / f"{name}.png", data)
            text = render_markdown(result, comparison, list(figures), context)
            write_durably(staging / "report.md", text)
    return comparison
