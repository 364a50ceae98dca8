"""``capsim validate`` and ``capsim recommend``: an HPA against recorded load, PASS or
FAIL and why (:mod:`capsim.analysis.validate`); the cheapest HPA settings that hold the SLO
(:mod:`capsim.analysis.recommend`)."""

from __future__ import annotations

import argparse
import math
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
    stage_notes,
    watching,
)
from capsim.cli.output import DOCUMENT, FORMATS, add_output_argument
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


def _add_validate_inputs(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    """The inputs ``validate`` and ``recommend`` share (``formats``: those of ``-o``)."""
    parser.add_argument(
        "--hpa",
        required=True,
        type=Path,
        metavar="HPA.yaml",
        help="the autoscaling/v2 HorizontalPodAutoscaler manifest to replay (validate: or a "
        "keda.sh/v1alpha1 ScaledObject)",
    )
    parser.add_argument(
        "--keda-metric",
        action="append",
        default=[],
        metavar="TRIGGER=METRIC",
        help="validate: what a ScaledObject's trigger (its name or index) measures: queue_length, "
        "requests_in_flight, requests_per_second or arrival_rate (needed for prometheus "
        "triggers; repeat for several)",
    )
    parser.add_argument(
        "--deployment",
        type=Path,
        metavar="DEPLOY.yaml",
        help="the Deployment it scales: its pods' requests, limits and readiness (default: "
        "500m CPU and a memory request per pod, an assumption printed)",
    )
    parser.add_argument(
        "--trace",
        required=True,
        type=Path,
        metavar="TRACE.csv",
        help="recorded load: a CSV with a timestamp and the --column",
    )
    parser.add_argument(
        "--column",
        default="requests_per_s",
        help="the trace column that is the load: requests_per_s or cpu_cores "
        "(default requests_per_s)",
    )
    parser.add_argument(
        "--scale", type=number_arg(0, MAX_RATE), default=1.0, help="multiply the trace"
    )
    parser.add_argument("--start", type=duration_arg, metavar="DURATION", help="window start")
    parser.add_argument("--end", type=duration_arg, metavar="DURATION", help="window end")
    parser.add_argument(
        "--cpu-ms-per-request",
        type=number_arg(CPU_MS_PER_REQUEST_MIN, CPU_MS_PER_REQUEST_MAX),
        metavar="MS",
        help="CPU time per request in milliseconds (default 50, an assumption printed)",
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
    parser.add_argument(
        "--node-pool",
        default="general:4:16Gi:0.194",
        metavar="N:V:M:P",
        help="the cluster-autoscaled node pool, NAME:VCPU:MEMORY:PRICE (a DNS-label name, "
        "vCPUs per node, memory per node such as 16Gi, USD per node-hour; default "
        "general:4:16Gi:0.194)",
    )
    parser.add_argument(
        "-s",
        "--seed",
        type=seed_arg,
        default=0,
        help="seed of the random start-up delays (default 0)",
    )
    add_output_argument(parser, formats)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def add_validate_parsers(commands: Any) -> None:
    """``validate`` and ``recommend``."""
    validate = commands.add_parser(
        "validate",
        help="replay recorded load through an HPA: PASS or FAIL, and why",
        description="Replay a recorded trace through the exact HPA of HPA.yaml (on a "
        "cluster-autoscaled node pool) and judge it: exit 0 PASS, 1 FAIL, 2 bad input.",
    )
    _add_validate_inputs(validate, DOCUMENT)
    validate.add_argument(
        "--out",
        type=Path,
        help="also write a report folder here; must be new, empty or a folder capsim wrote",
    )
    recommend = commands.add_parser(
        "recommend",
        help="the cheapest HPA settings that hold the SLO on recorded load",
        description="Try targets (the CPU utilization, or a Pods, Object or External "
        "metric's value) × behavior presets (× --max-replicas, × --cpu-requests) "
        "of HPA.yaml against the trace in two stages: every candidate is first screened by "
        "the batched fast path (all candidates in one compiled pass over the trace, which "
        "approximates start-up delays by their means and nodes as always having room); "
        "then the current HPA and the cheapest candidates that pass the screen are run "
        "through the engine, as capsim validate runs them, until one passes with a margin "
        "(at most 50 % of every SLO error budget used). Where the fast path cannot "
        "approximate the HPA (several metrics, memory) every candidate runs through the "
        "engine, in parallel. Prints the Pareto front (service cost against SLO error "
        "budget used) and the choice, the cheapest engine-confirmed candidate; --emit "
        "writes the recommended HPA. Exit 0 when a recommendation holds the SLO, 1 if none.",
    )
    _add_validate_inputs(recommend, FORMATS)
    recommend.add_argument(
        "--targets",
        default=None,
        metavar="VALUES",
        help="targets to try, comma-separated: CPU utilizations in percent (default "
        "30,35,...,95); for an HPA without a CPU Utilization target, values of its first "
        "Pods, Object or External metric (default 0.5, 0.75, 1, 1.25, 1.5 and 2 times its own)",
    )
    recommend.add_argument(
        "--presets",
        default="default,fast-up,conservative-down",
        metavar="NAMES",
        help="spec.behavior presets to try: default, fast-up, conservative-down, current "
        "(the HPA's own); default default,fast-up,conservative-down",
    )
    recommend.add_argument(
        "--max-replicas",
        default="",
        metavar="NS",
        help="try only these maxReplicas, comma-separated (default: the HPA's own bounds and "
        "the bounds the trace's demand needs at each target)",
    )
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
    recommend.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write the report of the recommended HPA's run here (the current one's when "
        "none holds the SLO): a new or empty folder, or one capsim wrote",
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
        keda_metrics=tuple(_keda_metric(text) for text in args.keda_metric),
    )


def _keda_metric(text: str) -> tuple[str, str]:
    """``TRIGGER=METRIC`` of ``--keda-metric``; exit 2 naming it otherwise."""
    trigger, sep, metric = text.partition("=")
    if not sep or not trigger or not metric:
        raise InputError(f"--keda-metric: expected TRIGGER=METRIC, got {text!r}")
    return trigger, metric


def _validate(args: argparse.Namespace) -> int:
    from capsim.analysis.validate import validate
    from capsim.results.files import check_output_folder

    inputs = _validate_inputs(args)
    if args.out is not None:
        check_output_folder(args.out)  # before the simulation, not after it
    outcome = validate(inputs, progress=watching())
    if args.out is not None:
        from capsim.report.writer import ReportContext, write_report

        write_report(
            outcome.result,
            args.out,
            headline=[f"capsim validate: {outcome.verdict}", *outcome.reasons],
            context=ReportContext(
                title=f"capsim validate: {args.hpa.name} against {args.trace.name} — "
                f"{outcome.verdict}",
                assumptions=tuple(outcome.assumptions),
            ),
        )
    if args.output == "table":
        print(_validation_text(outcome))
    else:
        from capsim.cli.output import print_document

        print_document(outcome.as_json(), args.output)
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


def _decimals(text: str, flag: str) -> list[float]:
    values: list[float] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise InputError(
                f"{flag}: expected numbers separated by commas, got {text!r}"
            ) from None
        if not math.isfinite(value):
            raise InputError(f"{flag}: expected finite numbers, got {part.strip()!r}")
        values.append(value)
    return values


def _recommendation_report(args: argparse.Namespace, outcome: Any) -> None:
    """The report of the recommended HPA's run (the current one's when none holds the
    SLO), headed by the recommendation and the Pareto front."""
    from capsim.report.writer import ReportContext, format_value, write_report

    shown = outcome.chosen or outcome.current
    table = outcome.table()
    front = [
        f"Pareto front: {row.candidate}: {row.verdict}, service cost "
        f"{format_value(row.service_cost_usd, 'USD')}, SLO error budget used "
        f"{format_value(row.slo_budget_used_pct)} %"
        for row in table.itertuples(index=False)
    ]
    label = "the recommended HPA" if outcome.chosen is not None else "the current HPA"
    write_report(
        outcome.run_of(shown),
        args.out,
        headline=[f"capsim recommend: the run of {label} ({shown.label})", *outcome.why, *front],
        context=ReportContext(
            title=f"capsim recommend: {args.hpa.name} against {args.trace.name}",
            assumptions=(*outcome.assumptions, *outcome.notes),
        ),
    )


def _recommend(args: argparse.Namespace) -> int:
    from capsim.analysis.recommend import emit_hpa, recommend
    from capsim.fastpath.kernel import COMPILED
    from capsim.results.files import check_output_folder

    if args.workers is not None or args.scheduler is not None:
        require_extra("distributed", "capsim recommend --workers/--scheduler")
    if args.emit is not None:
        check_output_folder(args.emit, "--emit")  # before the search, not after it
    if args.out is not None:
        check_output_folder(args.out)
    if not COMPILED:
        print(
            "capsim: note: Numba is not installed, so the fast path runs as plain Python "
            "(the same results, about 170-200x slower): pip install 'capsim[fast]'",
            file=sys.stderr,
        )
    outcome = recommend(
        _validate_inputs(args),
        targets=None if args.targets is None else _decimals(args.targets, "--targets"),
        presets=[p.strip() for p in args.presets.split(",") if p.strip()],
        max_replicas=_numbers(args.max_replicas, "--max-replicas"),
        cpu_requests_m=_cpu_list(args.cpu_requests),
        workers=args.workers,
        scheduler=args.scheduler,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        notify=stage_notes(),
    )
    emitted = None
    if args.emit is not None and outcome.chosen is not None:
        emitted = emit_hpa(args.hpa, args.deployment, outcome.chosen, args.emit)
    if args.out is not None:
        _recommendation_report(args, outcome)
    from capsim.cli.output import csv_text, plain, print_document, table_text

    table = outcome.table()
    if args.output == "table":
        from capsim.report.writer import format_value

        rows = [[format_value(v) for v in row] for row in table.itertuples(index=False)]
        print("Pareto front (service cost against SLO error budget used):")
        print(table_text([str(c) for c in table.columns], rows))
        print()
        print("\n".join([*outcome.notes, *outcome.why]))
        if emitted is not None:
            print(f"\nrecommended HPA: {emitted}")
    elif args.output == "csv":  # the Pareto front
        print(csv_text([str(c) for c in table.columns], table.itertuples(index=False)))
    else:
        chosen = outcome.chosen
        print_document(
            {
                "recommended": None
                if chosen is None
                else {"label": chosen.label, "spec": chosen.spec, "metrics": chosen.metrics},
                "current": {
                    "passed": outcome.current.passed,
                    "metrics": outcome.current.metrics,
                },
                "pareto": plain(table),
                "why": outcome.why,
                "notes": list(outcome.notes),
                "emitted": None if emitted is None else str(emitted),
            },
            args.output,
        )
    return EXIT_OK if outcome.chosen is not None else EXIT_CHECK_FAILED
