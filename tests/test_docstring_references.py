"""Docstrings keep their cross-references true: every ``:mod:``, ``:class:``, ``:func:``,
``:meth:``, ``:data:`` or ``:attr:`` reference to a ``capsim`` name resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r":(?:mod|class|func|meth|data|attr|exc):`~?(capsim(?:\.\w+)+)`")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_capsim_reference_in_a_docstring_resolves() -> None:
    references: dict[str, set[str]] = {}
    for path in sorted((ROOT / "capsim").rglob("*.py")):
        text = " ".join(path.read_text(encoding="utf-8").split())  # references may wrap
        for dotted in REFERENCE.findall(text.replace(". ", ".")):
            references.setdefault(dotted, set()).add(str(path.relative_to(ROOT)))
    assert len(references) > 30
    broken = {ref: sorted(files) for ref, files in references.items() if not _resolves(ref)}
    assert broken == {}
