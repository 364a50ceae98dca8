"""The ``capsim`` command: the composition root that wires parsers, maths and output.

Exit codes: 0 success; 1 a check failed (``--strict`` with warnings); 2 bad input (the
message names file, document, field and value; never a traceback).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Sequence

import yaml

from analysis.explain import ControllerSettings, Explanation, explain_hpa
from simulator.kube.manifests import Deployment, ManifestError, load_deployments, load_hpas
from simulator.units import parse_duration_s

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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``capsim`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "hpa" and args.hpa_command == "explain":
            return _hpa_explain(args)
    except ManifestError as exc:
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args}")  # pragma: no cover - argparse guards


def console_main() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
