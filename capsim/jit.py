"""Compiling the pure models with Numba where it is installed (the ``fast`` extra).

The models (:mod:`capsim.models`) are written in the subset of Python that Numba compiles
but never import it. :func:`compile_family` compiles a family of such functions that
call one another: each gets a namespace in which the others are compiled too (Numba
needs a compiled callee). Without Numba the functions are returned as they are: the same
results, bit for bit, only slower.
"""

from __future__ import annotations

import importlib.util
import os
import types
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["COMPILED", "compile_family", "forget_stale_cache", "jit"]

COMPILED = importlib.util.find_spec("numba") is not None and os.environ.get(
    "NUMBA_DISABLE_JIT", "0"
).strip() in ("", "0")
"""Whether Numba is installed (and not switched off with ``NUMBA_DISABLE_JIT=1``), so
that :func:`jit` and :func:`compile_family` compile; callers that pick a plain-Python
path over a compiled one ask this, so the switch behaves as an install without Numba."""


def jit(function: Callable[..., Any], *, inline: bool = False) -> Callable[..., Any]:
    """``numba.njit(cache=True)(function)``, or ``function`` itself without Numba;
    ``inline`` compiles it into its callers (no call overhead in hot loops)."""
    if not COMPILED:
        return function
    import numba

    options: dict[str, Any] = {"cache": True}
    if inline:
        options["inline"] = "always"
    compiled: Callable[..., Any] = numba.njit(**options)(function)
    return compiled


def compile_family(
    namespace: dict[str, Any], names: Sequence[str], inline: Sequence[str] = ()
) -> dict[str, Callable[..., Any]]:
    """Compile the functions ``names`` of a module (its ``globals()``) so that each calls
    the compiled others; returns name → callable. Those also in ``inline`` are compiled
    into their callers. The module itself is left untouched."""
    if not COMPILED:
        return {name: namespace[name] for name in names}
    shared = dict(namespace)
    compiled: dict[str, Callable[..., Any]] = {}
    for name in names:
        original = namespace[name]
        copy = types.FunctionType(
            original.__code__, shared, name, original.__defaults__, original.__closure__
        )
        copy.__qualname__ = original.__qualname__
        copy.__module__ = original.__module__
        compiled[name] = jit(copy, inline=name in inline)
        shared[name] = compiled[name]
    return compiled


def forget_stale_cache(module_file: str, *dependencies: str) -> None:
    """Drop Numba's cache of ``module_file``'s functions when a module they call changed.

    Numba keys a cached function on its own source file only: a cached caller keeps the
    machine code of a callee from another module after that module changed. So the
    callers' cache files (``__pycache__/<module>.*.nbi|nbc``, written by Numba for capsim)
    are removed whenever the SHA-256 of the ``dependencies``' sources differs from the one
    recorded beside them. Best effort: a read-only install (whose files never change)
    is left alone.
    """
    if not COMPILED:
        return
    import hashlib
    from pathlib import Path

    source = Path(module_file)
    cache = source.parent / "__pycache__"
    digest = hashlib.sha256()
    for path in dependencies:
        digest.update(Path(path).read_bytes())
    stamp = cache / f"{source.stem}.deps-sha256"
    try:
        if stamp.read_text(encoding="ascii") == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for old in (*cache.glob(f"{source.stem}.*.nbi"), *cache.glob(f"{source.stem}.*.nbc")):
            old.unlink()
        stamp.write_text(digest.hexdigest(), encoding="ascii")
    except OSError:
        return
