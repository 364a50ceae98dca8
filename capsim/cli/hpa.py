"""``capsim hpa explain``: an HPA's effective configuration in plain words, with warnings
(:mod:`capsim.analysis.explain`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import yaml

from capsim.analysis.explain import ControllerSettings, Explanation, explain_hpa
from capsim.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    duration_arg,
    positive_duration_arg,
    tolerance_arg,
)
from capsim.scenario.manifests import Deployment, load_deployments, load_hpas

__all__ = ["add_hpa_parser"]


def add_hpa_parser(commands: Any) -> None:
    """The ``hpa`` command group."""
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
        type=tolerance_arg,
        default=0.1,
        help="controller --horizontal-pod-autoscaler-tolerance (default 0.1)",
    )
    explain.add_argument(
        "--downscale-stabilization",
        type=duration_arg,
        default=300.0,
        metavar="DURATION",
        help="controller --horizontal-pod-autoscaler-downscale-stabilization (default 5m)",
    )
    explain.add_argument(
        "--sync-period",
        type=positive_duration_arg,
        default=15.0,
        metavar="DURATION",
        help="controller --horizontal-pod-autoscaler-sync-period (default 15s)",
    )
    explain.set_defaults(handler=_hpa_explain)


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
