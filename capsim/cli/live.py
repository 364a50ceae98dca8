"""``capsim live prometheus`` (a Deployment's history from Prometheus into a trace CSV and
a scenario) and ``capsim live compare`` (the simulated HPA against the observed one);
``metrics-server`` and ``snapshot`` are in :mod:`capsim.cli.live_cluster`.

Exit codes as every command: 0 written; 2 bad input or Prometheus could not answer
(unreachable, credentials, a query error, nothing matched). The CSV appears complete or
not at all (written to a temporary file, then renamed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from capsim.cli.common import EXIT_BAD_INPUT, EXIT_OK, duration_arg
from capsim.cli.live_cluster import add_cluster_commands

__all__ = ["add_live_parser"]


def add_live_parser(commands: Any) -> None:
    """The ``live`` command group."""
    duration = duration_arg
    live = commands.add_parser(
        "live",
        help="real clusters in: Prometheus history and metrics-server samples into traces, "
        "a namespace into a scenario, the simulation compared with the cluster",
    )
    sub = live.add_subparsers(dest="live_command", required=True, metavar="COMMAND")
    prom = sub.add_parser(
        "prometheus",
        help="a Deployment's CPU, memory, replicas, requests and HPA from Prometheus",
        description="Pull a Deployment's history from Prometheus (or Thanos, Mimir, "
        "VictoriaMetrics) into a trace CSV that capsim reads. Gaps stay gaps.",
    )
    prom.add_argument("--url", required=True, help="Prometheus base URL (with any path prefix)")
    prom.add_argument("--namespace", required=True)
    prom.add_argument("--deployment", required=True)
    prom.add_argument("--selector", metavar="REGEX", help="pod-name regex instead of owners")
    prom.add_argument("--container", help="only this container")
    prom.add_argument("--cluster", help='match cluster="NAME" (multi-cluster stores)')
    prom.add_argument("--rate-query", metavar="PROMQL", help="the request rate, per second")
    window = prom.add_mutually_exclusive_group()
    window.add_argument("--since", type=duration, default=None, metavar="DURATION")
    window.add_argument("--start", metavar="TIME", help="ISO 8601 or Unix seconds")
    prom.add_argument("--end", metavar="TIME", help="ISO 8601 or Unix seconds (default now)")
    prom.add_argument("--step", type=duration, default=30.0, metavar="DURATION")
    prom.add_argument("--rate-window", type=duration, default=None, metavar="DURATION")
    prom.add_argument("--header", action="append", default=[], metavar="'K: V'")
    prom.add_argument("--bearer-token-file", type=Path, metavar="FILE")
    prom.add_argument("--basic-auth-file", type=Path, metavar="FILE", help="one line: user:pass")
    tls = prom.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", type=Path, metavar="FILE")
    tls.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    prom.add_argument("--timeout", type=duration, default=60.0, metavar="DURATION")
    prom.add_argument("--out", type=Path, metavar="CSV", help="default <deployment>.csv")
    prom.add_argument(
        "--scenario-out", type=Path, metavar="S.yaml", help="also write a scenario of the workload"
    )
    prom.add_argument("--debug", action="store_true", help="show tracebacks")
    compare = sub.add_parser(
        "compare",
        help="replay a pulled trace through the simulated HPA and compare with the cluster",
        description="Run the scenario (whose load is the pulled trace) and compare the "
        "simulated replicas and CPU utilization with the observed ones: mean absolute error, "
        "share of time equal, lag; with a figure.",
    )
    compare.add_argument("--trace", required=True, type=Path, metavar="CSV")
    compare.add_argument(
        "--scenario",
        required=True,
        type=Path,
        metavar="SCENARIO",
        help="the scenario of the pulled trace (--scenario-out), or a bundled scenario's name",
    )
    compare.add_argument("--platform", help="the Kubernetes platform (default: the only one)")
    compare.add_argument("--workload", help="the workload (default: the only service)")
    compare.add_argument("--max-lag", type=duration, default=1800.0, metavar="DURATION")
    compare.add_argument("--out", type=Path, metavar="DIR", help="default reports/<name>-compare")
    compare.add_argument("--json", action="store_true", help="machine-readable output")
    compare.add_argument("--debug", action="store_true", help="show tracebacks")
    add_cluster_commands(sub, duration)
    prom.set_defaults(handler=_prometheus)
    compare.set_defaults(handler=_compare)


def _time(text: str, flag: str) -> float:
    import pandas as pd

    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise ValueError(f"{flag}: not an ISO 8601 time or Unix seconds: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def _auth(args: argparse.Namespace) -> Any:
    from capsim.kube.prometheus import Auth

    headers = []
    for text in args.header:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header: expected 'Name: value', got {text!r}")
        headers.append((name.strip(), value.strip()))
    token = None
    if args.bearer_token_file is not None:
        token = args.bearer_token_file.read_text(encoding="utf-8").strip()
    basic = None
    if args.basic_auth_file is not None:
        user, sep, password = (
            args.basic_auth_file.read_text(encoding="utf-8").strip().partition(":")
        )
        if not sep:
            raise ValueError(f"{args.basic_auth_file}: expected one line 'user:password'")
        basic = (user, password)
    return Auth(tuple(headers), token, basic, args.ca_file, args.insecure)


def _prometheus(args: argparse.Namespace) -> int:
    from capsim.kube.prometheus import Prometheus, PrometheusError
    from capsim.kube.pull import Target, pull_trace
    from capsim.results.files import replace_file

    end_s = _time(args.end, "--end") if args.end else float(round(time.time()))
    if args.start is not None:
        start_s = _time(args.start, "--start")
    else:
        start_s = end_s - (args.since if args.since is not None else 7 * 86_400.0)
    if start_s >= end_s:
        raise ValueError(f"--start ({args.start}) is not before --end ({args.end or 'now'})")
    step = args.step
    start_s = end_s - step * ((end_s - start_s) // step)  # whole steps, ending at --end
    target = Target(
        namespace=args.namespace,
        deployment=args.deployment,
        selector=args.selector,
        container=args.container,
        cluster=args.cluster,
        rate_query=args.rate_query,
        rate_window_s=args.rate_window or max(120.0, 4 * step),
    )
    prometheus = Prometheus(args.url, _auth(args), timeout_s=args.timeout)
    try:
        pulled = pull_trace(prometheus, target, start_s, end_s, step)
    except PrometheusError as exc:
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = args.out or Path(f"{args.deployment}.csv")
    replace_file(out, pulled.frame.to_csv(index=False, lineterminator="\n", na_rep=""))
    rows = len(pulled.frame)
    print(f"wrote {out}: {rows} rows every {step:g} s, columns {list(pulled.frame.columns[1:])}")
    _report_gaps(pulled.frame)
    if pulled.missing:
        print(f"note: no data for {list(pulled.missing)} (left out)")
    for warning in prometheus.warnings:
        print(f"warning: the server answered with a warning (the data may be partial): {warning}")
    if args.scenario_out is not None:
        _write_scenario(args, pulled, out)
    return EXIT_OK


def _write_scenario(args: argparse.Namespace, pulled: Any, trace: Path) -> None:
    import yaml

    from capsim.analysis.live_scenario import scenario_from_trace
    from capsim.results.files import replace_file

    scenario, notes = scenario_from_trace(
        pulled.frame,
        trace_path=trace,
        scenario_path=args.scenario_out,
        namespace=args.namespace,
        deployment=args.deployment,
        step_s=pulled.step_s,
        source=args.url,
    )
    header = "".join(f"# {line}\n" for line in ["capsim live prometheus: assumptions", *notes])
    replace_file(args.scenario_out, header + yaml.safe_dump(scenario, sort_keys=False))
    print(f"wrote {args.scenario_out}: the workload as a scenario")
    for note in notes:
        print(f"  assumed: {note}")
    print(f"next: capsim live compare --trace {trace} --scenario {args.scenario_out}")


def _compare(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    import capsim
    from capsim.analysis.calibrate import calibrate, observed_levels
    from capsim.report.calibration import calibration_figure
    from capsim.report.figures import save_png
    from capsim.results.files import replace_file
    from capsim.scenario import KubernetesPlatform, ServiceWorkload

    scenario = capsim.load_scenario(args.scenario)
    platforms = [n for n, p in scenario.platforms.items() if isinstance(p, KubernetesPlatform)]
    platform = args.platform or (platforms[0] if len(platforms) == 1 else None)
    if platform not in platforms:
        raise ValueError(f"{args.scenario}: give --platform (Kubernetes platforms: {platforms})")
    services = [w.name for w in scenario.workloads if isinstance(w, ServiceWorkload)]
    workload = args.workload or (services[0] if len(services) == 1 else None)
    if workload not in services:
        raise ValueError(f"{args.scenario}: give --workload (services: {services})")
    trace = pd.read_csv(args.trace)
    observed = observed_levels(trace)
    steps = observed["time_s"].diff().dropna()
    step_s = float(steps.median()) if len(steps) else 1.0
    only = scenario.model_copy(update={"platforms": {platform: scenario.platforms[platform]}})
    result = capsim.run(only)
    rows = result.timeseries
    rows = rows[(rows["platform"] == platform) & (rows["workload"] == workload)]
    requested = rows["cpu_requested_cores"].where(rows["cpu_requested_cores"] > 0)
    simulated = pd.DataFrame(
        {
            "time_s": rows["time_s"].to_numpy(),
            "replicas": rows["replicas_ready"].to_numpy(dtype=float),
            "utilization_pct": (100.0 * rows["cpu_used_cores"] / requested).to_numpy(),
        }
    )
    calibration = calibrate(observed, simulated, step_s, args.max_lag)
    out = args.out or Path("reports") / f"{scenario.name}-compare"
    figure = calibration_figure(observed, simulated, f"{workload}: cluster vs simulation")
    save_png(figure, out / "calibration.png")
    replace_file(out / "calibration.json", json.dumps(calibration.as_dict(), indent=2) + "\n")
    if args.json:
        print(json.dumps(calibration.as_dict(), indent=2))
        return EXIT_OK
    print(f"{workload} on {platform}: {calibration.samples} samples of {args.trace}")
    for line in calibration.lines():
        print(f"  {line}")
    print(f"figure: {out / 'calibration.png'}")
    return EXIT_OK


def _report_gaps(frame: Any) -> None:
    """One warning per column with missing samples: how many, and the first runs' times."""
    from capsim.analysis.metrics import mask_runs

    rows, stamps = len(frame), frame["timestamp"]
    for column in frame.columns[1:]:
        empty = frame[column].isna().to_numpy()
        if not empty.any():
            continue
        first, last = mask_runs(empty)
        runs = zip(first[:3], last[:3], strict=True)
        shown = ", ".join(f"{stamps.iloc[a]}–{stamps.iloc[b]}" for a, b in runs)
        more = f" and {first.size - 3} more" if first.size > 3 else ""
        print(
            f"warning: {column}: {int(empty.sum())} of {rows} samples missing "
            f"({100 * empty.sum() / rows:.1f} %), left empty: {shown}{more}"
        )
