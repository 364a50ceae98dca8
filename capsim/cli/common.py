"""What every ``capsim`` command shares: exit codes, argument types, input errors, and
the optional extras a command may need.

Exit codes: 0 success; 1 a check or verdict failed; 2 bad input (one line naming file,
field and value), or an extra the command needs is not installed; 130 an interrupted
``capsim live metrics-server`` (its rows are kept).
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable

from capsim.units import parse_duration_s

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "EXTRAS",
    "Handler",
    "InputError",
    "MissingExtraError",
    "duration_arg",
    "missing_extra",
    "require_extra",
    "tolerance_arg",
]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]

# Optional modules → the extra that installs them (pyproject.toml's optional-dependencies).
EXTRAS = {
    "kubernetes": "kube",
    "kubernetes_validate": "kube",
    "jsonschema": "kube",
    "dask": "dist",
    "distributed": "dist",
    "pyarrow": "parquet",
}


class InputError(Exception):
    """Bad input found by the CLI itself (one line, exit 2)."""


class MissingExtraError(InputError):
    """A command needs an optional extra that is not installed (one line, exit 2)."""


def _extra_message(module: str, feature: str) -> str:
    extra = EXTRAS[module]
    return (
        f"{feature} needs the {extra} extra ({module} is not installed): "
        f"pip install 'capsim[{extra}]'"
    )


def require_extra(module: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(_extra_message(module, feature))


def missing_extra(error: ModuleNotFoundError, feature: str) -> str | None:
    """The one-line message for an import of an optional module that failed, or None
    when the missing module is not one an extra installs."""
    module = (error.name or "").split(".")[0]
    return _extra_message(module, feature) if module in EXTRAS else None


def duration_arg(text: str) -> float:
    """An argparse type: a duration (``90s``, ``1h30m``, ``600``) in seconds."""
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tolerance_arg(text: str) -> float:
    """An argparse type: a number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value
