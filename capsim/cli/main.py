"""The ``capsim`` command: the composition root that wires parsers, maths and output.

One module per command group: :mod:`.run` (``run``, ``compare``, ``scenarios``),
:mod:`.hpa` (``hpa explain``), :mod:`.validate` (``validate``, ``recommend``),
:mod:`.sweep`, :mod:`.deploy` (``deploy emit|apply``), :mod:`.live` (``live
prometheus|compare|metrics-server|snapshot``) and :mod:`.schema` (``schema``, ``init``).
Each parser names its handler; this module parses, calls it and turns errors into exit
codes (:mod:`.common`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

import capsim
from capsim.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Handler,
    InputError,
    MissingExtraError,
    Terminated,
    missing_extra,
)
from capsim.cli.deploy import add_deploy_parser
from capsim.cli.hpa import add_hpa_parser
from capsim.cli.live import add_live_parser
from capsim.cli.run import add_run_parsers
from capsim.cli.schema import add_schema_parsers
from capsim.cli.sweep import add_sweep_parser
from capsim.cli.validate import add_validate_parsers

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``capsim: error: capsim run: argument --seed: …``
    (argparse's own prints the usage first, over several lines). Sub-command parsers are
    of this class too (``add_subparsers`` uses the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"capsim: error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="capsim",
        description="Capacity and autoscaling simulator: Kubernetes HPA (exact autoscaling/v2 "
        "semantics) and VM autoscaling groups.",
        epilog="Exit codes: 0 ok; 1 a check failed; 2 bad input, file, network or "
        "environment (one line); 3 a bug in capsim (--debug shows the traceback); "
        "130 interrupted; 141 stdout closed early (| head); 143 terminated. Commands that "
        "print results take -o/--output table|json|yaml (and csv for tables).",
    )
    parser.add_argument("--version", action="version", version=f"capsim {capsim.__version__}")
    parser.add_argument(
        "--debug", dest="debug_all", action="store_true", help="show tracebacks on errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_hpa_parser(commands)
    add_run_parsers(commands)
    add_sweep_parser(commands)
    add_validate_parsers(commands)
    add_deploy_parser(commands)
    add_live_parser(commands)
    add_schema_parsers(commands)
    return parser


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def redact(text: str) -> str:
    """``http://user:secret@host`` → ``http://***@host``: no credential of a URL is ever
    printed, whatever code put the URL into the message."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message is joined), redacted."""
    parts = [line.strip() for line in str(error).splitlines() if line.strip()]
    return redact(" ".join(parts) or type(error).__name__)


def _os_error_message(error: OSError) -> str:
    """``[Errno 28] No space left on device`` → ``reports/x/a.csv: no space left on device``."""
    where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f is not None)
    reason = error.strerror or one_line(error)
    return redact(f"{where}: {reason}" if where else reason)


def _raised_by_capsim(error: BaseException) -> bool:
    """Whether the innermost frame that raised ``error`` is capsim's own code (a
    ``ValueError`` capsim raises is a message about input; one from NumPy deep inside a
    computation is a bug)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module == "capsim" or module.startswith("capsim.")


def _is_input_error(error: BaseException) -> bool:
    """Errors about input, files, the network or the environment (exit 2): capsim's own
    error types, a ``ValueError`` capsim raised, a pydantic validation error (its first
    problem is shown) and ``OSError``."""
    if isinstance(error, InputError | OSError | MemoryError):
        return True
    if isinstance(error, ValueError):
        defined_in = type(error).__module__
        return (
            defined_in.startswith("capsim.")
            or defined_in.startswith("pydantic")
            or _raised_by_capsim(error)
        )
    return type(error).__module__.startswith("capsim.") and type(error).__name__.endswith("Error")


def _input_message(error: BaseException) -> str:
    if isinstance(error, OSError):
        return _os_error_message(error)
    if isinstance(error, MemoryError):
        return (
            "not enough memory for this run on this machine; shorten the duration, "
            "coarsen tick/record_every or run fewer workloads"
        )
    if type(error).__module__.startswith("pydantic"):
        from pydantic import ValidationError

        from capsim.scenario.parsing import validation_message

        if isinstance(error, ValidationError):
            return redact(validation_message(error.title, error))
    from capsim.scenario.base import ScenarioError

    lines = str(error).splitlines()
    if isinstance(error, ScenarioError) and all(x.startswith("  ") for x in lines[1:]):
        # A scenario's every problem: the first on this line, the others listed under it.
        return "\n".join(redact(line) for line in lines)
    return one_line(error)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr itself gone: nothing more to say
        print(f"capsim: error: {message}", file=sys.stderr)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs in the main thread, SIGTERM raises :class:`Terminated`, so
    clean-ups run as for Ctrl-C; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush
    does not fail again with another message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``capsim`` command; returns the exit code (see :mod:`capsim.cli.common`)."""
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        _say("interrupted while starting")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("terminated while starting")
        return EXIT_TERMINATED
    debug = bool(getattr(args, "debug", False) or getattr(args, "debug_all", False))
    handler: Handler = args.handler
    try:
        with _sigterm_raises():
            return handler(args)
    except KeyboardInterrupt:
        _say("interrupted (nothing half-written was left behind)")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("terminated (nothing half-written was left behind)")
        return EXIT_TERMINATED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except MissingExtraError as exc:  # one line, even with --debug: nothing to debug
        _say(str(exc))
        return EXIT_BAD_INPUT
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, f"capsim {args.command}")
        if message is None:
            return _bug(exc, debug)
        _say(message)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not _is_input_error(exc):
            return _bug(exc, debug)
        if debug:
            traceback.print_exc()
        _say(_input_message(exc))
        return EXIT_BAD_INPUT


def _bug(error: BaseException, debug: bool) -> int:
    """An unexpected error: capsim's fault, not the user's (exit 3)."""
    if debug:
        traceback.print_exception(error)
    hint = (
        "please report it with the traceback above"
        if debug
        else ("please rerun with --debug and report it with the traceback")
    )
    _say(
        f"internal error, a bug in capsim {capsim.__version__} "
        f"({type(error).__name__}: {one_line(error)}); {hint}"
    )
    return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover - the console script is capsim.cli.entry
    sys.exit(main())
