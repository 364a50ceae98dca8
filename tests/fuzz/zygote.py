"""A fork server for the fuzz suite: imports capsim's heavy dependencies once, then runs
each ``python -m capsim ARGV`` request in a forked child, as the interpreter would.

Started by :mod:`harness` as ``python zygote.py`` (the project's interpreter). Requests
and answers are JSON lines on stdin/stdout::

    → {"argv": [...], "cwd": "...", "env": {...}, "stdout": PATH, "stderr": PATH,
       "timeout_s": 30, "memory_bytes": 3221225472}
    ← {"returncode": 2, "elapsed_s": 0.08}       (returncode null: killed at the time cap)

The child does what ``python -m capsim`` does after start-up: its own session (the time
cap kills its process group), the address-space cap, the working directory, exactly the
given environment, stdin from /dev/null, stdout and stderr to the given files, then
``runpy.run_module("capsim", run_name="__main__")``. An uncaught exception prints its
traceback and exits 1 as the interpreter does; ``SystemExit`` gives the exit code; atexit
handlers run before the child exits. Saves the ~1 s of imports per case; the harness runs
a few cases as plain subprocesses too, so the real start-up is covered.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any


def _preload() -> None:
    """What nearly every command imports (the child inherits it, already initialised)."""
    import numpy
    import pandas
    import pydantic
    import yaml

    import capsim
    import capsim.cli.main
    import capsim.scenario

    del numpy, pandas, pydantic, yaml, capsim
    for optional in ("kubernetes.client", "kubernetes.config", "pyarrow.parquet"):
        with contextlib.suppress(ImportError):
            __import__(optional)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any]) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.setsid()
        memory = int(request["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, key in ((1, "stdout"), (2, "stderr")):
            target = os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        import tempfile

        tempfile.tempdir = None  # TMPDIR is the case's
        sys.argv = ["capsim", *request["argv"]]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import runpy

        try:
            runpy.run_module("capsim", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:
            traceback.print_exc()
            code = 1
        try:
            atexit._run_exitfuncs()
        except BaseException:
            traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
    finally:
        os._exit(code)


def _wait(pid: int, timeout_s: float) -> int | None:
    deadline = time.monotonic() + timeout_s
    pause = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def main() -> None:
    _preload()
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        out.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        code = _wait(pid, float(request["timeout_s"]))
        # Dask workers and the like left behind in the child's session
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        answer = {"returncode": code, "elapsed_s": time.monotonic() - started}
        print(json.dumps(answer), file=out, flush=True)


if __name__ == "__main__":
    main()
