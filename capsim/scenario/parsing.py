"""One way to report a validation error: ``FILE: [document N: ]field.path: message, got VALUE``.

Used by every loader at the edge (manifests, scenarios, load specs), so users see the
same shape of message everywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = ["format_loc", "load_yaml", "validation_message"]

_MISSING = object()


def _is_union_tag(node: Any, part: str, skip: Collection[str]) -> bool:
    """A tagged union puts the tag in the error path: ``kind: vm`` shows up as ``vm``."""
    if isinstance(node, Mapping):
        return part not in node and part in {str(v) for v in node.values() if isinstance(v, str)}
    return part in skip


def format_loc(loc: Sequence[int | str], data: Any = _MISSING, skip: Collection[str] = ()) -> str:
    """``('spec', 'metrics', 0, 'target')`` → ``spec.metrics[0].target``.

    Union tags are left out of the path. With the validated ``data`` they are found
    exactly: a part that is not a key of the mapping reached so far but one of its values
    (``kind: vm``). Without data, or below a scalar, the names in ``skip`` are left out.
    pydantic's internal parts (``function-…``, ``literal[…]``) are always left out.
    """
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, Sequence) and part < len(node) else _MISSING
            continue
        if str(part).startswith(("function-", "literal[")):
            continue
        if _is_union_tag(node, part, skip):
            continue
        out += f".{part}" if out else str(part)
        node = node.get(part, _MISSING) if isinstance(node, Mapping) else _MISSING
    return out or "(document)"


def validation_message(
    where: str, error: ValidationError, data: Any = _MISSING, skip: Collection[str] = ()
) -> str:
    """The first error of ``error`` as one line naming ``where``, the field and the value."""
    first = error.errors(include_url=False)[0]
    field = format_loc(tuple(first["loc"]), data, skip)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"{where}: {field}: required field is missing"
    if first["type"] == "extra_forbidden":
        return f"{where}: {field}: unknown field"
    prefix = where if field == "(document)" else f"{where}: {field}"
    value = first.get("input")
    shown = repr(value)
    if shown in message or isinstance(value, Mapping | list | tuple):
        return f"{prefix}: {message}"
    return f"{prefix}: {message}, got {shown}"


def load_yaml(path: Path, error: type[ValueError], *, all_documents: bool = False) -> Any:
    """Read a YAML file at the edge; problems raise ``error`` naming the file (and the line
    and column of a syntax error). ``all_documents`` returns every document as a list."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    try:
        return list(yaml.safe_load_all(text)) if all_documents else yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{at}: {problem}") from None
