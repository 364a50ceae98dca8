"""``capsim validate`` and ``capsim recommend``: an HPA against recorded load, PASS or
FAIL and why (:mod:`capsim.analysis.validate`); the cheapest HPA settings that hold the SLO
(:mod:`capsim.analysis.recommend`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from capsim.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    InputError,
    duration_arg,
    number_arg,
    positive_duration_arg,
    require_extra,
    seed_arg,
)
from capsim.cli.sweep import add_parallel_arguments
from capsim.scenario.limits import (
    CPU_MS_PER_REQUEST_MAX,
    CPU_MS_PER_REQUEST_MIN,
    MAX_CONCURRENCY,
    MAX_LATENCY_MS,
    MAX_RATE,
)
from capsim.scenario.slo_defaults import (
    DEFAULT_SLO_OBJECTIVE_PCT,
    DEFAULT_SLO_WINDOW_S,
    DEFAULT_VALIDATE_MAX_ERROR_PCT,
)

__all__ = ["add_validate_parsers"]


def _add_validate_inputs(parser: argparse.ArgumentParser) -> None:
    """The inputs ``validate`` and ``recommend`` share."""
    parser.add_argument("--hpa", required=True, type=Path, metavar="HPA.yaml")
    parser.add_argument("--deployment", type=Path, metavar="DEPLOY.yaml")
    parser.add_argument("--trace", required=True, type=Path, metavar="TRACE.csv")
    parser.add_argument("--column", default="requests_per_s", help="requests_per_s|cpu_cores")
    parser.add_argument(
        "--scale", type=number_arg(0, MAX_RATE), default=1.0, help="multiply the trace"
    )
    parser.add_argument("--start", type=duration_arg, metavar="DURATION", help="window start")
    parser.add_argument("--end", type=duration_arg, metavar="DURATION", help="window end")
    parser.add_argument(
        "--cpu-ms-per-request",
        type=number_arg(CPU_MS_PER_REQUEST_MIN, CPU_MS_PER_REQUEST_MAX),
        metavar="MS",
    )
    parser.add_argument(
        "--concurrency",
        type=number_arg(1, MAX_CONCURRENCY, whole=True),
        default=1,
        help="requests at once per pod",
    )
    parser.add_argument(
        "--slo-p95-ms",
        type=number_arg(0, MAX_LATENCY_MS, low_open=True),
        metavar="MS",
        help="the SLO's latency threshold: p95 within MS in each window (default 300)",
    )
    parser.add_argument(
        "--slo-window",
        type=positive_duration_arg,
        default=DEFAULT_SLO_WINDOW_S,
        metavar="DURATION",
        help="the latency objective's window, a whole number of minutes (default 5m)",
    )
    parser.add_argument(
        "--slo-objective-pct",
        type=number_arg(0, 100, low_open=True),
        default=DEFAULT_SLO_OBJECTIVE_PCT,
        metavar="PCT",
        help="share of the windows that must be within the threshold (default 99)",
    )
    parser.add_argument(
        "--slo-max-error-pct",
        type=number_arg(0, 100),
        default=DEFAULT_VALIDATE_MAX_ERROR_PCT,
        metavar="PCT",
        help="at most this share of the requests may fail over the run (default 0.1)",
    )
    parser.add_argument(
        "--max-utilization",
        type=number_arg(0, 1000, low_open=True),
        metavar="PCT",
        help="FAIL when pods use more than PCT %% of their CPU request for longer than "
        "--max-over-utilization-time-pct of the time",
    )
    parser.add_argument(
        "--max-over-utilization-time-pct",
        type=number_arg(0, 100),
        default=1.0,
        metavar="PCT",
        help="with --max-utilization: the share of the time allowed above it (default 1)",
    )
    parser.add_argument(
        "--max-reversals-per-hour",
        type=number_arg(0, 3600),
        default=4.0,
        metavar="N",
        help="FAIL above N scale-direction reversals per hour, flapping (default 4)",
    )
    parser.add_argument("--node-pool", default="general:4:16Gi:0.194", metavar="N:V:M:P")
    parser.add_argument("--seed", type=seed_arg, default=0)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def add_validate_parsers(commands: Any) -> None:
    """``validate`` and ``recommend``."""
    validate = commands.add_parser(
        "validate",
        help="replay recorded load through an HPA: PASS or FAIL, and why",
        description="Replay a recorded trace through the exact HPA of HPA.yaml (on a "
        "cluster-autoscaled node pool) and judge it: exit 0 PASS, 1 FAIL, 2 bad input.",
    )
    _add_validate_inputs(validate)
    validate.add_argument(
        "--out",
        type=Path,
        help="also write a report folder here; must be new, empty or a folder capsim wrote",
    )
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
    add_parallel_arguments(recommend)
    recommend.add_argument(
        "--emit",
        type=Path,
        metavar="DIR",
        help="write the HPA (and, with --deployment, the Deployment) here: a new or empty "
        "folder, or one capsim wrote",
    )
    validate.set_defaults(handler=_validate)
    recommend.set_defaults(handler=_recommend)


def _validate_inputs(args: argparse.Namespace) -> Any:
    from capsim.analysis.validate import ValidateInputs, parse_node_pool
    from capsim.scenario.load.traces import file_problem

    for flag, path in (
        ("--hpa", args.hpa),
        ("--trace", args.trace),
        ("--deployment", args.deployment),
    ):
        problem = None if path is None else file_problem(path)
        if problem:
            raise InputError(f"{flag} {path}: {problem}")
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
        slo_window_s=args.slo_window,
        slo_objective_pct=args.slo_objective_pct,
        max_error_pct=args.slo_max_error_pct,
        max_utilization_pct=args.max_utilization,
        max_over_utilization_time_pct=args.max_over_utilization_time_pct,
        max_reversals_per_hour=args.max_reversals_per_hour,
        node_pool=parse_node_pool(args.node_pool),
        seed=args.seed,
    )


def _validate(args: argparse.Namespace) -> int:
    from capsim.analysis.validate import validate
    from capsim.results.files import check_output_folder

    inputs = _validate_inputs(args)
    if args.out is not None:
        check_output_folder(args.out)  # before the simulation, not after it
    outcome = validate(inputs)
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
    if outcome.warnings:
        lines.append("warnings (what the verdict does not show):")
        lines += [f"  - {warning}" for warning in outcome.warnings]
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
    from capsim.fastpath.kernel import COMPILED
    from capsim.results.files import check_output_folder

    if args.workers is not None or args.scheduler is not None:
        require_extra("distributed", "capsim recommend --workers/--scheduler")
    if args.emit is not None:
        check_output_folder(args.emit, "--emit")  # before the search, not after it
    if not COMPILED:
        print(
            "capsim: note: Numba is not installed, so the fast path runs as plain Python "
            "(the same results, about 170-200x slower): pip install 'capsim[fast]'",
            file=sys.stderr,
        )
    outcome = recommend(
        _validate_inputs(args),
        targets=_numbers(args.targets, "--targets"),
        presets=[p.strip() for p in args.presets.split(",") if p.strip()],
        max_replicas=_numbers(args.max_replicas, "--max-replicas"),
        cpu_requests_m=_cpu_list(args.cpu_requests),
        workers=args.workers,
        scheduler=args.scheduler,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
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
        print("Pareto front (service cost against SLO error budget used):")
        print(markdown_table(list(table.columns), rows))
        print()
        print("\n".join([*outcome.notes, *outcome.why]))
        if emitted is not None:
            print(f"\nrecommended HPA: {emitted}")
    return EXIT_OK if outcome.chosen is not None else EXIT_CHECK_FAILED
