"""``capsim live metrics-server`` and ``capsim live snapshot``: live mode through the
Kubernetes API (metrics.k8s.io samples; Deployments, HPAs and nodes into a scenario).

``metrics-server`` samples ``metrics.k8s.io/v1beta1`` PodMetrics of the pods a
Deployment's selector (or ``--selector``) picks, every ``--interval`` for
``--duration``, into a trace CSV (``timestamp,cpu_cores,memory_bytes,pods``; rows,
units, empty samples and gaps: :mod:`capsim.kube.metrics_server`). Rows are appended
and flushed as they come. ``--out`` (default ``<deployment>.csv``, or
``metrics-server.csv`` with ``--selector``) is never overwritten or appended to: an
existing file is an error before anything is sampled. Ctrl-C stops the recording early:
the rows so far are kept (the file is complete up to the last row) and the exit code is
130, the shell's code for an interrupt, so a script can tell a shortened recording from
a full one. A progress bar shows on stderr when it is a terminal.

``snapshot`` reads the namespace's Deployments, HPAs and the cluster's nodes and writes a
scenario YAML (:mod:`capsim.kube.snapshot`), all at once (a temporary file, then a
rename). An existing ``--out`` (default ``<namespace>.yaml``, or
``<namespace>-<deployment>.yaml``) is kept unless ``--force``: it may hold the user's
edits of the placeholders.

Deadlines (``--timeout``, default 30 s): ``snapshot`` has one deadline for all of its
requests; ``metrics-server`` gives each request (each sample) its own, as the recording
itself lasts ``--duration`` (a sample that misses it is a gap, the first one stops).

The line saying what is sampled goes to stdout; stderr holds only the progress bar (on a
terminal) and, on failure, the one error line (with the rows kept, if any).

Exit codes: 0 done; 2 bad input, no answer from the cluster (naming its URL), credentials
refused (401), forbidden (403), metrics.k8s.io not served (metrics-server not installed),
no such Deployment, an existing ``--out``; 130 ``metrics-server`` interrupted (rows kept).
Times come in as arguments (:func:`run_cluster`'s ``clock`` and ``sleep``), so tests run
the recording on a fake clock.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capsim.cli.common import EXIT_BAD_INPUT, EXIT_OK, require_extra
from capsim.kube.client import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from capsim.kube.client import KubernetesCluster
    from capsim.kube.metrics_server import Sample, TraceCsv

__all__ = ["add_cluster_commands", "run_cluster"]

EXIT_INTERRUPTED = 130
METRICS_SERVER_URL = "https://github.com/kubernetes-sigs/metrics-server"


def add_cluster_commands(sub: Any, duration: Any) -> None:
    """Add ``metrics-server`` and ``snapshot`` to the ``live`` group ``sub`` (``duration``:
    the CLI's parser of ``10m``/``15s`` into seconds)."""
    metrics = sub.add_parser(
        "metrics-server",
        help="sample a Deployment's CPU and memory from metrics-server into a trace CSV",
        description="Sample metrics.k8s.io (metrics-server keeps no history) every --interval "
        "for --duration into a trace CSV: timestamp, cpu_cores, memory_bytes, pods. Rows are "
        "written as they come; Ctrl-C keeps them (exit 130). --out is never overwritten.",
    )
    metrics.add_argument("-n", "--namespace", required=True, help="the pods' namespace")
    pods = metrics.add_mutually_exclusive_group(required=True)
    pods.add_argument("--deployment", metavar="NAME", help="the pods its spec.selector selects")
    pods.add_argument("--selector", metavar="LABELS", help="a label selector, e.g. app=web")
    metrics.add_argument(
        "--duration", type=duration, default=600.0, metavar="DURATION", help="default 10m"
    )
    metrics.add_argument(
        "--interval",
        type=duration,
        default=15.0,
        metavar="DURATION",
        help="whole seconds; default 15s (metrics-server's resolution)",
    )
    metrics.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="kubeconfig file (default $KUBECONFIG, then ~/.kube/config)",
    )
    metrics.add_argument("--context", help="kubeconfig context (default: the current one)")
    metrics.add_argument(
        "--out", type=Path, metavar="CSV", help="default <deployment>.csv or metrics-server.csv"
    )
    metrics.add_argument(
        "--timeout",
        type=duration,
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help="deadline of each request (default 30s)",
    )
    metrics.add_argument("--debug", action="store_true", help="show tracebacks")

    snapshot = sub.add_parser(
        "snapshot",
        help="write a scenario from the cluster's node pools, requests and HPAs",
        description="Read the namespace's Deployments and HPAs and the cluster's nodes, and "
        "write a scenario YAML with the real node pool sizes, pod requests and HPAs. Prices, "
        "load and CPU per request are placeholders, marked in the file.",
    )
    snapshot.add_argument(
        "-n", "--namespace", required=True, help="the namespace to read Deployments and HPAs of"
    )
    snapshot.add_argument("--deployment", metavar="NAME", help="only this Deployment")
    snapshot.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="kubeconfig file (default $KUBECONFIG, then ~/.kube/config)",
    )
    snapshot.add_argument("--context", help="kubeconfig context (default: the current one)")
    snapshot.add_argument("--out", type=Path, metavar="YAML", help="default <namespace>.yaml")
    snapshot.add_argument("--force", action="store_true", help="replace an existing --out")
    snapshot.add_argument(
        "--timeout",
        type=duration,
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help="one deadline for all of the command's requests (default 30s)",
    )
    snapshot.add_argument("--debug", action="store_true", help="show tracebacks")
    metrics.set_defaults(handler=run_cluster)
    snapshot.set_defaults(handler=run_cluster)


def run_cluster(
    args: argparse.Namespace,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``capsim live metrics-server`` or ``snapshot``; returns the exit code.

    ``clock`` (Unix seconds) and ``sleep`` pace the metrics-server samples. Bad input is
    raised as ``ValueError`` (the CLI prints it and exits 2); cluster failures are printed
    here (exit 2).
    """
    require_extra("kubernetes", f"capsim live {args.live_command}")
    from capsim.kube.names import dns1123_label, dns1123_subdomain

    if problems := dns1123_label(args.namespace):
        raise ValueError(f"--namespace: {problems[-1]}, got {args.namespace!r}")
    if args.deployment is not None and (problems := dns1123_subdomain(args.deployment)):
        raise ValueError(f"--deployment: {problems[-1]}, got {args.deployment!r}")
    if args.live_command == "metrics-server":
        return _metrics_server(args, clock, sleep)
    if args.live_command == "snapshot":
        return _snapshot(args)
    raise AssertionError(f"unknown live command {args.live_command}")  # pragma: no cover


def _failure(error: Exception, server: str, *, metrics: bool = False) -> str:
    """One line for a cluster failure (``metrics``: the request was to metrics.k8s.io)."""
    from capsim.kube.client import ApiError

    text = " ".join(str(error).split())  # one line, whatever the server's body held
    if not isinstance(error, ApiError):
        return text  # unreachable: names the server or the kubeconfig
    if error.code == 401:
        return (
            f"{server} refused the kubeconfig's credentials ({error}); check --kubeconfig/--context"
        )
    if metrics and error.code == 404:
        return (
            f"metrics.k8s.io is not served by {server}: metrics-server is not installed "
            f"(kubectl top would fail too). Install it ({METRICS_SERVER_URL}) or pull "
            "history from Prometheus with capsim live prometheus"
        )
    if metrics and error.code == 503:
        return (
            f"metrics.k8s.io at {server} did not answer ({text}): metrics-server is "
            "registered but not running or not ready (kubectl get apiservice "
            "v1beta1.metrics.k8s.io)"
        )
    return f"{server}: {text}"


def _connect(args: argparse.Namespace, *, per_request: bool = False) -> KubernetesCluster:
    from capsim.kube.client import KubernetesCluster

    return KubernetesCluster(
        args.kubeconfig, args.context, timeout_s=args.timeout, per_request=per_request
    )


def _deployment_selector(cluster: KubernetesCluster, namespace: str, name: str) -> str:
    from capsim.kube.metrics_server import selector_of
    from capsim.kube.snapshot import missing_deployment

    deployment = cluster.get("apps/v1", "Deployment", namespace, name)
    if deployment is None:
        existing = [
            str((d.get("metadata") or {}).get("name"))
            for d in cluster.list("apps/v1", "Deployment", namespace)
        ]
        raise ValueError(f"{cluster.server}: {missing_deployment(namespace, name, existing)}")
    try:
        return selector_of(deployment)
    except ValueError as exc:  # the server's object: name the server
        raise ValueError(f"{cluster.server}: {exc}") from None


class _Progress:
    """A tqdm bar of samples on stderr, only when stderr is a terminal (a display edge)."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc="capsim metrics-server", unit="sample", file=sys.stderr
            )

    def __call__(self, sample: Sample) -> None:
        if self._bar is None:
            return
        from capsim.kube.metrics_server import format_cores

        usage = sample.usage
        shown = (
            "gap" if usage is None else f"{usage.pods} pods, {format_cores(usage.cpu_cores)} cores"
        )
        self._bar.set_postfix_str(shown, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _span(writer: TraceCsv) -> str:
    """``FIRST to LAST``: the times of the rows written so far (at least one)."""
    from capsim.units import format_iso_utc

    assert writer.first is not None
    assert writer.last is not None
    return f"{format_iso_utc(writer.first.time_s)} to {format_iso_utc(writer.last.time_s)}"


def _kept(writer: TraceCsv) -> str:
    if writer.rows == 0 or writer.first is None or writer.last is None:
        return "no sample was taken; nothing written"
    return f"kept {writer.rows} row(s) in {writer.path} ({_span(writer)})"


def _metrics_server(
    args: argparse.Namespace, clock: Callable[[], float], sleep: Callable[[float], None]
) -> int:
    from capsim.kube.client import ApiError, ClusterUnreachableError
    from capsim.kube.metrics_server import TraceCsv, exists_message, record, sample_count
    from capsim.units import format_duration, format_iso_utc

    count = sample_count(args.interval, args.duration)
    out: Path = args.out or Path(
        f"{args.deployment}.csv" if args.deployment else "metrics-server.csv"
    )
    if out.exists():
        raise ValueError(exists_message(out))
    server, recording = "the cluster", False
    cluster: KubernetesCluster | None = None
    writer = TraceCsv(out)
    progress = _Progress(count)

    def on_sample(sample: Sample) -> None:
        writer(sample)
        progress(sample)

    try:
        cluster = connected = _connect(args, per_request=True)
        server = str(cluster.server)
        selector = args.selector or _deployment_selector(cluster, args.namespace, args.deployment)
        print(
            f"sampling metrics.k8s.io pods in {args.namespace} ({selector}) on {server} every "
            f"{format_duration(args.interval)} for {format_duration(args.duration)} "
            f"({count} samples) into {out}; Ctrl-C stops and keeps the rows",
            flush=True,
        )
        recording = True
        record(
            lambda: connected.list_pod_metrics(args.namespace, selector),
            interval_s=args.interval,
            duration_s=args.duration,
            clock=clock,
            sleep=sleep,
            on_sample=on_sample,
        )
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: {_kept(writer)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ApiError, ClusterUnreachableError, ValueError) as error:
        if args.debug:
            traceback.print_exc()
        progress.close()
        message = (
            error if isinstance(error, ValueError) else _failure(error, server, metrics=recording)
        )
        kept = f"; {_kept(writer)}" if writer.rows else ""
        print(f"capsim: error: {message}{kept}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        writer.close()
        progress.close()
        if cluster is not None:
            cluster.close()
    print(
        f"wrote {out}: {writer.rows} rows every {format_duration(args.interval)} from "
        f"{_span(writer)}, columns cpu_cores, memory_bytes, pods"
    )
    if writer.gaps:
        shown = "; ".join(f"{format_iso_utc(g.time_s)}: {g.gap_reason}" for g in writer.gaps[:3])
        more = f"; and {len(writer.gaps) - 3} more" if len(writer.gaps) > 3 else ""
        print(
            f"warning: {len(writer.gaps)} of {writer.rows} samples could not be taken and are "
            f"left empty (gaps): {shown}{more}"
        )
    print(f"next: capsim validate --hpa HPA.yaml --trace {out} --column cpu_cores")
    return EXIT_OK


def _snapshot(args: argparse.Namespace) -> int:
    from capsim.kube.client import ApiError, ClusterUnreachableError
    from capsim.kube.snapshot import (
        SnapshotError,
        read_cluster,
        snapshot_scenario,
        write_snapshot,
    )
    from capsim.results.files import check_output_file

    if args.out is not None:
        check_output_file(args.out, "--out", force=args.force)  # before asking the cluster
    server = "the cluster"
    try:
        with _connect(args) as cluster:
            server = str(cluster.server)
            state = read_cluster(cluster, args.namespace, args.deployment)
        snapshot = snapshot_scenario(state)
    except (ApiError, ClusterUnreachableError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"capsim: error: {_failure(error, server)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SnapshotError as error:  # what the cluster holds: name the server
        raise SnapshotError(f"{server}: {error}") from None
    out: Path = args.out or Path(f"{snapshot.scenario['name']}.yaml")
    write_snapshot(out, snapshot.to_yaml(), force=args.force)
    print(f"wrote {out}: {snapshot.summary}")
    for note in snapshot.notes:
        print(f"note: {note}")
    print(f"next: set the placeholders, then capsim run {out}")
    return EXIT_OK
