"""One way to report a validation error: ``FILE: [document N: ]field.path: message, got VALUE``.

Used by every loader at the edge (manifests, scenarios, load specs), so users see the
same shape of message everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "format_loc",
    "load_yaml",
    "parse_yaml_text",
    "validation_message",
    "validation_messages",
]

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
    return _error_line(where, error.errors(include_url=False)[0], data, skip)


Hint = Callable[[tuple[int | str, ...]], str]
"""What to add after ``unknown field`` at a location (``; did you mean `x`?``), or ``""``."""


def validation_messages(
    where: str,
    error: ValidationError,
    data: Any = _MISSING,
    skip: Collection[str] = (),
    hint: Hint | None = None,
) -> list[str]:
    """Every error of ``error``, one line each naming ``where``, the field and the value.

    The alternatives of one union that all refused one value (``reserved: gke`` or a
    mapping) are one problem: only the first alternative's error is kept. ``hint`` adds
    to an unknown field's line (a close known name)."""
    lines: list[str] = []
    seen_unions: set[tuple[int | str, ...]] = set()
    errors = error.errors(include_url=False)
    for item in errors:
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc
            for other in errors
        ):
            continue  # a list left short by its own items' errors, listed already
        union = _union_anchor(loc, data, item["type"] == "missing")
        if union is not None:
            if union in seen_unions:
                continue
            seen_unions.add(union)
        line = _error_line(where, item, data, skip)
        if item["type"] == "extra_forbidden" and hint is not None:
            line += hint(loc)
        if line not in lines:
            lines.append(line)
    return lines


def _union_anchor(
    loc: Sequence[int | str], data: Any, missing: bool
) -> tuple[int | str, ...] | None:
    """The location of the written value whose union alternatives this error tried, if it
    is one: the path through the data stops at a part that is neither a key, an index nor
    a tag (``kind: vm``) of the value reached, and is not a ``missing`` field's name."""
    if data is _MISSING:
        return None
    node = data
    for depth, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("function-"):
            continue
        if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
            node = node[part] if 0 <= part < len(node) else _MISSING
            continue
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            continue
        if _is_union_tag(node, str(part), ()):
            continue
        return None if missing and depth == len(loc) - 1 else tuple(loc[:depth])
    return None


def _error_line(where: str, first: Any, data: Any, skip: Collection[str]) -> str:
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


# Bounds on what a YAML file may ask of the parser, checked before anything is built.
MAX_YAML_BYTES = 64 * 1024 * 1024
"""Largest YAML file read (64 MiB); a scenario or a manifest is a few kilobytes."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists (PyYAML's composer recurses once per level)."""
MAX_YAML_NODES = 1_000_000
"""Most values a document may expand to, counting each use of an ``*alias`` in full: a
"billion laughs" file of a few hundred bytes would otherwise expand to 10⁹ values."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with three refusals: a key given twice in one mapping,
    nesting deeper than :data:`MAX_YAML_DEPTH`, and a document that expands (aliases
    counted in full) to more than :data:`MAX_YAML_NODES` values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node

    def get_node(self) -> Any:
        node = super().get_node()
        if node is not None:
            _check_expanded_size(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} given twice (first on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _check_expanded_size(root: Any) -> None:
    """Count the values ``root`` expands to, each shared (aliased) node once per use.

    The count is memoised per node, so the check costs one visit per distinct node, and
    it stops as soon as the limit is passed. Iterative: depth is already bounded, but a
    wide graph must not recurse either.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done and children:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        size = 1 + sum(sizes[id(child)] for child in children)
        if size > MAX_YAML_NODES:
            raise yaml.YAMLError(
                f"expands to more than {MAX_YAML_NODES:,} values (YAML aliases); refused"
            )
        sizes[id(node)] = size


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml_text(text: str, *, all_documents: bool = False) -> Any:
    """Parse YAML strictly (see :class:`_StrictLoader`); raises ``yaml.YAMLError``."""
    loader = _StrictLoader(text)
    try:
        if all_documents:
            documents = []
            while loader.check_data():  # type: ignore[no-untyped-call]
                documents.append(loader.get_data())
            return documents
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: Path, error: type[ValueError], *, all_documents: bool = False) -> Any:
    """Read a YAML file at the edge; problems raise ``error`` naming the file (and the line
    and column of a syntax error). ``all_documents`` returns every document as a list.

    Strict: a key given twice, nesting deeper than :data:`MAX_YAML_DEPTH`, more than
    :data:`MAX_YAML_NODES` values after alias expansion and a file over
    :data:`MAX_YAML_BYTES` are errors, not silently accepted or left to exhaust memory.
    """
    try:
        if path.is_dir():
            raise error(f"{path}: is a folder, not a YAML file")
        if path.exists() and not path.is_file():
            raise error(f"{path}: not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise error(
            f"{path}: larger than {MAX_YAML_BYTES // 2**20} MiB; not a YAML file capsim reads"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return parse_yaml_text(text, all_documents=all_documents)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{at}: {problem}") from None
