"""``capsim live prometheus``: a Deployment's history from Prometheus into a trace CSV.

Exit codes as every command: 0 written; 2 bad input or Prometheus could not answer
(unreachable, credentials, a query error, nothing matched). The CSV appears complete or
not at all (written to a temporary file, then renamed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis.live_cluster_cli import CLUSTER_COMMANDS, add_cluster_commands, run_cluster

__all__ = ["add_live_parser", "run_live"]

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_live_parser(commands: Any, duration: Any) -> None:
    """The ``live`` command group (``duration``: the CLI's duration parser)."""
    live = commands.add_parser("live", help="pull real metrics (Prometheus) into traces")
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
    prom.add_argument("--debug", action="store_true", help="show tracebacks")
    add_cluster_commands(sub, duration)


def run_live(args: argparse.Namespace) -> int:
    if args.live_command in CLUSTER_COMMANDS:
        return run_cluster(args)
    return _prometheus(args)


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
    from simulator.kube.prometheus import Auth

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
    from simulator.kube.prometheus import Prometheus, PrometheusError
    from simulator.kube.pull import Target, pull_trace

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
    _write_atomically(out, pulled.frame.to_csv(index=False, lineterminator="\n", na_rep=""))
    rows = len(pulled.frame)
    print(f"wrote {out}: {rows} rows every {step:g} s, columns {list(pulled.frame.columns[1:])}")
    for column, spans in pulled.gaps.items():
        empty = int(pulled.frame[column].isna().sum())
        shown = ", ".join(f"{_clock(a)}–{_clock(b)}" for a, b in spans[:3])
        more = f" and {len(spans) - 3} more" if len(spans) > 3 else ""
        print(
            f"warning: {column}: {empty} of {rows} samples missing ({100 * empty / rows:.1f} %), "
            f"left empty: {shown}{more}"
        )
    if pulled.missing:
        print(f"note: no data for {list(pulled.missing)} (left out)")
    return EXIT_OK


def _clock(seconds: float) -> str:
    import pandas as pd

    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
