"""Package attributes that import their module on first use (PEP 562), so that importing
a package stays light until one of its names is used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["load_attribute"]


def load_attribute(
    package: str, namespace: MutableMapping[str, Any], modules: Mapping[str, str], name: str
) -> Any:
    """``name`` of ``package`` from its module in ``modules`` (name → module), cached in
    the package's ``namespace``; AttributeError for any other name."""
    if name not in modules:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(modules[name]), name)
    namespace[name] = value
    return value
