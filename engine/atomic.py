"""Atomic file writes: a temp file in the same directory, fsync, rename, fsync the directory.

A reader (or a process killed half-way) sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "fsync_dir", "PRIVATE", "PUBLIC"]

PRIVATE = 0o600  # keys, the account database, anything with a secret in it
PUBLIC = 0o644


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str, mode: int = PRIVATE, *, sync_dir: bool = True
) -> Path:
    """Replace `path` with `data` atomically; the file is created with `mode` from the start,
    so a secret is never readable by others, not even for a moment.

    sync_dir=False leaves the directory's fsync to the caller, who writes several files and
    then calls `fsync_dir` once.
    """
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(target.parent)
    return target


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the renames in `directory` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename is done anyway
    finally:
        os.close(fd)
