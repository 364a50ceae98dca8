"""``capsim schema`` and ``capsim init``: the reference for writing a scenario
(:mod:`capsim.scenario.reference`): its JSON Schema or Markdown reference on stdout, and
a commented starter file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from capsim.cli.common import EXIT_OK, InputError

__all__ = ["add_schema_parsers"]

_SCHEMA_HELP = """\
Print the JSON Schema of a scenario file (draft 2020-12, from capsim's own models, with
the field names a file writes), or with --format markdown the scenario reference
(docs/scenario-reference.md: every field's type, units, default and meaning).

Editors check and complete scenario files with it. In VS Code (the YAML extension, Red
Hat), save it and name it on the first line of the scenario:

  capsim schema > scenario.schema.json
  # yaml-language-server: $schema=scenario.schema.json

or map it to your files in the settings ("yaml.schemas").
"""

_INIT_HELP = """\
Write a commented starter scenario to PATH (default scenario.yaml): a service with an
SLO, on Kubernetes (pods, an HPA, a cluster autoscaler) and on VMs (an autoscaling
group), each field explained with its units. An existing file is never overwritten.
"""


def add_schema_parsers(commands: Any) -> None:
    """Register ``schema`` and ``init``."""
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of a scenario file (or its Markdown reference)",
        description=_SCHEMA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.add_argument(
        "--format",
        choices=("json", "markdown"),
        default="json",
        help="json: the JSON Schema (default); markdown: the scenario reference",
    )
    schema.set_defaults(handler=_schema)
    init = commands.add_parser(
        "init",
        help="write a commented starter scenario",
        description=_INIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path("scenario.yaml"),
        metavar="PATH",
        help="the file to write (default scenario.yaml); never overwritten",
    )
    init.set_defaults(handler=_init)


def _schema(args: argparse.Namespace) -> int:
    from capsim.scenario.reference import reference_markdown, schema_text

    text = reference_markdown() if args.format == "markdown" else schema_text()
    sys.stdout.write(text)
    sys.stdout.flush()
    return EXIT_OK


def _init(args: argparse.Namespace) -> int:
    from capsim.scenario.reference import STARTER

    path: Path = args.path
    if path.exists() or path.is_symlink():
        raise InputError(f"{path}: already exists; not overwritten (give another PATH)")
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(STARTER)
    except FileExistsError:
        raise InputError(f"{path}: already exists; not overwritten (give another PATH)") from None
    print(f"wrote {path}: a starter scenario; edit it, then run: capsim run {path}")
    return EXIT_OK
