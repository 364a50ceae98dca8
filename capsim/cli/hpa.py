"""``capsim hpa explain``: an HPA's effective configuration in plain words, with warnings
(:mod:`capsim.analysis.explain`).

Exit status, honest without ``--strict``: 0 every HPA is one the API server of a
supported Kubernetes (1.26 and later) can accept, though it may have warnings; 1 an HPA
every such API server rejects (a removed ``apiVersion``, ``autoscaling/v2beta2``), or,
with ``--strict``, any warning at all (``minReplicas: 0``, which needs the alpha
``HPAScaleToZero`` gate, is such a warning: valid where the gate is on); 2 a manifest
capsim cannot read or that the API server's validation refuses on any cluster
(``minReplicas`` > ``maxReplicas``, windows beyond the API's limits, ``autoscaling/v2beta1``):
refused when read, one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
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
from capsim.cli.output import add_output_argument
from capsim.scenario.manifests import (
    DEPRECATED_HPA_VERSIONS,
    Deployment,
    load_deployments,
    load_hpas,
)

__all__ = ["add_hpa_parser"]


def add_hpa_parser(commands: Any) -> None:
    """The ``hpa`` command group."""
    hpa = commands.add_parser("hpa", help="work with HorizontalPodAutoscaler manifests")
    hpa_commands = hpa.add_subparsers(dest="hpa_command", required=True, metavar="COMMAND")
    explain = hpa_commands.add_parser(
        "explain",
        help="print an HPA's effective configuration in plain words and warn about mistakes",
        description="Read autoscaling/v2 HorizontalPodAutoscaler manifests (multi-document "
        "YAML or kind: List) and print the effective configuration after API defaulting; "
        "a KEDA ScaledObject (keda.sh/v1alpha1) is described with the HPA KEDA creates.",
    )
    explain.add_argument(
        "manifests",
        nargs="+",
        metavar="HPA.yaml",
        help="HorizontalPodAutoscaler (or KEDA ScaledObject) manifest file(s): "
        "multi-document YAML or kind: List",
    )
    explain.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="DEPLOY.yaml",
        help="Deployment manifest(s) of the scale targets (checks requests)",
    )
    add_output_argument(explain)
    explain.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on any warning, not only on an HPA the API server would reject "
        "(which exits 1 without --strict too)",
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
    explain.epilog = (
        "exit codes: 0 an API server can accept every HPA (warnings may be printed); 1 an "
        "HPA every supported API server rejects (a removed apiVersion such as "
        "autoscaling/v2beta2), or with --strict any warning; 2 a manifest that cannot be "
        "read or is invalid (minReplicas > maxReplicas, limits exceeded), one line."
    )
    explain.set_defaults(handler=_hpa_explain)


def rejected(item: Explanation) -> list[str]:
    """The warnings of ``item`` about what every supported Kubernetes API server refuses
    to store, whatever its feature gates (``hpa explain`` exits 1 on them)."""
    version = item.data.get("apiVersion")
    return [DEPRECATED_HPA_VERSIONS[version]] if version in DEPRECATED_HPA_VERSIONS else []


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


def _explained(
    path: Path, deployments: Sequence[Deployment], settings: ControllerSettings
) -> list[Explanation]:
    """The HPAs of a file explained, or its KEDA ScaledObjects when it has no HPA."""
    from capsim.analysis.explain import explain_scaled_object
    from capsim.scenario.keda import load_scaled_object_docs
    from capsim.scenario.manifests import raw_objects

    kinds = {str(doc.body.get("kind")) for doc in raw_objects(path)}
    if "ScaledObject" in kinds and "HorizontalPodAutoscaler" not in kinds:
        return [
            explain_scaled_object(doc, deployments, settings)
            for doc in load_scaled_object_docs(path)
        ]
    return [explain_hpa(hpa, deployments, settings) for hpa in load_hpas(path)]


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
        item for path in args.manifests for item in _explained(path, deployments, settings)
    ]
    refused = {id(e): rejected(e) for e in explanations}
    if args.output == "table":
        print(_render_text(explanations))
    else:
        from capsim.cli.output import print_document

        hpas = [{**e.data, "rejected": refused[id(e)]} for e in explanations]
        print_document({"hpas": hpas}, args.output)
    count = sum(bool(r) for r in refused.values())
    if count:
        print(
            f"capsim: {count} HPA(s) the API server would reject (see the warnings); exit 1",
            file=sys.stderr,
        )
        return EXIT_CHECK_FAILED
    warned = any(e.warnings for e in explanations)
    return EXIT_CHECK_FAILED if args.strict and warned else EXIT_OK
