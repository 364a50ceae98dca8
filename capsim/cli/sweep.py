"""``capsim sweep``: every combination of settings × seeds of a scenario, in parallel, in
one report with 95 % confidence intervals (:mod:`capsim.analysis.sweep`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capsim.cli.common import (
    EXIT_OK,
    InputError,
    positive_duration_arg,
    require_extra,
    stage_notes,
)
from capsim.cli.output import FORMATS, add_output_argument

__all__ = [
    "add_parallel_arguments",
    "add_sweep_parser",
    "positive_int_arg",
    "timeout_arg",
    "workers_arg",
]

# The bounds the arguments below check: capsim.analysis.parallel.MAX_LOCAL_WORKERS and
# capsim.analysis.sweep.MAX_RUNS (not imported: building the parser stays light).
_MAX_LOCAL_WORKERS = 256
_MAX_RUNS = 10_000


def positive_int_arg(text: str, *, most: int | None = None) -> int:
    """An argparse type: a whole number >= 1 (and <= ``most``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1 or (most is not None and value > most):
        bounds = f"1 to {most:,}" if most is not None else ">= 1"
        raise argparse.ArgumentTypeError(f"must be {bounds}, got {text!r}")
    return value


def workers_arg(text: str) -> int:
    """An argparse type: the worker count of a Dask ``LocalCluster`` (1 to 256)."""
    return positive_int_arg(text, most=_MAX_LOCAL_WORKERS)


timeout_arg = positive_duration_arg
"""An argparse type: a deadline (``90s``, ``2h``, ``600``), finite and > 0 seconds."""


def _scheduler_arg(text: str) -> str:
    from capsim.analysis.parallel import check_scheduler_address  # standard library only

    try:
        return check_scheduler_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parallel_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N | --scheduler ADDRESS``, ``--timeout`` and ``--connect-timeout``: where
    runs execute and the deadlines of a Dask cluster (``sweep`` and ``recommend``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=workers_arg,
        metavar="N",
        help=f"start a Dask LocalCluster of N workers (1 to {_MAX_LOCAL_WORKERS})",
    )
    where.add_argument(
        "--scheduler",
        type=_scheduler_arg,
        metavar="ADDRESS",
        help="a Dask scheduler address, tcp://HOST:8786",
    )
    parser.add_argument(
        "--timeout",
        type=timeout_arg,
        default="24h",
        metavar="DURATION",
        help="deadline for the whole Dask part, connecting included (default 24h)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=timeout_arg,
        default="30s",
        metavar="DURATION",
        help="deadline for reaching the Dask scheduler and one of its workers (default 30s)",
    )


def add_sweep_parser(commands: Any) -> None:
    """The ``sweep`` command."""
    sweep = commands.add_parser(
        "sweep",
        help="run every combination of settings (× seeds) of a scenario, in parallel",
        description="Vary settings of SCENARIO (--set KEY=V1,V2; repeat for more "
        "keys), run every combination for --seeds seeds on a process pool, a Dask "
        "LocalCluster (--workers N) or a Dask cluster (--scheduler tcp://HOST:8786), and "
        "write one comparison report with 95 % confidence intervals. The scenario and "
        "its traces are read here, once, and travel with the runs: Dask workers need "
        f"none of its files. At most {_MAX_RUNS:,} runs (values × seeds).",
    )
    sweep.add_argument(
        "scenario", metavar="SCENARIO", help="a scenario file, or a bundled scenario's name"
    )
    sweep.add_argument(
        "--set",
        dest="settings",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="hpa.targetUtilization, hpa.minReplicas, hpa.maxReplicas, pod.<field>, "
        "vm.<field>, or a dotted path such as workloads[0].cpu_ms_per_request",
    )
    sweep.add_argument(
        "--seeds",
        type=lambda text: positive_int_arg(text, most=_MAX_RUNS),
        default=1,
        help="runs per combination (default 1)",
    )
    add_parallel_arguments(sweep)
    sweep.add_argument(
        "--out",
        type=Path,
        help="report folder (reports/<name>-sweep); must be new, empty or a folder capsim wrote",
    )
    add_output_argument(sweep, FORMATS, json_alias=False)
    sweep.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    sweep.add_argument("--debug", action="store_true", help="show tracebacks")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from capsim.analysis.parallel import ClusterError
    from capsim.analysis.sweep import grid_size, parse_setting, summarize_runs, sweep
    from capsim.report.sweep_report import sweep_table, write_sweep_report
    from capsim.results.files import check_output_folder
    from capsim.scenario import ScenarioError, scenario_file
    from capsim.scenario.parsing import load_yaml

    if args.workers is not None or args.scheduler is not None:
        require_extra("distributed", "capsim sweep --workers/--scheduler")
    path = scenario_file(args.scenario)
    data = load_yaml(path, ScenarioError)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a scenario mapping")
    settings = [parse_setting(text) for text in args.settings]
    out = args.out or Path("reports") / f"{_report_name(data, path)}-sweep"
    check_output_folder(out)  # before the runs, not after them
    note = stage_notes() if not args.quiet else None
    if note is not None:
        runs_count = grid_size(settings, args.seeds)
        where = (
            f"on the Dask cluster at {args.scheduler}"
            if args.scheduler
            else f"on {args.workers} Dask worker(s)"
            if args.workers
            else "on this machine's cores"
        )
        note(f"running {runs_count} simulation(s) {where}")
    try:
        runs = sweep(
            data,
            path.parent,
            settings,
            seeds=args.seeds,
            workers=args.workers,
            scheduler=args.scheduler,
            timeout_s=args.timeout,
            connect_timeout_s=args.connect_timeout,
            source=str(path),
        )
    except ClusterError as exc:  # the network or the workers' environment: exit 2
        raise InputError(str(exc)) from None
    summary = summarize_runs(runs)
    title = f"capsim sweep: {_report_name(data, path)}"
    write_sweep_report(runs, summary, out, title, _assumptions(data, path, args, runs))
    if not args.quiet:
        _print_summary(summary, sweep_table, args.output, str(out / "index.html"))
    return EXIT_OK


def _assumptions(
    data: dict[str, Any], path: Path, args: argparse.Namespace, runs: Any
) -> list[str]:
    """What the sweep's figures rest on besides the scenario: the settings varied, the
    seeds and the service model."""
    seeds = sorted({int(seed) for seed in runs["seed"]}) if len(runs) else []
    if len(seeds) > 1:
        seeded = (
            f"seeds {seeds[0]} to {seeds[-1]} for every combination (the scenario's seed "
            "and the ones after it)"
        )
    else:
        seeded = (
            f"seed {seeds[0] if seeds else '-'} for every combination (one run each: no interval)"
        )
    model = data.get("service_model", "expected")
    return [
        f"scenario {path} as written, each combination with the settings of its row "
        f"applied (--set {' --set '.join(args.settings)})",
        seeded,
        f"service model: {model} (README.md, 'The service model')",
    ]


def _print_summary(summary: Any, sweep_table: Any, output: str, report: str) -> None:
    """The summary as an aligned table (``sweep_table``'s means ± 95 % intervals), or its
    raw numbers as CSV, JSON or YAML."""
    from capsim.cli.output import csv_text, plain, print_document, table_text

    if output == "table":
        header, rows = sweep_table(summary)
        print(table_text(header, rows))
        print(f"\nreport: {report}")
    elif output == "csv":
        print(csv_text(list(summary.columns), summary.itertuples(index=False)))
    else:
        print_document({"combinations": plain(summary), "report": report}, output)


def _report_name(data: dict[str, Any], path: Path) -> str:
    """The scenario's name when it is a plain DNS label, else the file's stem (never a
    path: the name becomes part of a folder name)."""
    from capsim.scenario.base import is_name

    name = data.get("name")
    if isinstance(name, str) and is_name(name):
        return name
    return path.stem
