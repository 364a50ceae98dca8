"""The fuzz suite's harness: run ``python -m capsim ...`` on hostile input, in a subprocess,
under a wall-clock and an address-space cap, in a throw-away workspace, and check capsim's
promise (issue 14):

* the exit code is one the case allows: 2 for bad input, 0/1 for valid input; never 3 (an
  internal bug), never killed by a signal, never past the time cap;
* exit 2 prints exactly one non-empty line on stderr, starting ``capsim: error:`` (and,
  when the case says so, naming the file, URL or flag that is wrong);
* no ``Traceback`` and no Python warning (``RuntimeWarning: …``) anywhere in the output;
* no file outside what the command was asked to write changed: the workspace holds a
  home-like folder of user files (files, a folder, symlinks) and the case's own inputs, and
  each is compared before and after (existence, type, content hash, mtime, mode, link
  target);
* no secret the case names appears in stdout, stderr or any file written.

Workspace (one per case, under the system temp folder)::

    ROOT/home/   HOME: notes.txt, projects/{a.txt, sub/b.txt}, links to both
    ROOT/work/   the working directory: keep.txt and the case's inputs (setup)
    ROOT/tmp/    TMPDIR, XDG_* (not compared: caches and scratch space)

Cases run in a fork server (:mod:`zygote`: the project's interpreter with capsim's heavy
imports done once; each case is a forked child running ``python -m capsim``'s
``__main__``), which saves ~1 s of start-up per case; cases marked ``fresh`` (and every
case when ``CAPSIM_FUZZ_MODE=subprocess``) run as plain ``python -m capsim`` subprocesses
of ``sys.executable``. Both apply the same caps, working directory and environment. A
module's cases are started two at a time ahead of the tests that check them
(:class:`Runner`).

Placeholders in a case's argv and ``names`` (``str.format``): ``{root}``, ``{home}``,
``{work}``, ``{data}`` (capsim's bundled data folder) and, from
:mod:`hostile_server`, ``{prom}``, ``{api}``, ``{recorder}``, ``{closed}``
(host:port of each).
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import hashlib
import json
import os
import queue
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from capsim.data import DATA_DIR

MEMORY_CAP_BYTES = 3 * 2**30
"""Address-space cap of every capsim process (Numba/LLVM and pandas start well under it:
a full ``capsim run web-diurnal`` runs under it)."""
DEFAULT_TIMEOUT_S = 30.0
WORKERS = int(os.environ.get("CAPSIM_FUZZ_WORKERS", "2"))
MODE = os.environ.get("CAPSIM_FUZZ_MODE", "fork")  # or "subprocess"

BAD_INPUT = frozenset({2})
VALID = frozenset({0, 1})
VALID_OR_REFUSED = frozenset({0, 1, 2})
EXIT_BUG = 3

ERROR_PREFIX = "capsim: error: "
_WARNING = re.compile(r"\b[A-Z]\w*Warning\b: ")  # RuntimeWarning: …, UserWarning: …
_FORBIDDEN = ("Traceback (most recent call last)", "Exception ignored in")

USER_FILES = {
    "home/notes.txt": "my notes: do not lose\n",
    "home/projects/a.txt": "project a\n",
    "home/projects/sub/b.txt": "project b\n",
    "home/.kube/README": "no kubeconfig here on purpose\n",
    "work/keep.txt": "a file in the working directory\n",
}
USER_LINKS = {"home/notes-link": "notes.txt", "home/projects-link": "projects"}


@dataclass
class Workspace:
    """A case's folders; ``setup`` functions create inputs with these helpers."""

    root: Path
    values: dict[str, str] = field(default_factory=dict)
    _locked: list[Path] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def path(self, relative: str) -> Path:
        """A path below the working directory."""
        return self.work / relative

    def write(self, relative: str, content: str | bytes) -> Path:
        """Write a file below the working directory (folders made as needed)."""
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def write_yaml(self, relative: str, data: Any) -> Path:
        return self.write(relative, yaml.safe_dump(data, sort_keys=False))

    def copy(self, source: Path, relative: str) -> Path:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        return target

    def read_only(self, path: Path) -> None:
        """Make a folder unwritable, also for root (``chattr +i``; undone at cleanup)."""
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        self._locked.append(path)

    def unlock(self) -> None:
        for path in self._locked:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
            with contextlib.suppress(OSError):
                path.chmod(0o755)


Setup = Callable[[Workspace], None]


@dataclass(frozen=True)
class Outcome:
    """What one capsim process did."""

    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the time cap
    stdout: str
    stderr: str
    elapsed_s: float
    changes: tuple[str, ...]  # user files changed that the case did not allow
    written: Mapping[str, bytes]  # files created or changed (relative to the root)
    root: Path
    values: Mapping[str, str]

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        first = self.error_lines[0] if self.error_lines else "(stderr empty)"
        tail = self.stderr[-1500:] if len(self.stderr) > 1500 else self.stderr
        return (
            f"capsim {' '.join(self.argv)}\n  exit {self.returncode} after "
            f"{self.elapsed_s:.1f} s; first stderr line: {first}\n  stderr:\n{tail}"
            f"\n  stdout (end): {self.stdout[-600:]}"
        )


@dataclass(frozen=True)
class Case:
    """One hostile input for one command and what capsim may do with it.

    ``writes``: glob patterns (relative to the workspace root, e.g. ``work/out/**``) of
    paths the command may create or change; everything else must stay as it was.
    ``names``: for exit 2, the error line contains every one of these (the file, the field;
    ``a|b``: either; with ``listing``, the error line or the problems listed under it).
    ``listing``: exit 2 may list problems on further lines indented by two spaces
    (``deploy emit`` lists every problem of the manifests it refuses; a scenario file with
    several mistakes lists each after the first).
    ``check``: extra assertions on the outcome.
    """

    id: str
    argv: tuple[str, ...]
    expect: frozenset[int]
    setup: Setup | None = None
    writes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    listing: bool = False
    secrets: tuple[str, ...] = ()
    check: Callable[[Outcome], None] | None = None
    env: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()  # importable modules (extras) the case needs, else skipped
    fresh: bool = False  # run as a plain `python -m capsim` subprocess, not in the zygote


def case(
    id: str,
    argv: Sequence[str],
    expect: Iterable[int],
    setup: Setup | None = None,
    **options: Any,
) -> Case:
    """A :class:`Case` from lists (tuples are what a frozen dataclass keeps)."""
    for key in ("writes", "names", "secrets", "needs"):
        if key in options:
            options[key] = tuple(options[key])
    return Case(id, tuple(argv), frozenset(expect), setup, **options)


def ids(cases: Sequence[Case]) -> list[str]:
    return [c.id for c in cases]


# --- the workspace ---------------------------------------------------------------------------


def _make_workspace(values: Mapping[str, str]) -> Workspace:
    root = Path(tempfile.mkdtemp(prefix="capsim-fuzz-"))
    space = Workspace(root)
    for relative, text in USER_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for relative, target in USER_LINKS.items():
        (root / relative).symlink_to(target)
    for folder in ("tmp", "tmp/xdg-config", "tmp/xdg-cache", "tmp/mpl"):
        (root / folder).mkdir(exist_ok=True)
    space.values.update(values)
    space.values.update(
        root=str(root), home=str(space.home), work=str(space.work), data=str(DATA_DIR)
    )
    return space


def _entry(path: Path) -> tuple[Any, ...]:
    info = path.lstat()
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(mode):
        return ("dir", stat.S_IMODE(mode))
    if stat.S_ISREG(mode):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return ("file", digest, info.st_size, info.st_mtime_ns, stat.S_IMODE(mode))
    return ("other", stat.S_IFMT(mode), info.st_mtime_ns)


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry below ``root/home`` and ``root/work`` (symlinks not followed)."""
    found: dict[str, tuple[Any, ...]] = {}
    for top in ("home", "work"):
        base = root / top
        if not base.exists():
            continue
        found[top] = _entry(base)
        for folder, dirs, files in os.walk(base, followlinks=False):
            for name in [*dirs, *files]:
                path = Path(folder) / name
                with contextlib.suppress(OSError):
                    found[str(path.relative_to(root))] = _entry(path)
    return found


def _allowed(relative: str, patterns: Sequence[str]) -> bool:
    """``relative`` matches a pattern, or is a folder above a path a pattern allows."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(relative, pattern):
            return True
        if pattern.startswith(relative + "/"):  # the parent folders of an allowed output
            return True
    return False


def compare(
    before: Mapping[str, tuple[Any, ...]],
    after: Mapping[str, tuple[Any, ...]],
    writes: Sequence[str],
) -> list[str]:
    """The changes not allowed by ``writes``, one line each."""
    problems = []
    for relative in sorted(set(before) | set(after)):
        old, new = before.get(relative), after.get(relative)
        if old == new or _allowed(relative, writes):
            continue
        if old is None:
            problems.append(f"created {relative} ({new[0] if new else '?'})")
        elif new is None:
            problems.append(f"deleted {relative} (was a {old[0]})")
        else:
            problems.append(f"changed {relative}: {old[0]} → {new}")
    return problems


def _written(
    root: Path, before: Mapping[str, tuple[Any, ...]], after: Mapping[str, tuple[Any, ...]]
) -> dict[str, bytes]:
    out = {}
    for relative, entry in after.items():
        if entry[0] == "file" and before.get(relative) != entry:
            with contextlib.suppress(OSError):
                out[relative] = (root / relative).read_bytes()
    return out


# --- one process -------------------------------------------------------------------------------


def _limits() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()  # its own process group: the time cap kills Dask workers too


def environment(space: Workspace, extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """A clean environment: HOME is the workspace's, no proxies, no kubeconfig."""
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    tmp = space.root / "tmp"
    env.update(
        HOME=str(space.home),
        TMPDIR=str(tmp),
        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),
        MPLCONFIGDIR=_shared_mpl_dir(),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONIOENCODING="utf-8",
        COLUMNS="100",
    )
    env.update({k: v.format_map(space.values) for k, v in extra})
    return env


_MPL_DIR: list[str] = []


def _shared_mpl_dir() -> str:
    """One matplotlib cache for the session (its font cache takes seconds to build)."""
    if not _MPL_DIR:
        _MPL_DIR.append(tempfile.mkdtemp(prefix="capsim-fuzz-mpl-"))
        atexit.register(shutil.rmtree, _MPL_DIR[0], True)
    return _MPL_DIR[0]


def run_capsim(
    argv: Sequence[str],
    space: Workspace,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Iterable[tuple[str, str]] = (),
) -> tuple[int | None, str, str, float]:
    """``python -m capsim *argv`` in ``space.work``; (exit code or None at the time cap,
    stdout, stderr, seconds)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "capsim", *argv],
        cwd=space.work,
        env=environment(space, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits,
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        code = None
    with contextlib.suppress(ProcessLookupError):  # Dask workers and such left behind
        os.killpg(process.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    return (
        code,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        elapsed,
    )


class Zygote:
    """One fork server (:mod:`zygote`) process; one request at a time."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
        env.update(PYTHONIOENCODING="utf-8", MPLCONFIGDIR=_shared_mpl_dir())
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("zygote.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        if not ready.strip().startswith('{"ready"'):
            raise RuntimeError(f"the fuzz fork server did not start: {ready!r}")

    def run(
        self, argv: Sequence[str], space: Workspace, timeout_s: float, env: dict[str, str]
    ) -> tuple[int | None, str, str, float]:
        out, err = space.root / "tmp" / "capsim.stdout", space.root / "tmp" / "capsim.stderr"
        request = {
            "argv": list(argv),
            "cwd": str(space.work),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
            "timeout_s": timeout_s,
            "memory_bytes": MEMORY_CAP_BYTES,
        }
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        text = [p.read_bytes().decode("utf-8", "replace") if p.exists() else "" for p in (out, err)]
        return answer["returncode"], text[0], text[1], float(answer["elapsed_s"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_ZYGOTES: queue.Queue[Zygote] = queue.Queue()
_ZYGOTES_MADE: list[Zygote] = []
_ZYGOTE_LOCK = threading.Lock()


def _run_in_zygote(
    argv: Sequence[str], space: Workspace, timeout_s: float, env: dict[str, str]
) -> tuple[int | None, str, str, float]:
    try:
        zygote = _ZYGOTES.get_nowait()
    except queue.Empty:
        with _ZYGOTE_LOCK:
            zygote = Zygote()
            _ZYGOTES_MADE.append(zygote)
    try:
        return zygote.run(argv, space, timeout_s, env)
    finally:
        if zygote.alive():
            _ZYGOTES.put(zygote)


def close_zygotes() -> None:
    with _ZYGOTE_LOCK:
        while _ZYGOTES_MADE:
            _ZYGOTES_MADE.pop().close()
        while not _ZYGOTES.empty():
            _ZYGOTES.get_nowait()


atexit.register(close_zygotes)


def execute(the_case: Case, values: Mapping[str, str] | None = None) -> Outcome:
    """Set up a workspace, run the case, compare the user files, clean up."""
    space = _make_workspace(values or {})
    try:
        if the_case.setup is not None:
            the_case.setup(space)
        argv = tuple(arg.format_map(space.values) for arg in the_case.argv)
        before = snapshot(space.root)
        if the_case.fresh or MODE == "subprocess":
            code, out, err, elapsed = run_capsim(
                argv, space, timeout_s=the_case.timeout_s, env=the_case.env
            )
        else:
            environ = environment(space, the_case.env)
            code, out, err, elapsed = _run_in_zygote(argv, space, the_case.timeout_s, environ)
        after = snapshot(space.root)
        writes = [w.format_map(space.values) for w in the_case.writes]
        return Outcome(
            argv=argv,
            returncode=code,
            stdout=out,
            stderr=err,
            elapsed_s=elapsed,
            changes=tuple(compare(before, after, writes)),
            written=_written(space.root, before, after),
            root=space.root,
            values=dict(space.values),
        )
    finally:
        space.unlock()
        shutil.rmtree(space.root, ignore_errors=True)


# --- the promise -------------------------------------------------------------------------------


def promise_problems(the_case: Case, outcome: Outcome) -> list[str]:
    """Every way ``outcome`` breaks capsim's promise for ``the_case`` (empty: kept)."""
    problems = []
    code = outcome.returncode
    if code is None:
        problems.append(f"hung: killed at the {the_case.timeout_s:g} s time cap")
    elif code == EXIT_BUG:
        problems.append("exit 3: capsim reports an internal bug on this input")
    elif code < 0:
        problems.append(f"killed by signal {-code}")
    elif code not in the_case.expect:
        problems.append(f"exit {code}, expected one of {sorted(the_case.expect)}")
    for stream, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        for marker in _FORBIDDEN:
            if marker in text:
                problems.append(f"{stream} has '{marker}'")
        found = _WARNING.search(text)
        if found:
            line = next(x for x in text.splitlines() if found.group(0) in x)
            problems.append(f"{stream} has a Python warning: {line.strip()[:200]}")
    if code == 2:
        lines = outcome.error_lines
        extra = [x for x in lines[1:] if not (the_case.listing and x.startswith("  "))]
        if not lines:
            problems.append("exit 2 with nothing on stderr")
        elif not lines[0].startswith(ERROR_PREFIX):
            problems.append(f"exit 2, but stderr does not start with {ERROR_PREFIX!r}")
        if extra:
            problems.append(f"exit 2 with {len(lines)} lines on stderr, not one")
        names = [n.format_map(outcome.values) for n in the_case.names]
        said = "\n".join(lines) if the_case.listing else (lines[0] if lines else "")
        absent = [n for n in names if not any(part in said for part in n.split("|"))]
        if lines and absent:
            problems.append(f"the error line does not name {absent}")
    if outcome.changes:
        problems.append("user files changed: " + "; ".join(outcome.changes[:6]))
    for secret in the_case.secrets:
        problems.extend(leaks(secret, outcome))
    return problems


def leaks(secret: str, outcome: Outcome) -> list[str]:
    """Where ``secret`` shows: stdout, stderr or a file the command wrote."""
    found = [s for s, t in (("stdout", outcome.stdout), ("stderr", outcome.stderr)) if secret in t]
    found += [path for path, data in outcome.written.items() if secret.encode() in data]
    return [f"the secret {secret[:4]}… appears in {where}" for where in found]


def check(the_case: Case, outcome: Outcome) -> None:
    """Assert the promise (and the case's own check)."""
    problems = promise_problems(the_case, outcome)
    assert not problems, "\n".join([*problems, outcome.describe()])
    if the_case.check is not None:
        the_case.check(outcome)


# --- running a module's cases ahead ---------------------------------------------------------


class Runner:
    """Starts the given cases ``WORKERS`` at a time, in order; :meth:`result` waits for one.

    ``values`` is called once, before the first case, for extra placeholders (servers)."""

    def __init__(
        self, cases: Sequence[Case], values: Callable[[], Mapping[str, str]] | None = None
    ) -> None:
        self._values = dict(values()) if values is not None else {}
        self._pool = ThreadPoolExecutor(max_workers=max(1, WORKERS))
        self._futures: dict[str, Future[Outcome]] = {}
        for each in cases:
            if each.id not in self._futures and not missing_modules(each):
                self._futures[each.id] = self._pool.submit(execute, each, self._values)

    def result(self, the_case: Case) -> Outcome:
        missing = missing_modules(the_case)
        if missing:
            import pytest

            pytest.skip(f"needs {', '.join(missing)} (an optional extra)")
        future = self._futures.get(the_case.id)
        if future is None:
            return execute(the_case, self._values)
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def missing_modules(the_case: Case) -> list[str]:
    import importlib.util

    return [m for m in the_case.needs if importlib.util.find_spec(m) is None]


def selected_cases(request: Any) -> list[Case]:
    """The cases of the requesting module that this pytest session will run (after -k)."""
    chosen = []
    for item in request.session.items:
        if getattr(item, "module", None) is not request.module:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if isinstance(params.get("case"), Case):
            chosen.append(params["case"])
    return chosen


@contextlib.contextmanager
def runner_for(
    request: Any, values: Callable[[], Mapping[str, str]] | None = None
) -> Iterator[Runner]:
    """A :class:`Runner` over the module's selected cases, closed at the end."""
    runner = Runner(selected_cases(request), values)
    try:
        yield runner
    finally:
        runner.close()


# --- what the command line offers ---------------------------------------------------------------


def has_flag(command: Sequence[str], flag: str) -> bool:
    """Whether ``capsim COMMAND...`` takes ``flag`` (read from capsim's own parser)."""
    import argparse

    from capsim.cli.main import build_parser

    parser: argparse.ArgumentParser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return any(flag in action.option_strings for action in parser._actions)


def deadline_flags(command: Sequence[str], seconds: str = "3s") -> list[str]:
    """The overall-deadline flags ``command`` offers (``--timeout``, ``--deadline``), set to
    ``seconds``: hostile servers that never answer must be given up on by then."""
    flags = []
    for flag in ("--timeout", "--deadline"):
        if has_flag(command, flag):
            flags += [flag, seconds]
    return flags
