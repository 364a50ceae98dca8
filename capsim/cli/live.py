"""``capsim live prometheus`` (a Deployment's history from Prometheus into a trace CSV and
a scenario) and ``capsim live compare`` (the simulated HPA against the observed one);
``metrics-server`` and ``snapshot`` are in :mod:`capsim.cli.live_cluster`.

Exit codes as every command: 0 written; 2 bad input or Prometheus could not answer
(unreachable, credentials, a query error, nothing matched; every such error names the URL,
without credentials). The CSV appears complete or not at all (written to a temporary file,
then renamed); with ``--scenario-out`` both files appear or neither, and the scenario is
first loaded by ``capsim.load_scenario`` with the trace where it will be.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from capsim.cli.common import EXIT_BAD_INPUT, EXIT_OK, InputError, duration_arg
from capsim.cli.live_cluster import add_cluster_commands
from capsim.cli.output import add_output_argument

__all__ = ["add_live_parser"]

# The client's documented limits (capsim.kube.prometheus; repeated here so that building
# the parser does not import the client).
_MAX_POINTS = 2_000_000
_DEFAULT_TIMEOUT_S = 300.0
#: The largest credential file read (a token or user:password is far smaller).
_MAX_SECRET_FILE_BYTES = 64 * 1024
#: Times outside 1970-01-01 … 9999-12-31 are refused.
_LATEST_S = 253_402_300_799.0


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
        "VictoriaMetrics) into a trace CSV that capsim reads. Gaps stay gaps (a point whose "
        "window holds no raw sample, fewer than two for the CPU rate, is empty on every "
        "server). Every answer is checked before anything is written: NaN is a gap; "
        "infinities, negative values, absurd magnitudes, off-grid or repeated timestamps "
        "and malformed answers are refused (exit 2) and nothing is written. Credentials go "
        "only to --url's host: a redirect to another scheme, host or port is refused when "
        "any credential or --header is set. No secret is ever printed or written. With "
        "--scenario-out, the scenario is loaded by capsim's own loader before anything is "
        "written, and the trace starts at the first point with load (a held gap needs a "
        "value before it).",
    )
    prom.add_argument(
        "--url",
        required=True,
        help="Prometheus base URL (http or https, with any path prefix; no query string); "
        "http://user:password@host:port is basic auth (percent-encode special characters)",
    )
    prom.add_argument(
        "-n",
        "--namespace",
        required=True,
        help="a DNS-1123 label, checked as the API server does",
    )
    prom.add_argument(
        "--deployment",
        required=True,
        help="a DNS-1123 subdomain, checked as the API server does",
    )
    prom.add_argument("--selector", metavar="REGEX", help="pod-name regex instead of owners")
    prom.add_argument("--container", help="only this container (a DNS-1123 label)")
    prom.add_argument(
        "--cluster",
        help='match cluster="NAME" (multi-cluster stores; any text without control '
        "characters, sent as an escaped PromQL string)",
    )
    prom.add_argument("--rate-query", metavar="PROMQL", help="the request rate, per second")
    window = prom.add_mutually_exclusive_group()
    window.add_argument(
        "--since", type=duration, default=None, metavar="DURATION", help="default 7d"
    )
    window.add_argument("--start", metavar="TIME", help="ISO 8601 or Unix seconds")
    prom.add_argument("--end", metavar="TIME", help="ISO 8601 or Unix seconds (default now)")
    prom.add_argument(
        "--step",
        type=duration,
        default=30.0,
        metavar="DURATION",
        help="default 30s; a whole number of milliseconds. The points lie on multiples of "
        "the step (Unix time), inside [start, end]; at most "
        f"{_MAX_POINTS:,} points per series in one pull",
    )
    prom.add_argument(
        "--rate-window",
        type=duration,
        default=None,
        metavar="DURATION",
        help="the window of rate() and of the gap test (default max(2m, 4 × step); ≥ 1s)",
    )
    prom.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'K: V'",
        help="an HTTP header for every request (repeat for more; sent only to --url's host)",
    )
    prom.add_argument(
        "--bearer-token-file",
        type=Path,
        metavar="FILE",
        help="a file holding a bearer token (Authorization: Bearer …)",
    )
    prom.add_argument("--basic-auth-file", type=Path, metavar="FILE", help="one line: user:pass")
    tls = prom.add_mutually_exclusive_group()
    tls.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="PEM CA bundle to verify the server's certificate (default: the system's)",
    )
    tls.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    prom.add_argument(
        "--timeout",
        type=duration,
        default=_DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help=f"the overall deadline of the whole pull: every query, retry and wait, not "
        f"each read (default {_DEFAULT_TIMEOUT_S:g}s); a server that answers slowly fails "
        "at the deadline with exit 2",
    )
    prom.add_argument(
        "--out",
        type=Path,
        metavar="CSV",
        help="default <deployment>.csv; an existing file only with --force",
    )
    prom.add_argument(
        "--scenario-out", type=Path, metavar="S.yaml", help="also write a scenario of the workload"
    )
    prom.add_argument(
        "--force", action="store_true", help="replace existing --out and --scenario-out files"
    )
    prom.add_argument("--debug", action="store_true", help="show tracebacks")
    compare = sub.add_parser(
        "compare",
        help="replay a pulled trace through the simulated HPA and compare with the cluster",
        description="Run the scenario (whose load is the pulled trace) and compare the "
        "simulated replicas and CPU utilization with the observed ones: mean absolute error, "
        "share of time equal, lag; with a figure.",
    )
    compare.add_argument(
        "--trace",
        required=True,
        type=Path,
        metavar="CSV",
        help="a trace capsim live prometheus pulled (observed replicas and CPU)",
    )
    compare.add_argument(
        "--scenario",
        required=True,
        type=Path,
        metavar="SCENARIO",
        help="the scenario of the pulled trace (--scenario-out), or a bundled scenario's name",
    )
    compare.add_argument("--platform", help="the Kubernetes platform (default: the only one)")
    compare.add_argument("--workload", help="the workload (default: the only service)")
    compare.add_argument(
        "--max-lag",
        type=duration,
        default=1800.0,
        metavar="DURATION",
        help="the largest shift tried when aligning the two curves (default 30m)",
    )
    compare.add_argument("--out", type=Path, metavar="DIR", help="default reports/<name>-compare")
    add_output_argument(compare)
    compare.add_argument("--debug", action="store_true", help="show tracebacks")
    add_cluster_commands(sub, duration)
    prom.set_defaults(handler=_prometheus)
    compare.set_defaults(handler=_compare)


def _time(text: str, flag: str) -> float:
    """``--start``/``--end``: Unix seconds or ISO 8601 (UTC unless a zone is given), between
    1970 and 9999."""
    import pandas as pd

    try:
        value = float(text)
    except ValueError:
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            raise InputError(
                f"{flag}: not an ISO 8601 time or Unix seconds, got {text[:80]!r}"
            ) from None
        if pd.isna(stamp):
            raise InputError(f"{flag}: not a time, got {text[:80]!r}") from None
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        value = float(stamp.timestamp())
    if not (math.isfinite(value) and 0 <= value <= _LATEST_S):
        raise InputError(f"{flag}: must be a time between 1970 and 9999, got {text[:80]!r}")
    return value


def _duration_flag(value: float, flag: str, at_least_s: float) -> float:
    if not (math.isfinite(value) and value >= at_least_s):
        raise InputError(
            f"{flag}: must be a finite duration of at least {at_least_s:g} s, got {value:g}"
        )
    return value


def _read_secret(path: Path, flag: str) -> str:
    """A credential file's text (stripped), never shown in any message."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: {flag}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > _MAX_SECRET_FILE_BYTES:
        raise InputError(
            f"{path}: {flag}: more than {_MAX_SECRET_FILE_BYTES:,} bytes, not a credential"
        )
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{path}: {flag}: not UTF-8 text") from None
    if not text:
        raise InputError(f"{path}: {flag}: empty")
    if "\n" in text or "\r" in text:
        raise InputError(f"{path}: {flag}: more than one line")
    return text


def _auth(args: argparse.Namespace, url_basic: tuple[str, str] | None) -> Any:
    """The credentials of the flags (and the URL's userinfo); at most one source of the
    ``Authorization`` header."""
    from capsim.kube.prometheus import Auth, PrometheusError

    headers = []
    for text in args.header:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise InputError(f"--header: expected 'Name: value', got {name.strip()[:40]!r}…")
        headers.append((name.strip(), value.strip()))
    token = None
    if args.bearer_token_file is not None:
        token = _read_secret(args.bearer_token_file, "--bearer-token-file")
    basic = url_basic
    if args.basic_auth_file is not None:
        user, sep, password = _read_secret(args.basic_auth_file, "--basic-auth-file").partition(":")
        if not sep or not user:
            raise InputError(
                f"{args.basic_auth_file}: --basic-auth-file: expected one line 'user:password'"
            )
        basic = (user, password)
    given = [
        flag
        for flag, present in (
            ("user:password in --url", url_basic is not None),
            ("--basic-auth-file", args.basic_auth_file is not None),
            ("--bearer-token-file", token is not None),
            ("--header 'Authorization: …'", any(n.lower() == "authorization" for n, _ in headers)),
        )
        if present
    ]
    if len(given) > 1:
        raise InputError(f"credentials: give one of {', '.join(given)}, not several")
    try:
        return Auth(tuple(headers), token, basic, args.ca_file, args.insecure)
    except PrometheusError as exc:
        raise InputError(str(exc)) from None


def _window_s(args: argparse.Namespace) -> tuple[float, float, float]:
    """``(start, end, step)`` in seconds: checked, on multiples of the step (the grid
    VictoriaMetrics and caching query frontends align to as well), and at most
    ``_MAX_POINTS`` points, all before any request or allocation."""
    step_s = _duration_flag(args.step, "--step", 0.001)
    step_ms = round(step_s * 1000)
    if abs(step_ms - step_s * 1000) > 1e-6 * step_s * 1000:
        raise InputError(f"--step: must be a whole number of milliseconds, got {step_s:g} s")
    end_s = _time(args.end, "--end") if args.end else time.time()
    if args.start is not None:
        start_s = _time(args.start, "--start")
    else:
        since = _duration_flag(
            args.since if args.since is not None else 7 * 86_400.0, "--since", 0.001
        )
        start_s = end_s - since
        if start_s < 0:
            raise InputError(f"--since: reaches before 1970 (from --end), got {since:g} s")
    if start_s >= end_s:
        raise InputError(f"--start ({args.start}) is not before --end ({args.end or 'now'})")
    first = math.ceil(round(start_s * 1000, 3) / step_ms)
    last = math.floor(round(end_s * 1000, 3) / step_ms)
    if first > last:
        raise InputError(
            f"--step: no multiple of {step_s:g} s between the start and --end; use a smaller --step"
        )
    points = last - first + 1
    if points > _MAX_POINTS:
        raise InputError(
            f"--since/--start, --end, --step: {points:,} points per series "
            f"({(end_s - start_s):g} s every {step_s:g} s), more than the limit of "
            f"{_MAX_POINTS:,} per pull; use a larger --step or a shorter range"
        )
    return first * step_ms / 1000, last * step_ms / 1000, step_ms / 1000


def _prometheus(args: argparse.Namespace) -> int:
    from capsim.kube.prometheus import Prometheus, PrometheusError, parse_url, redact_url
    from capsim.kube.pull import Target, pull_trace
    from capsim.results.files import check_output_file

    try:
        url, url_basic = parse_url(args.url)
    except PrometheusError as exc:
        raise InputError(str(exc)) from None
    start_s, end_s, step = _window_s(args)
    timeout_s = _duration_flag(args.timeout, "--timeout", 0.001)
    rate_window_s = (
        _duration_flag(args.rate_window, "--rate-window", 1.0)
        if args.rate_window is not None
        else max(120.0, 4 * step)
    )
    try:  # names by the API server's rules; nothing that could break out of PromQL
        target = Target(
            namespace=args.namespace,
            deployment=args.deployment,
            selector=args.selector,
            container=args.container,
            cluster=args.cluster,
            rate_query=args.rate_query,
            rate_window_s=rate_window_s,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    auth = _auth(args, url_basic)
    out = args.out or Path(f"{args.deployment}.csv")
    check_output_file(out, "--out", force=args.force)  # before asking Prometheus anything
    if args.scenario_out is not None:
        check_output_file(args.scenario_out, "--scenario-out", force=args.force)
        if args.scenario_out.absolute() == out.absolute():
            raise InputError(f"--scenario-out {args.scenario_out}: the same file as --out")
    shown_url = redact_url(url)
    try:
        prometheus = Prometheus(url, auth, timeout_s=timeout_s)
        pulled = pull_trace(prometheus, target, start_s, end_s, step)
    except PrometheusError as exc:
        message = str(exc)
        if shown_url not in message:  # every error of the pull names the URL
            message = f"{shown_url}: {message}"
        print(f"capsim: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    frame = pulled.frame
    # All or nothing: the scenario is made and loaded by capsim's own loader, with the
    # trace, before any file is written.
    scenario = None
    if args.scenario_out is not None:
        frame, trim_notes = _trimmed(args, frame, shown_url)
        csv = frame.to_csv(index=False, lineterminator="\n", na_rep="")
        scenario = _scenario_text(args, frame, pulled.step_s, out, shown_url, trim_notes)
        _check_loadable(args.scenario_out, scenario[0], out, csv, shown_url)
    else:
        csv = frame.to_csv(index=False, lineterminator="\n", na_rep="")
    _write_all(out, csv, args.scenario_out, scenario)
    rows = len(frame)
    print(f"wrote {out}: {rows} rows every {step:g} s, columns {list(frame.columns[1:])}")
    _report_gaps(frame)
    if pulled.missing:
        print(f"note: no data for {list(pulled.missing)} (left out)")
    for warning in prometheus.warnings:
        print(f"warning: the server answered with a warning (the data may be partial): {warning}")
    if scenario is not None:
        notes = scenario[1]
        print(f"wrote {args.scenario_out}: the workload as a scenario")
        for note in notes:
            print(f"  assumed: {note}")
        print(f"next: capsim live compare --trace {out} --scenario {args.scenario_out}")
    return EXIT_OK


def _write_all(
    out: Path, csv: str, scenario_out: Path | None, scenario: tuple[str, list[str]] | None
) -> None:
    """The CSV, then the scenario; when the second cannot be written, a CSV that did not
    exist before is removed again (each file appears whole: written beside, then renamed)."""
    from capsim.results.files import replace_file

    existed = out.exists() or out.is_symlink()
    replace_file(out, csv)
    if scenario_out is None or scenario is None:
        return
    try:
        replace_file(scenario_out, scenario[0])
    except BaseException:
        if not existed:
            out.unlink(missing_ok=True)
        raise


def _trimmed(args: argparse.Namespace, frame: Any, url: str) -> tuple[Any, list[str]]:
    """The pulled frame from the first point with load on (see
    :func:`capsim.analysis.live_scenario.trim_leading_gaps`), and a note when it moved."""
    from capsim.analysis.live_scenario import trim_leading_gaps

    try:
        return trim_leading_gaps(frame)
    except ValueError as exc:
        raise InputError(
            f"{url}: {exc}: no load for --scenario-out {args.scenario_out}; nothing was written"
        ) from None


def _scenario_text(
    args: argparse.Namespace,
    frame: Any,
    step_s: float,
    trace: Path,
    url: str,
    notes_before: list[str],
) -> tuple[str, list[str]]:
    """The scenario's YAML and its assumptions, ``notes_before`` first (checked by
    :func:`_check_loadable`)."""
    import yaml

    from capsim.analysis.live_scenario import scenario_from_trace

    scenario, notes = scenario_from_trace(
        frame,
        trace_path=trace,
        scenario_path=args.scenario_out,
        namespace=args.namespace,
        deployment=args.deployment,
        step_s=step_s,
        source=url,  # without userinfo: parse_url took it out
    )
    notes = [*notes_before, *notes]
    header = "".join(f"# {line}\n" for line in ["capsim live prometheus: assumptions", *notes])
    return header + yaml.safe_dump(scenario, sort_keys=False), notes


def _check_loadable(scenario_out: Path, text: str, trace: Path, csv: str, url: str) -> None:
    """Load the scenario ``text`` with ``capsim.load_scenario``, the loader ``capsim run``
    uses, with the trace ``csv`` where the scenario will look for it: both are written
    into a temporary copy of their layout (the scenario's folder as deep below a fresh
    folder as its relative path to the trace climbs), so the trace path is the one that
    will be written. ``InputError`` (one line naming the scenario file and the URL, paths
    as they will be) when capsim would refuse it."""
    import os
    import tempfile

    import capsim

    relative = Path(os.path.relpath(trace.resolve(), scenario_out.resolve().parent))
    climbs = relative.parts.count("..")
    with tempfile.TemporaryDirectory(prefix="capsim-scenario-check-") as folder:
        home = Path(folder).joinpath(*[f"d{i}" for i in range(climbs)])
        copy = home / scenario_out.name
        copied_trace = Path(os.path.normpath(home / relative))
        home.mkdir(parents=True, exist_ok=True)
        copied_trace.parent.mkdir(parents=True, exist_ok=True)
        copied_trace.write_text(csv, encoding="utf-8")
        copy.write_text(text, encoding="utf-8")
        try:
            capsim.load_scenario(copy)
        except ValueError as exc:
            message = " ".join(str(exc).split())
            message = message.replace(str(copy), str(scenario_out))
            message = message.replace(str(copied_trace), str(trace))
            message = message.replace(str(home), str(scenario_out.parent))
            raise InputError(
                f"{scenario_out}: the data from {url} makes a scenario capsim refuses: "
                f"{message}; nothing was written"
            ) from None


def _compare(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    import capsim
    from capsim.analysis.calibrate import calibrate
    from capsim.report.calibration import calibration_figure
    from capsim.report.figures import png_bytes
    from capsim.results.files import check_output_folder, output_folder, write_durably
    from capsim.scenario import KubernetesPlatform, ServiceWorkload

    scenario = capsim.load_scenario(args.scenario)
    platforms = [n for n, p in scenario.platforms.items() if isinstance(p, KubernetesPlatform)]
    platform = args.platform or (platforms[0] if len(platforms) == 1 else None)
    if platform not in platforms:
        given = f"--platform {args.platform!r} is not one" if args.platform else "give --platform"
        raise InputError(f"{args.scenario}: {given} (Kubernetes platforms: {platforms})")
    services = [w.name for w in scenario.workloads if isinstance(w, ServiceWorkload)]
    workload = args.workload or (services[0] if len(services) == 1 else None)
    if workload not in services:
        given = f"--workload {args.workload!r} is not one" if args.workload else "give --workload"
        raise InputError(f"{args.scenario}: {given} (services: {services})")
    observed = _observed(args.trace)
    out = args.out or Path("reports") / f"{scenario.name}-compare"
    check_output_folder(out)  # before the simulation, not after it
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
    try:
        calibration = calibrate(observed, simulated, step_s, args.max_lag)
    except ValueError as exc:  # nothing to compare: about the trace given
        raise InputError(f"--trace {args.trace}: {exc}") from None
    figure = calibration_figure(observed, simulated, f"{workload}: cluster vs simulation")
    with output_folder(out) as staging:
        write_durably(staging / "calibration.png", png_bytes(figure))
        text = json.dumps(calibration.as_dict(), indent=2) + "\n"
        write_durably(staging / "calibration.json", text)
    if args.output != "table":
        from capsim.cli.output import print_document

        print_document(calibration.as_dict(), args.output)
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


def _observed(path: Path) -> Any:
    """The levels of a pulled trace (:func:`capsim.analysis.calibrate.observed_levels`),
    read with the bounds of every trace; one-line ``InputError`` naming the file."""
    import io

    import pandas as pd

    from capsim.analysis.calibrate import observed_levels
    from capsim.scenario.load.traces import file_problem, read_bounded

    problem = file_problem(path)
    if problem:
        raise InputError(f"--trace {path}: {problem}")
    raw = read_bounded(path)
    try:
        trace = pd.read_csv(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "empty"
        raise InputError(f"--trace {path}: not a CSV capsim can read: {reason}") from None
    try:
        return observed_levels(trace)
    except ValueError as exc:
        raise InputError(f"--trace {path}: {exc}") from None
