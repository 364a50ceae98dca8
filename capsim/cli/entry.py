"""The ``capsim`` console script and ``python -m capsim``: signal handling first.

While capsim is still importing, SIGINT and SIGTERM are only noted (raising inside
Python's import machinery prints an "Exception ignored … KeyboardInterrupt" traceback of
its own); once the imports are done a noted signal ends capsim with one line and exit
130 / 143. From then on SIGINT is Python's ``KeyboardInterrupt`` and SIGTERM raises
:class:`~capsim.cli.common.Terminated`, so clean-ups run and :func:`capsim.cli.main.main`
reports them. Once the command is over both are ignored while the interpreter shuts
down, so capsim exits with the command's code. Only the standard library and the small
:mod:`capsim.cli.common` are imported before the handlers are in place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

__all__ = ["console_main"]

_noted: list[int] = []


def _note(signum: int, frame: FrameType | None) -> None:
    _noted.append(signum)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    from capsim.cli.common import Terminated

    raise Terminated


def console_main() -> None:
    """Console-script entry point: exit with :func:`capsim.cli.main.main`'s code."""
    signal.signal(signal.SIGINT, _note)
    signal.signal(signal.SIGTERM, _note)
    from capsim.cli.common import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
    from capsim.cli.main import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    if _noted:
        terminated = signal.SIGTERM in _noted
        print(
            f"capsim: error: {'terminated' if terminated else 'interrupted'} while starting",
            file=sys.stderr,
        )
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    try:
        code = main()
        _ignore_signals()
    except KeyboardInterrupt:  # signalled between the command's end and the line above
        code = EXIT_INTERRUPTED
    except Terminated:
        code = EXIT_TERMINATED
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """Exit with ``code`` at once, the standard streams flushed. After an interrupt,
    CPython may end the process with SIGINT itself at shutdown whatever the exit code
    (its "unhandled KeyboardInterrupt" flag, set when the interrupt passed through C-level
    code run by ``PyRun_*``, even though capsim handled it): observed as exit -2 after
    "capsim: error: interrupted" about once in 40 runs. The command has said everything
    and cleaned up by now, so nothing is lost by skipping the shutdown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _ignore_signals() -> None:
    """Once the command is over (its output complete or refused), SIGINT and SIGTERM
    are ignored while the interpreter shuts down: Python resets its own handlers to the
    default action then, and a signal in that window (long with Numba loaded) would
    kill the process instead of letting it exit with the command's code. An ignored
    signal is left ignored by the shutdown."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
