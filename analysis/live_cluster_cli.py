"""``capsim live metrics-server`` and ``capsim live snapshot``: live mode through the
Kubernetes API (metrics.k8s.io samples; Deployments, HPAs and nodes into a scenario)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["CLUSTER_COMMANDS", "add_cluster_commands", "run_cluster"]

CLUSTER_COMMANDS: tuple[str, ...] = ()


def add_cluster_commands(sub: Any, duration: Any) -> None:
    """Add the cluster-side ``live`` subcommands to ``sub`` (not written yet)."""


def run_cluster(args: argparse.Namespace) -> int:
    raise AssertionError(f"unknown live command {args.live_command}")  # pragma: no cover
