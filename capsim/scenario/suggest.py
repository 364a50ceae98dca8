"""Walking a schema of pydantic models as a scenario file is written: which model a field
path reaches, every place a field name can be written, and the "did you mean" hint for an
unknown field.

The walk follows the names users write (aliases, ``vcpu`` not ``vcpu_millicores``), goes
into lists (``[*]``) and mappings of names (``.*``), and through unions: a tagged union
(``kind: vm``) by the tag the data gives, else every member.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel

__all__ = [
    "FieldPlace",
    "did_you_mean",
    "field_name",
    "field_places",
    "members",
    "model_at",
    "tag_of",
    "unknown_field_hint",
    "written_fields",
]


def field_name(model: type[BaseModel], name: str) -> str:
    """The name a file writes for field ``name`` of ``model``: its alias, else its name."""
    alias = model.model_fields[name].alias
    return alias if alias else name


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def members(annotation: Any) -> list[Any]:
    """The alternatives of a union (``None`` left out), each unwrapped; else ``[annotation]``."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def tag_of(model: type[BaseModel]) -> tuple[str, str] | None:
    """A model's tag in a tagged union: the written name and value of its one-value
    ``Literal`` field without alternatives (``("kind", "vm")``), if it has one."""
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if typing.get_origin(annotation) is Literal and len(typing.get_args(annotation)) == 1:
            value = typing.get_args(annotation)[0]
            if isinstance(value, str):
                return field_name(model, name), value
    return None


def _pick(options: list[Any], node: Any) -> list[Any]:
    """The union members the written ``node`` selects by its tag (all of them without one)."""
    if not isinstance(node, Mapping):
        return options
    chosen = []
    for option in options:
        tag = tag_of(option) if _is_model(option) else None
        if tag is None or node.get(tag[0]) == tag[1]:
            chosen.append(option)
    return chosen or options


def _step(annotation: Any, part: int | str, node: Any) -> list[Any]:
    """The types one path part leads to from ``annotation``."""
    found: list[Any] = []
    for option in _pick(members(annotation), node):
        origin = typing.get_origin(option)
        if _is_model(option) and isinstance(part, str):
            for name, info in option.model_fields.items():
                if part in (name, field_name(option, name)):
                    found.append(info.annotation)
        elif origin in (tuple, list) and isinstance(part, int):
            found.append(typing.get_args(option)[0])
        elif origin is dict and isinstance(part, str):
            found.append(typing.get_args(option)[1])
    return found


def _child(node: Any, part: int | str) -> Any:
    if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
        return node[part] if 0 <= part < len(node) else None
    if isinstance(part, str) and isinstance(node, Mapping):
        return node.get(part)
    return None


def model_at(root: type[BaseModel], loc: Sequence[int | str], data: Any) -> list[type[BaseModel]]:
    """The models a pydantic error location reaches from ``root`` (the written ``data``
    picks tagged unions' members; union tags and pydantic's own parts in ``loc`` are
    skipped)."""
    current: list[Any] = [root]
    node = data
    for part in loc:
        if isinstance(part, str) and part.startswith(("function-", "literal[")):
            continue
        following: list[Any] = []
        for annotation in current:
            following += _step(annotation, part, node)
        if not following:
            # A union's tag (``kubernetes``, ``ReservedResources``): stay where we are.
            by_name = [
                o for a in current for o in members(a) if getattr(o, "__name__", None) == part
            ]
            tagged = [
                o
                for a in current
                for o in members(a)
                if _is_model(o) and (tag := tag_of(o)) is not None and tag[1] == part
            ]
            if by_name or tagged:
                current = by_name or tagged
                continue
            return []
        current = following
        node = _child(node, part)
    return [m for a in current for m in _pick(members(a), node) if _is_model(m)]


@dataclass(frozen=True)
class FieldPlace:
    """Where a model is written in a file: ``path`` such as ``platforms.*.node_pools[*]``
    and, for a member of a tagged union, its tag (``kind: vm``)."""

    model: type[BaseModel]
    path: str
    tag: str = ""

    def describe(self) -> str:
        return f"{self.path} ({self.tag})" if self.tag else self.path


def _join(path: str, part: str) -> str:
    if part.startswith("["):
        return path + part
    return f"{path}.{part}" if path else part


def _places(annotation: Any, path: str, above: tuple[type, ...]) -> Iterator[FieldPlace]:
    options = members(annotation)
    tagged = len(options) > 1
    for option in options:
        origin = typing.get_origin(option)
        if _is_model(option):
            if option in above:  # a recursive model (a sum of loads): its first place only
                continue
            tag = tag_of(option) if tagged else None
            yield FieldPlace(option, path, f"{tag[0]}: {tag[1]}" if tag else "")
            for name, info in option.model_fields.items():
                if info.exclude:
                    continue
                yield from _places(
                    info.annotation, _join(path, field_name(option, name)), (*above, option)
                )
        elif origin in (tuple, list):
            yield from _places(typing.get_args(option)[0], _join(path, "[*]"), above)
        elif origin is dict:
            yield from _places(typing.get_args(option)[1], _join(path, "*"), above)


def field_places(root: type[BaseModel]) -> list[FieldPlace]:
    """Every model reachable from ``root``, once per place it is written, in file order
    (a recursive model at its outermost place only)."""
    return list(_places(root, "", ()))


def written_fields(model: type[BaseModel]) -> list[str]:
    """The names a file may write for ``model``'s fields (excluded fields left out)."""
    return [field_name(model, n) for n, info in model.model_fields.items() if not info.exclude]


def did_you_mean(name: str, known: Sequence[str]) -> str | None:
    """The known name closest to ``name``, if one is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {k.lower().replace("-", "_"): k for k in known}
    return lowered.get(name.lower().replace("-", "_"))


def unknown_field_hint(root: type[BaseModel], loc: Sequence[int | str], data: Any) -> str:
    """What to say after ``unknown field`` at ``loc``: ``; did you mean `X`?`` when a field
    of that model is close, else where a field of that name is written, if anywhere."""
    if not loc or not isinstance(loc[-1], str):
        return ""
    name = loc[-1]
    models = model_at(root, loc[:-1], data)
    known = sorted({f for m in models for f in written_fields(m)})
    close = did_you_mean(name, known)
    if close is not None:
        return f"; did you mean `{close}`?"
    elsewhere = [
        _join(place.path, name) + (f" ({place.tag})" if place.tag else "")
        for place in field_places(root)
        if place.model not in models and name in written_fields(place.model)
    ]
    if elsewhere:
        shown = ", ".join(elsewhere[:4]) + (", …" if len(elsewhere) > 4 else "")
        return f"; `{name}` is written at {shown}"
    return ""
