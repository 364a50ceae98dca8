"""Writing files so that nothing is ever half-written and nothing of the user's is lost.

A file or a folder appears whole (written beside its target, synced, then renamed into
place) or not at all. An output folder (``--out``) is replaced only when capsim wrote it
itself: every folder capsim writes holds a marker file, :data:`OUTPUT_MARKER`, and a path
that is a file, a symbolic link, or a non-empty folder without the marker is refused
(:class:`OutputError`) before any work starts (:func:`check_output_folder`) and again at
the moment of replacing (:func:`publish_folder`).

Two capsim processes writing into one folder at once are serialised by an advisory lock
(``flock``) on the parent folder: the last one wins with a complete folder and neither
leaves anything behind. SIGINT and SIGTERM are held for the few renames of the swap, so an
interrupt leaves the old folder or the new one, whole, and never a staging folder (the
caller's clean-up removes it); a staging folder left by a process that was killed outright
(SIGKILL, power loss) is removed by the next write into the same place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "OUTPUT_MARKER",
    "OutputError",
    "check_output_file",
    "check_output_folder",
    "fsync_dir",
    "new_staging_folder",
    "output_error",
    "output_folder",
    "publish_folder",
    "replace_file",
    "replace_folder",
    "write_durably",
]

OUTPUT_MARKER = ".capsim-output"
"""The file that marks a folder as capsim's own output (safe for capsim to replace)."""

_MARKER_TEXT = (
    "This folder was written by capsim. capsim replaces a folder only when it holds\n"
    "this file; delete the file to protect the folder from being replaced.\n"
)
_STAGING = "capsim-staging"


class OutputError(ValueError):
    """An output path capsim refuses to write (exit 2, one line)."""


def output_error(target: Path, error: OSError, flag: str = "--out") -> OutputError:
    """An ``OSError`` while writing an output (a full disk, a file-size limit, a folder
    gone) as one line naming the output, the file and the reason."""
    where = f" ({Path(error.filename).name})" if error.filename else ""
    reason = error.strerror or str(error) or type(error).__name__
    return OutputError(f"{flag} {target}: cannot write{where}: {reason}; nothing was replaced")


def write_durably(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` and sync it; an ``OSError`` names
    ``path`` even where the system call did not (a failed ``write`` has no file name)."""
    try:
        with path.open("wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes | str) -> None:
    """Write ``path`` all at once: a hidden temporary sibling, then a rename over ``path``,
    so a reader sees the old file or the whole new one, never part of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def replace_folder(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside, then removed.

    Low level: no ownership check (see :func:`publish_folder`)."""
    if not target.exists():
        staging.rename(target)
    else:
        old = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex}")
        target.rename(old)
        try:
            staging.rename(target)
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def _stable_listing(folder: Path, attempts: int = 20) -> set[str] | None:
    """The entries of the folder at ``folder``, or None when there is none.

    Another capsim may be swapping a new folder in at this path while we look (the old one
    is renamed aside, then deleted file by file). A listing counts only when the folder
    listed is still the one at the path afterwards (same inode); otherwise it is taken
    again, so a half-deleted old folder is never mistaken for a folder capsim did not
    write."""
    names: set[str] | None = None
    for _ in range(attempts):
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:
            return None
        try:
            listed = os.fstat(fd).st_ino
            names = set(os.listdir(fd))
        finally:
            os.close(fd)
        try:
            if os.stat(folder).st_ino == listed:
                return names
        except FileNotFoundError:
            return None
    return names


def _refusal(target: Path, flag: str) -> str | None:
    """Why ``target`` may not be replaced by capsim, or None when it may."""
    if target.is_symlink():
        return (
            f"{flag} {target}: is a symbolic link; capsim writes only a new folder, an "
            "empty one, or one it wrote itself: give another path"
        )
    if not target.exists():
        return None
    if not target.is_dir():
        return (
            f"{flag} {target}: exists and is not a folder; capsim never replaces a file "
            "it did not write: give another path"
        )
    try:
        names = _stable_listing(target)
    except OSError as exc:
        return f"{flag} {target}: cannot read the folder: {exc.strerror or exc}"
    if names is None or not names or OUTPUT_MARKER in names:
        return None
    return (
        f"{flag} {target}: a folder capsim did not write (not empty, no {OUTPUT_MARKER} "
        "file); give a new or empty folder, or move this one away yourself"
    )


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _writable_folder(folder: Path) -> bool:
    """Whether this process may change ``folder``'s entries. The folder is opened once and
    asked through its descriptor, so another capsim swapping a new folder in at this path
    meanwhile cannot make the answer about a folder that is gone (a folder gone is fine)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if os.access not in os.supports_dir_fd:  # pragma: no cover - not Linux/BSD
            return os.access(folder, os.W_OK | os.X_OK)
        return os.access(".", os.W_OK | os.X_OK, dir_fd=fd)
    finally:
        os.close(fd)


def check_output_folder(target: Path, flag: str = "--out") -> None:
    """Refuse, before any work, an output path capsim may not or cannot write.

    Allowed: a path that does not exist (its parent folders are created), an empty
    folder, or a folder holding :data:`OUTPUT_MARKER`. Refused with :class:`OutputError`
    (naming ``flag``, the path and what to do): a file, a symbolic link, any other
    folder, and a place where the folder could not be created or replaced (no write
    permission, a read-only file system, a parent that is a file).
    """
    target = Path(target)
    reason = _refusal(target, flag)
    if reason:
        raise OutputError(reason)
    parent = target.parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise OutputError(f"{flag} {target}: {base} is not a folder")
    if base == parent:
        try:
            probe = tempfile.mkdtemp(prefix=f".{target.name}.probe-", dir=parent)
        except OSError as exc:
            raise OutputError(
                f"{flag} {target}: cannot write in {parent}: {exc.strerror or exc}"
            ) from None
        os.rmdir(probe)
    elif not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {target}: cannot create folders in {base}: permission denied")
    if target.is_dir() and not _writable_folder(target):
        raise OutputError(f"{flag} {target}: cannot replace the folder: permission denied")


def check_output_file(path: Path, flag: str, *, force: bool = False) -> None:
    """Refuse, before any work, a single output file capsim may not or cannot write.

    An existing file (or symbolic link) is replaced only with ``force`` (capsim cannot tell
    whether it wrote it: it may hold the user's edits); a folder never. The folder it goes
    in must be writable (it is created when missing). Raises :class:`OutputError`.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"{flag} {path}: is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(
            f"{flag} {path}: the file exists (it may hold your edits); give --force to "
            "replace it or choose another path"
        )
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputError(f"{flag} {path}: {base} is not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: cannot write in {base}: permission denied")


def _remove_stale_staging(parent: Path, name: str) -> None:
    """Remove staging folders of ``name`` whose capsim process no longer runs (killed
    outright); capsim wrote them, so removing them loses nothing."""
    prefix = f".{name}.{_STAGING}-"
    try:
        entries = [e for e in parent.iterdir() if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid_text = entry.name.removeprefix(prefix).split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def new_staging_folder(target: Path, flag: str = "--out") -> Path:
    """A fresh hidden folder beside ``target`` to write the output into, then to
    :func:`publish_folder`. Checks ``target`` first (:func:`check_output_folder`). The
    caller removes it if anything fails before publishing."""
    target = Path(target)
    check_output_folder(target, flag)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target.parent, target.name)
    staging = target.with_name(f".{target.name}.{_STAGING}-{os.getpid()}-{uuid.uuid4().hex}")
    staging.mkdir()
    return staging


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (POSIX ``flock`` on the folder itself: no
    lock file to leave behind); a no-op where that is not possible."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (delivered right after) for a few renames."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def publish_folder(staging: Path, target: Path, flag: str = "--out") -> None:
    """Mark ``staging`` as capsim's output and put it in place of ``target``.

    Under the parent folder's lock and with SIGINT/SIGTERM held, ``target`` is checked
    again (another program may have put something there since the work started) and
    replaced. On any failure ``staging`` is left for the caller to remove and an
    existing ``target`` is as it was.
    """
    target = Path(target)
    write_durably(staging / OUTPUT_MARKER, _MARKER_TEXT.encode("utf-8"))
    fsync_dir(staging)
    with _locked(target.parent), _signals_held():
        reason = _refusal(target, flag)
        if reason:
            raise OutputError(reason)
        replace_folder(staging, target)


@contextlib.contextmanager
def output_folder(target: Path, flag: str = "--out") -> Iterator[Path]:
    """``with output_folder(out) as staging:`` write the files into ``staging``; on leaving
    the block the folder replaces ``out`` whole (:func:`publish_folder`). ``out`` is
    checked first (:func:`check_output_folder`). On any error nothing is replaced and no
    staging folder is left; an ``OSError`` (a full disk, a file-size limit) becomes one
    :class:`OutputError` naming ``flag``, ``out`` and the file."""
    target = Path(target)
    staging = new_staging_folder(target, flag)
    try:
        yield staging
        publish_folder(staging, target, flag)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise output_error(target, exc, flag) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
