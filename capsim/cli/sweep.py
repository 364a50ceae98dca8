"""``capsim sweep``: every combination of settings × seeds of a scenario, in parallel, in
one report with 95 % confidence intervals (:mod:`capsim.analysis.sweep`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capsim.cli.common import EXIT_OK, InputError, require_extra

__all__ = ["add_sweep_parser"]


def add_sweep_parser(commands: Any) -> None:
    """The ``sweep`` command."""
    sweep = commands.add_parser(
        "sweep",
        help="run every combination of settings (× seeds) of a scenario, in parallel",
        description="Vary settings of SCENARIO (--set KEY=V1,V2; repeat for more "
        "keys), run every combination for --seeds seeds on a process pool, a Dask "
        "LocalCluster (--workers N) or a Dask cluster (--scheduler tcp://HOST:8786), and "
        "write one comparison report with 95 %% confidence intervals.",
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
    sweep.add_argument("--seeds", type=int, default=1, help="runs per combination")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="start a Dask LocalCluster of N workers")
    where.add_argument("--scheduler", help="a Dask scheduler address, tcp://HOST:8786")
    sweep.add_argument("--out", type=Path, help="report folder (reports/<name>-sweep)")
    sweep.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sweep.add_argument("--debug", action="store_true", help="show tracebacks")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from capsim.analysis.sweep import parse_setting, summarize_runs, sweep
    from capsim.report.sweep_report import sweep_table, write_sweep_report
    from capsim.report.writer import markdown_table
    from capsim.scenario import ScenarioError, scenario_file
    from capsim.scenario.parsing import load_yaml

    if args.workers is not None or args.scheduler is not None:
        require_extra("distributed", "capsim sweep --workers/--scheduler")
    path = scenario_file(args.scenario)
    data = load_yaml(path, ScenarioError)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a scenario mapping")
    settings = [parse_setting(text) for text in args.settings]
    runs = sweep(
        data,
        path.parent,
        settings,
        seeds=args.seeds,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    summary = summarize_runs(runs)
    name = str(data.get("name", path.stem))
    out = args.out or Path("reports") / f"{name}-sweep"
    write_sweep_report(runs, summary, out, f"capsim sweep: {name}")
    if not args.quiet:
        header, rows = sweep_table(summary)
        print(markdown_table(header, rows))
        print(f"\nreport: {out / 'index.html'}")
    return EXIT_OK
