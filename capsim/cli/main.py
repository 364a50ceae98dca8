"""The ``capsim`` command: the composition root that wires parsers, maths and output.

One module per command group: :mod:`.run` (``run``, ``compare``, ``scenarios``),
:mod:`.hpa` (``hpa explain``), :mod:`.validate` (``validate``, ``recommend``),
:mod:`.sweep`, :mod:`.deploy` (``deploy emit|apply``) and :mod:`.live` (``live
prometheus|compare|metrics-server|snapshot``). Each parser names its handler; this module
parses, calls it and turns errors into exit codes (:mod:`.common`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import capsim
from capsim.cli.common import (
    EXIT_BAD_INPUT,
    Handler,
    InputError,
    MissingExtraError,
    missing_extra,
)
from capsim.cli.deploy import add_deploy_parser
from capsim.cli.hpa import add_hpa_parser
from capsim.cli.live import add_live_parser
from capsim.cli.run import add_run_parsers
from capsim.cli.sweep import add_sweep_parser
from capsim.cli.validate import add_validate_parsers
from capsim.scenario.manifests import ManifestError

__all__ = ["build_parser", "console_main", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsim",
        description="Capacity and autoscaling simulator: Kubernetes HPA (exact autoscaling/v2 "
        "semantics) and VM autoscaling groups.",
    )
    parser.add_argument("--version", action="version", version=f"capsim {capsim.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_hpa_parser(commands)
    add_run_parsers(commands)
    add_sweep_parser(commands)
    add_validate_parsers(commands)
    add_deploy_parser(commands)
    add_live_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``capsim`` command; returns the exit code."""
    from capsim.scenario import ScenarioError
    from capsim.scenario.load import WorkloadError

    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except MissingExtraError as exc:  # one line, even with --debug: nothing to debug
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, f"capsim {args.command}")
        if message is None or getattr(args, "debug", False):
            raise
        print(f"capsim: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ManifestError, ScenarioError, WorkloadError, InputError, ValueError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def console_main() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
