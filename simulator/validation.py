"""One way to report a validation error: ``FILE: [document N: ]field.path: message, got VALUE``.

Used by every loader at the edge (manifests, scenarios), so users see the same shape of
message everywhere.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import ValidationError

__all__ = ["format_loc", "validation_message"]


def format_loc(loc: tuple[int | str, ...], skip: Collection[str] = ()) -> str:
    """``('spec', 'metrics', 0, 'target')`` → ``spec.metrics[0].target``.

    Parts in ``skip`` (the tags of tagged unions, which pydantic puts in the path) and
    pydantic's internal parts (``function-…``, ``literal[…]``) are left out.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in skip or str(part).startswith(("function-", "literal[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def validation_message(where: str, error: ValidationError, skip: Collection[str] = ()) -> str:
    """The first error of ``error`` as one line naming ``where``, the field and the value."""
    first = error.errors(include_url=False)[0]
    field = format_loc(tuple(first["loc"]), skip)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"{where}: {field}: required field is missing"
    if first["type"] == "extra_forbidden":
        return f"{where}: {field}: unknown field"
    return f"{where}: {field}: {message}, got {first.get('input')!r}"
