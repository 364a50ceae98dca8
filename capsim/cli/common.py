"""What every ``capsim`` command shares: exit codes, argument types, input errors, and
the optional extras a command may need.

Exit codes (the README's table says the same):

- 0 success;
- 1 a check or verdict failed (``validate``, ``recommend``);
- 2 bad input, files, network or environment: one line on stderr naming the file or URL,
  the field and the value; also an extra the command needs that is not installed;
- 3 an internal error, a bug in capsim: one line saying so (``--debug`` shows the
  traceback);
- 130 interrupted (SIGINT, Ctrl-C) and 143 terminated (SIGTERM): no traceback, an existing
  report left as it was, no staging folder left behind (``live metrics-server`` keeps the
  rows it recorded);
- 141 stdout closed early (``capsim hpa explain ... | head``): nothing more is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from collections.abc import Callable

from capsim.units import parse_duration_s

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BROKEN_PIPE",
    "EXIT_BUG",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXTRAS",
    "Handler",
    "InputError",
    "MissingExtraError",
    "Terminated",
    "duration_arg",
    "missing_extra",
    "number_arg",
    "positive_duration_arg",
    "require_extra",
    "seed_arg",
    "stage_notes",
    "tolerance_arg",
    "watching",
]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143

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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks and staging-folder
    clean-ups run as they do for Ctrl-C (a ``BaseException``: no ``except Exception``
    swallows it)."""


def watching() -> bool:
    """Whether someone watches stderr (a terminal): progress and stage notes go there
    only then, so pipes, files and tests get nothing but results and errors."""
    import sys

    return sys.stderr.isatty()


def stage_notes() -> Callable[[str], None] | None:
    """A printer of stage notes (``capsim: screening 127 HPAs…``) on stderr when it is a
    terminal (:func:`watching`), else None."""
    import sys

    if not watching():
        return None

    def note(text: str) -> None:
        print(f"capsim: {text}…", file=sys.stderr, flush=True)

    return note


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
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def positive_duration_arg(text: str) -> float:
    """An argparse type: a duration (``90s``, ``2h``, ``600``), finite and > 0 seconds."""
    seconds = duration_arg(text)
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(f"must be a duration > 0, got {text!r}")
    return seconds


MAX_SEED = 2**63 - 1


def seed_arg(text: str) -> int:
    """An argparse type: a seed, a whole number from 0 to 2**63 - 1 (NumPy's
    ``SeedSequence`` takes no negative entropy)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be 0 to 2**63 - 1, got {text!r}")
    return value


def number_arg(
    low: float,
    high: float,
    *,
    low_open: bool = False,
    whole: bool = False,
) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``), a whole number with ``whole``; the error names the bounds and the text
    (argparse adds the flag)."""
    left = "(" if low_open else "["

    def parse(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        inside = (low < value if low_open else low <= value) and value <= high
        if not (math.isfinite(value) and inside):
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}], got {text!r}")
        return value

    return parse
