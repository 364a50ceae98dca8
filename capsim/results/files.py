"""Writing files so that nothing is ever half-written: a file or a folder appears whole
(written beside its target, synced, then renamed into place) or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

__all__ = ["fsync_dir", "replace_file", "replace_folder", "write_durably"]


def write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside, then removed."""
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
