"""``capsim run``, ``capsim compare`` and ``capsim scenarios``: simulate a scenario and
write its report, put two saved runs side by side, list the bundled scenarios."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capsim.cli.common import EXIT_OK, InputError, seed_arg
from capsim.cli.output import FORMATS, add_output_argument

if TYPE_CHECKING:
    from capsim.analysis.compare import Comparison

__all__ = ["add_run_parsers", "comparison_data", "comparison_text"]


def add_run_parsers(commands: Any) -> None:
    """``run``, ``compare`` and ``scenarios``."""
    run = commands.add_parser(
        "run",
        help="simulate a scenario and write its report",
        description="Simulate every platform of SCENARIO against the same load and "
        "write a report (HTML, Markdown, data) to reports/<scenario-name>/.",
    )
    run.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a scenario file, or the name of a bundled scenario (see capsim scenarios)",
    )
    run.add_argument(
        "--out",
        type=Path,
        help="report folder (default reports/<scenario-name>); must be new, empty or a "
        "folder capsim wrote (it holds .capsim-output): capsim replaces nothing else",
    )
    run.add_argument("-s", "--seed", type=seed_arg, help="seed (default: the scenario's)")
    run.add_argument(
        "--service-model",
        choices=("expected", "exact"),
        help="expected: closed-form expected latency (the default); exact: simulate "
        "every request, with 95 %% intervals (default: the scenario's service_model)",
    )
    run.add_argument(
        "--format",
        default="html,md,json",
        help="the report's files, comma-separated: html, md, json (default all); "
        "-o chooses what is printed",
    )
    add_output_argument(run, FORMATS, json_alias=False)
    run.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, nothing printed but errors"
    )
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    compare = commands.add_parser(
        "compare",
        help="compare two saved runs (report folders)",
        description="Put the platforms of two saved runs side by side.",
    )
    compare.add_argument(
        "runs", nargs=2, metavar="DIR", type=Path, help="two report folders of capsim run"
    )
    compare.add_argument(
        "--labels", nargs=2, default=("A", "B"), metavar=("A", "B"), help="column prefixes"
    )
    add_output_argument(compare, FORMATS, json_alias=False)
    compare.add_argument("--debug", action="store_true", help="show tracebacks")
    scenarios = commands.add_parser(
        "scenarios", help="list the bundled scenarios and where their files are"
    )
    add_output_argument(scenarios, FORMATS, json_alias=False)
    run.set_defaults(handler=_run)
    compare.set_defaults(handler=_compare)
    scenarios.set_defaults(handler=_scenarios)


def comparison_text(comparison: Comparison) -> str:
    from capsim.report.writer import format_value

    header = ["metric", *comparison.columns]
    rows = [
        [
            f"{r.label} ({r.unit})" if r.unit else r.label,
            *(
                format_value(r.values[c], r.unit) + (" *" if r.winner == c else "  ")
                for c in comparison.columns
            ),
        ]
        for r in comparison.rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(
            (cell.ljust(w) if i == 0 else cell.rjust(w))
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    checks = ["", "checks:", *(f"  - {c}" for c in comparison.checks)] if comparison.checks else []
    sizing = ["", "sizing:", *(f"  - {c}" for c in comparison.sizing)] if comparison.sizing else []
    parts = [*comparison.verdict, *checks, *sizing, "", *lines, "", "* the better value"]
    return "\n".join(parts)


def comparison_data(comparison: Comparison) -> dict[str, Any]:
    """The comparison as plain data (``-o json|yaml``): raw values, no formatting."""
    return {
        "verdict": list(comparison.verdict),
        "checks": list(comparison.checks),
        "sizing": list(comparison.sizing),
        "columns": list(comparison.columns),
        "metrics": [
            {
                "metric": r.label,
                "unit": r.unit,
                "better": r.better,
                "winner": r.winner,
                "values": dict(r.values),
            }
            for r in comparison.rows
        ],
    }


def _print_comparison(comparison: Comparison, output: str, extra: dict[str, Any]) -> None:
    from capsim.cli.output import csv_text, print_document

    if output == "table":
        print(comparison_text(comparison))
        for key, value in extra.items():
            print(f"\n{key}: {value}")
    elif output == "csv":
        header = ["metric", "unit", *comparison.columns, "winner"]
        rows = [
            [r.label, r.unit, *(r.values[c] for c in comparison.columns), r.winner]
            for r in comparison.rows
        ]
        print(csv_text(header, rows))
    else:
        print_document({**comparison_data(comparison), **extra}, output)


def _run(args: argparse.Namespace) -> int:
    import capsim
    from capsim.report.writer import write_report
    from capsim.results.files import check_output_folder

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    scenario = capsim.load_scenario(args.scenario, service_model=args.service_model)
    out = args.out or Path("reports") / scenario.name
    check_output_folder(out)  # before the simulation, not after it
    show = not args.quiet and sys.stderr.isatty()
    result = capsim.run(scenario, seed=args.seed, progress=show)
    comparison = write_report(result, out, formats)
    if not args.quiet:
        page = out / "index.html"
        _print_comparison(comparison, args.output, {"report": str(page if page.exists() else out)})
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from capsim.analysis.compare import compare_runs
    from capsim.results.run_result import RunResult

    for folder in args.runs:
        if not (folder / "summary.json").is_file():
            raise InputError(f"{folder}: not a saved run (no summary.json; use a report folder)")
    a, b = (RunResult.load(folder) for folder in args.runs)
    _print_comparison(compare_runs(a, b, tuple(args.labels)), args.output, {})
    return EXIT_OK


def _scenarios(args: argparse.Namespace) -> int:
    from capsim.data import DATA_DIR, bundled_scenarios

    found = bundled_scenarios()
    if args.output != "table":
        from capsim.cli.output import csv_text, print_document

        rows = [[s.name, s.summary, str(s.path)] for s in found]
        if args.output == "csv":
            print(csv_text(["name", "summary", "path"], rows))
        else:
            data = {
                "scenarios": [dict(zip(("name", "summary", "path"), r, strict=True)) for r in rows],
                "folder": str(DATA_DIR),
            }
            print_document(data, args.output)
        return EXIT_OK
    width = max((len(s.name) for s in found), default=0)
    for scenario in found:
        print(f"{scenario.name.ljust(width)}  {scenario.summary}")
    names = [s.name for s in found]
    example = "web-diurnal" if "web-diurnal" in names else (names or ["<name>"])[0]
    print(f"\nrun one: capsim run {example}")
    print(f"files (scenarios, traces, example manifests): {DATA_DIR}")
    return EXIT_OK
