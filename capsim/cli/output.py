"""``-o/--output``: how a command prints its result, by kubectl's and krr's convention.

- ``table`` (the default): for people, aligned plain text (no Markdown pipes);
- ``json``: one JSON document, valid JSON: NaN and infinities are ``null``;
- ``yaml``: the same data through PyYAML's ``safe_dump``;
- ``csv``: where the result is a table, its rows with a header (raw numbers, empty
  cells for missing values).

``--json`` stays as a deprecated alias of ``-o json``. Only the result goes to stdout;
notes, progress and errors go to stderr, so ``capsim … -o json | jq`` works.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

__all__ = [
    "FORMATS",
    "TABULAR",
    "add_output_argument",
    "csv_text",
    "json_text",
    "plain",
    "print_document",
    "table_text",
    "yaml_text",
]

FORMATS = ("table", "json", "yaml", "csv")
TABULAR = FORMATS
DOCUMENT = ("table", "json", "yaml")  # results that are not one table: no csv


def add_output_argument(
    parser: argparse.ArgumentParser,
    formats: Sequence[str] = DOCUMENT,
    *,
    json_alias: bool = True,
) -> None:
    """``-o/--output FORMAT`` (default ``table``) and, with ``json_alias``, the deprecated
    ``--json`` (the same as ``-o json``), both into ``args.output``."""
    parser.add_argument(
        "-o",
        "--output",
        choices=tuple(formats),
        default="table",
        metavar="FORMAT",
        help=f"output format: {', '.join(formats)} (default table, aligned plain text)",
    )
    if json_alias:
        parser.add_argument(
            "--json",
            dest="output",
            action="store_const",
            const="json",
            help="deprecated: the same as -o json",
        )


def plain(value: Any) -> Any:
    """``value`` as plain JSON/YAML data: mappings with string keys, lists, str, int,
    float, bool and None; NaN and infinities become None; NumPy and pandas scalars,
    dataclasses, paths and times are converted."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is one
        return bool(value)
    if isinstance(value, str):  # subclasses (enums) as plain str: safe_dump takes no others
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # NumPy's float64 is one
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "columns"):  # a pandas DataFrame: its rows
        return plain(to_dict(orient="records"))
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # a NumPy scalar or array, a pandas Series
        return plain(tolist())
    try:  # pandas.NA, NaT and the like
        import pandas as pd

        if pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())
    return str(value)


def json_text(data: Any) -> str:
    """Indented JSON; never NaN or Infinity (``allow_nan=False`` after :func:`plain`)."""
    return json.dumps(plain(data), indent=2, allow_nan=False)


def yaml_text(data: Any) -> str:
    """Block-style YAML by ``yaml.safe_dump``, keys in their order (ends with a newline)."""
    import yaml

    return yaml.safe_dump(plain(data), sort_keys=False, allow_unicode=True, width=100)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV with a header line; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in plain(list(row))])
    return buffer.getvalue().rstrip("\n")


_NUMBER = re.compile(r"[-+−$]?[0-9][0-9,.]*(\s?[%A-Za-z/]*)?(\s*±\s*[0-9][0-9,.]*\s?[%A-Za-z/]*)?")


def _numeric(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell.strip().rstrip("*").strip())) or cell.strip() in ("—", "")


def table_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned plain-text table, two spaces between columns: the first column and
    columns of words left-aligned, columns of numbers right-aligned (kubectl's look)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = [
        i > 0 and bool(rows) and all(_numeric(str(row[i])) for row in rows)
        for i in range(len(header))
    ]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if right[i] else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_document(data: Any, output: str) -> None:
    """Print ``data`` as JSON (``output == "json"``) or YAML (anything else)."""
    print(json_text(data) if output == "json" else yaml_text(data).rstrip("\n"))
