"""The ``capsim`` command: the composition root that wires parsers, maths and output.

Commands: ``run`` (simulate a scenario, write its report), ``compare`` (two saved runs),
``scenarios`` (list the bundled ones), ``hpa explain``, ``validate``, ``recommend``,
``sweep``, ``deploy emit|apply``, ``live prometheus|compare|metrics-server|snapshot``.

Exit codes, shared by every command: 0 success; 1 a check or verdict failed (``--strict``
with warnings); 2 bad input (one line naming file, field and value; a traceback only
with ``--debug``); 130 ``live metrics-server`` interrupted (the rows so far are kept).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from capsim.analysis.explain import ControllerSettings, Explanation, explain_hpa
from capsim.cli.deploy import add_deploy_parser, run_deploy
from capsim.cli.live import add_live_parser, run_live
from capsim.scenario.manifests import Deployment, ManifestError, load_deployments, load_hpas
from capsim.units import parse_duration_s

if TYPE_CHECKING:
    from capsim.analysis.compare import Comparison

__all__ = ["console_main", "main"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _duration(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _version() -> str:
    try:
        return importlib.metadata.version("capsim")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsim",
        description="Capacity and autoscaling simulator: Kubernetes HPA (exact autoscaling/v2 "
        "semantics) and VM autoscaling groups.",
    )
    parser.add_argument("--version", action="version", version=f"capsim {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    hpa = commands.add_parser("hpa", help="work with HorizontalPodAutoscaler manifests")
    hpa_commands = hpa.add_subparsers(dest="hpa_command", required=True, metavar="COMMAND")
    explain = hpa_commands.add_parser(
        "explain",
        help="print an HPA's effective configuration in plain words and warn about mistakes",
        description="Read autoscaling/v2 HorizontalPodAutoscaler manifests (multi-document "
        "YAML or kind: List) and print the effective configuration after API defaulting.",
    )
    explain.add_argument("manifests", nargs="+", metavar="HPA.yaml")
    explain.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="DEPLOY.yaml",
        help="Deployment manifest(s) of the scale targets (checks requests)",
    )
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument(
        "--strict", action="store_true", help="exit 1 when any warning is reported"
    )
    explain.add_argument(
        "--tolerance",
        type=_tolerance,
        default=0.1,
        help="controller --horizontal-pod-autoscaler-tolerance (default 0.1)",
    )
    explain.add_argument(
        "--downscale-stabilization",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="controller --horizontal-pod-autoscaler-downscale-stabilization (default 5m)",
    )
    explain.add_argument(
        "--sync-period",
        type=_duration,
        default=15.0,
        metavar="DURATION",
        help="controller --horizontal-pod-autoscaler-sync-period (default 15s)",
    )
    _add_run_commands(commands)
    add_deploy_parser(commands)
    add_live_parser(commands, _duration)
    return parser


def _add_validate_inputs(parser: argparse.ArgumentParser) -> None:
    """The inputs ``validate`` and ``recommend`` share."""
    parser.add_argument("--hpa", required=True, type=Path, metavar="HPA.yaml")
    parser.add_argument("--deployment", type=Path, metavar="DEPLOY.yaml")
    parser.add_argument("--trace", required=True, type=Path, metavar="TRACE.csv")
    parser.add_argument("--column", default="requests_per_s", help="requests_per_s|cpu_cores")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the trace")
    parser.add_argument("--start", type=_duration, metavar="DURATION", help="window start")
    parser.add_argument("--end", type=_duration, metavar="DURATION", help="window end")
    parser.add_argument("--cpu-ms-per-request", type=float, metavar="MS")
    parser.add_argument("--concurrency", type=int, default=1, help="requests at once per pod")
    parser.add_argument("--slo-p95-ms", type=float, metavar="MS")
    parser.add_argument("--max-utilization", type=float, metavar="PCT")
    parser.add_argument("--max-reversals-per-hour", type=float, default=4.0)
    parser.add_argument("--node-pool", default="general:4:16Gi:0.194", metavar="N:V:M:P")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_run_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="simulate a scenario and write its report",
        description="Simulate every platform of SCENARIO.yaml against the same load and "
        "write a report (HTML, Markdown, data) to reports/<scenario-name>/.",
    )
    run.add_argument("scenario", metavar="SCENARIO.yaml")
    run.add_argument("--out", type=Path, help="report folder (default reports/<scenario-name>)")
    run.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    run.add_argument(
        "--format",
        default="html,md,json",
        help="comma-separated: html, md, json (default all)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    compare = commands.add_parser(
        "compare",
        help="compare two saved runs (report folders)",
        description="Put the platforms of two saved runs side by side.",
    )
    compare.add_argument("runs", nargs=2, metavar="DIR", type=Path)
    compare.add_argument(
        "--labels", nargs=2, default=("A", "B"), metavar=("A", "B"), help="column prefixes"
    )
    compare.add_argument("--debug", action="store_true", help="show tracebacks")
    commands.add_parser("scenarios", help="list the bundled scenarios")
    sweep = commands.add_parser(
        "sweep",
        help="run every combination of settings (× seeds) of a scenario, in parallel",
        description="Vary settings of SCENARIO.yaml (--set KEY=V1,V2; repeat for more "
        "keys), run every combination for --seeds seeds on a process pool, a Dask "
        "LocalCluster (--workers N) or a Dask cluster (--scheduler tcp://HOST:8786), and "
        "write one comparison report with 95 %% confidence intervals.",
    )
    sweep.add_argument("scenario", metavar="SCENARIO.yaml")
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
    validate = commands.add_parser(
        "validate",
        help="replay recorded load through an HPA: PASS or FAIL, and why",
        description="Replay a recorded trace through the exact HPA of HPA.yaml (on a "
        "cluster-autoscaled node pool) and judge it: exit 0 PASS, 1 FAIL, 2 bad input.",
    )
    _add_validate_inputs(validate)
    validate.add_argument("--out", type=Path, help="also write a report folder here")
    recommend = commands.add_parser(
        "recommend",
        help="the cheapest HPA settings that hold the SLO on recorded load",
        description="Try CPU targets × behavior presets of HPA.yaml against the trace (one "
        "engine run each, in parallel), print the Pareto front and the choice; --emit "
        "writes the recommended HPA. Exit 0 when a recommendation holds the SLO, 1 if none.",
    )
    _add_validate_inputs(recommend)
    recommend.add_argument(
        "--targets", default=",".join(str(t) for t in range(30, 100, 5)), metavar="PCTS"
    )
    recommend.add_argument(
        "--presets", default="default,fast-up,conservative-down", metavar="NAMES"
    )
    recommend.add_argument("--max-replicas", default="", metavar="NS", help="also try these")
    recommend.add_argument(
        "--cpu-requests",
        default="",
        metavar="CPUS",
        help="also try these pod CPU requests (e.g. 250m,500m,1), each with every target",
    )
    where = recommend.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="a Dask LocalCluster of N workers")
    where.add_argument("--scheduler", help="a Dask scheduler address, tcp://HOST:8786")
    recommend.add_argument(
        "--emit",
        type=Path,
        metavar="DIR",
        help="write the HPA (and, with --deployment, the Deployment) here",
    )


def _render_text(explanations: Sequence[Explanation]) -> str:
    blocks = []
    for item in explanations:
        lines = [f"{item.title}  ({item.data['source']})"]
        lines.extend(f"  {line}" for line in item.lines)
        behavior = item.data["behavior"]
        if behavior is not None:
            lines.append("  Effective spec.behavior (after API defaulting):")
            dumped = yaml.safe_dump(behavior, sort_keys=False, default_flow_style=None)
            lines.extend(f"    {line}" for line in dumped.rstrip().splitlines())
        lines.extend(f"  warning: {warning}" for warning in item.warnings)
        lines.extend(f"  note: {note}" for note in item.notes)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _hpa_explain(args: argparse.Namespace) -> int:
    deployments: list[Deployment] = []
    for path in args.deployment:
        deployments.extend(load_deployments(path))
    settings = ControllerSettings(
        tolerance=args.tolerance,
        downscale_stabilization_s=args.downscale_stabilization,
        sync_period_s=args.sync_period,
    )
    explanations = [
        explain_hpa(hpa, deployments, settings)
        for path in args.manifests
        for hpa in load_hpas(path)
    ]
    if args.json:
        print(json.dumps({"hpas": [e.data for e in explanations]}, indent=2, sort_keys=False))
    else:
        print(_render_text(explanations))
    warned = any(e.warnings for e in explanations)
    return EXIT_CHECK_FAILED if args.strict and warned else EXIT_OK


def _comparison_text(comparison: Comparison) -> str:
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
    return "\n".join([*comparison.verdict, "", *lines, "", "* the better value"])


def _run(args: argparse.Namespace) -> int:
    import capsim
    from capsim.report.writer import write_report

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    scenario = capsim.load_scenario(args.scenario)
    out = args.out or Path("reports") / scenario.name
    show = not args.quiet and sys.stderr.isatty()
    result = capsim.run(scenario, seed=args.seed, progress=show)
    comparison = write_report(result, out, formats)
    if not args.quiet:
        print(_comparison_text(comparison))
        page = out / "index.html"
        print(f"\nreport: {page if page.exists() else out}")
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from capsim.analysis.compare import compare_runs
    from capsim.results.run_result import RunResult

    for folder in args.runs:
        if not (folder / "summary.json").is_file():
            raise InputError(f"{folder}: not a saved run (no summary.json; use a report folder)")
    a, b = (RunResult.load(folder) for folder in args.runs)
    print(_comparison_text(compare_runs(a, b, tuple(args.labels))))
    return EXIT_OK


def _scenarios() -> int:
    from capsim.data import DATA_DIR, bundled_scenarios

    found = bundled_scenarios()
    width = max((len(s.name) for s in found), default=0)
    for scenario in found:
        print(f"{scenario.name.ljust(width)}  {scenario.summary}")
    print(f"\nrun one: capsim run {found[0].name if found else '<name>'}")
    print(f"files (scenarios, traces, example manifests): {DATA_DIR}")
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from capsim.analysis.sweep import parse_setting, summarize_runs, sweep
    from capsim.data import resolve_scenario
    from capsim.report.sweep_report import sweep_table, write_sweep_report
    from capsim.report.writer import markdown_table
    from capsim.scenario import ScenarioError
    from capsim.scenario.parsing import load_yaml

    path = resolve_scenario(args.scenario)
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


def _validate_inputs(args: argparse.Namespace) -> Any:
    from capsim.analysis.validate import ValidateInputs, parse_node_pool

    for path in (args.hpa, args.trace, args.deployment):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: file not found")
    return ValidateInputs(
        hpa=args.hpa,
        trace=args.trace,
        deployment=args.deployment,
        column=args.column,
        scale=args.scale,
        start_s=args.start,
        end_s=args.end,
        cpu_ms_per_request=args.cpu_ms_per_request,
        concurrency=args.concurrency,
        slo_p95_ms=args.slo_p95_ms,
        max_utilization_pct=args.max_utilization,
        max_reversals_per_hour=args.max_reversals_per_hour,
        node_pool=parse_node_pool(args.node_pool),
        seed=args.seed,
    )


def _validate(args: argparse.Namespace) -> int:
    from capsim.analysis.validate import validate

    outcome = validate(_validate_inputs(args))
    if args.out is not None:
        from capsim.report.writer import write_report

        write_report(
            outcome.result,
            args.out,
            headline=[f"capsim validate: {outcome.verdict}", *outcome.reasons],
        )
    if args.json:
        print(json.dumps(outcome.as_json(), indent=2, allow_nan=False, default=str))
    else:
        print(_validation_text(outcome))
    return EXIT_OK if outcome.passed else EXIT_CHECK_FAILED


def _validation_text(outcome: Any) -> str:
    from capsim.report.writer import format_value

    lines = [f"capsim validate: {outcome.verdict}"]
    lines += [f"  - {reason}" for reason in outcome.reasons]
    lines.append("metrics:")
    lines += [f"  {k}: {format_value(v)}" for k, v in outcome.metrics.items()]
    lines.append("assumptions:")
    lines += [f"  - {a}" for a in outcome.assumptions]
    decisions = outcome.decisions
    lines.append(f"decisions: {len(decisions)} syncs changed or held the replicas; the first:")
    for row in decisions.head(8).itertuples(index=False):
        lines.append(
            f"  {format_value(row.time_s):>8} s  {row.kind:<8} {int(row[2])} → {int(row[3])}  "
            f"{row.reason} ({row.detail})"
        )
    return "\n".join(lines)


def _cpu_list(text: str) -> list[int]:
    from capsim.units import parse_cpu_millicores

    try:
        return [parse_cpu_millicores(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise InputError(f"--cpu-requests: {exc}") from None


def _numbers(text: str, flag: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(
            f"{flag}: expected whole numbers separated by commas, got {text!r}"
        ) from None


def _recommend(args: argparse.Namespace) -> int:
    from capsim.analysis.recommend import emit_hpa, recommend

    outcome = recommend(
        _validate_inputs(args),
        targets=_numbers(args.targets, "--targets"),
        presets=[p.strip() for p in args.presets.split(",") if p.strip()],
        max_replicas=_numbers(args.max_replicas, "--max-replicas"),
        cpu_requests_m=_cpu_list(args.cpu_requests),
        workers=args.workers,
        scheduler=args.scheduler,
    )
    emitted = None
    if args.emit is not None and outcome.chosen is not None:
        emitted = emit_hpa(args.hpa, args.deployment, outcome.chosen, args.emit)
    if args.json:
        chosen = outcome.chosen
        print(
            json.dumps(
                {
                    "recommended": None
                    if chosen is None
                    else {"label": chosen.label, "spec": chosen.spec, "metrics": chosen.metrics},
                    "current": {
                        "passed": outcome.current.passed,
                        "metrics": outcome.current.metrics,
                    },
                    "pareto": outcome.table().to_dict(orient="records"),
                    "why": outcome.why,
                    "notes": list(outcome.notes),
                },
                indent=2,
                default=str,
            )
        )
    else:
        from capsim.report.writer import format_value, markdown_table

        table = outcome.table()
        rows = [[format_value(v) for v in row] for row in table.itertuples(index=False)]
        print("Pareto front (service cost against time over the SLO):")
        print(markdown_table(list(table.columns), rows))
        print()
        print("\n".join([*outcome.notes, *outcome.why]))
        if emitted is not None:
            print(f"\nrecommended HPA: {emitted}")
    return EXIT_OK if outcome.chosen is not None else EXIT_CHECK_FAILED


class InputError(Exception):
    """Bad input found by the CLI itself (one line, exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``capsim`` command; returns the exit code."""
    from capsim.scenario import ScenarioError
    from capsim.scenario.load import WorkloadError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "hpa" and args.hpa_command == "explain":
            return _hpa_explain(args)
        if args.command == "run":
            return _run(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "scenarios":
            return _scenarios()
        if args.command == "validate":
            return _validate(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "recommend":
            return _recommend(args)
        if args.command == "deploy":
            return run_deploy(args)
        if args.command == "live":
            return run_live(args)
    except (ManifestError, ScenarioError, WorkloadError, InputError, ValueError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args}")  # pragma: no cover - argparse guards


def console_main() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
