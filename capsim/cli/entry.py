"""The ``capsim`` console script and ``python -m capsim``: signal handling first.

SIGTERM is turned into :class:`~capsim.cli.common.Terminated` (and SIGINT is Python's
``KeyboardInterrupt``) before anything heavy is imported, so a signal that arrives while
capsim is still starting ends it with exit 143 / 130 and one line, like one that arrives
later, instead of a traceback or a bare kill. Only the standard library and the small
:mod:`capsim.cli.common` are imported here.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["console_main"]


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    from capsim.cli.common import Terminated

    raise Terminated


def console_main() -> None:
    """Console-script entry point: exit with :func:`capsim.cli.main.main`'s code."""
    from capsim.cli.common import EXIT_INTERRUPTED, EXIT_TERMINATED

    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        from capsim.cli.main import main

        code = main()
    except KeyboardInterrupt:
        print("capsim: error: interrupted while starting", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BaseException as exc:
        from capsim.cli.common import Terminated

        if not isinstance(exc, Terminated):
            raise
        print("capsim: error: terminated while starting", file=sys.stderr)
        code = EXIT_TERMINATED
    sys.exit(code)
