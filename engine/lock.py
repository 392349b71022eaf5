"""One writer per account directory.

ICS has no lock at all (two programs on one directory silently overwrite each other's
changes), so certdesk adds one: `.certdesk.lock` in the account directory, held with
``fcntl.flock(LOCK_EX | LOCK_NB)`` for as long as the account is open for changes.

flock belongs to the open file, so the kernel drops it when the holder exits for any
reason, SIGKILL included: a lock left by a dead process is simply taken by the next
`acquire`. The file's content is only a note saying who holds it (pid, host, command
line, since), read to name the holder in `LockedError`; it is cleared on release.
Readers never lock, so `list` and `show` work while a writer holds the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["LOCK_FILE", "AccountLock", "Holder", "LockedError", "read_holder"]

LOCK_FILE = ".certdesk.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds an account directory, as written into the lock file."""

    pid: int
    host: str
    command: str
    since: str  # ISO 8601, local time

    def __str__(self) -> str:
        return f"PID {self.pid} on host {self.host} ({self.command}), since {self.since}"

    @property
    def alive(self) -> bool:
        """Whether the holder still runs (only knowable on the same host)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process
        return True


class LockedError(Exception):
    """The account directory is open for changes in another process."""

    def __init__(self, directory: str | os.PathLike[str], holder: Holder | None) -> None:
        self.directory = Path(directory)
        self.holder = holder
        who = str(holder) if holder else "another process (holder unknown)"
        super().__init__(f"account directory {self.directory} is in use by {who}")


def _me() -> Holder:
    return Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        command=" ".join(sys.argv) or sys.executable,
        since=datetime.now().isoformat(timespec="seconds"),
    )


def _parse_holder(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            command=str(data["command"]),
            since=str(data["since"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def read_holder(directory: str | os.PathLike[str]) -> Holder | None:
    """The current holder of `directory`'s lock, or None when it is free.

    This only reads the note; it never touches the lock itself, so it cannot make a
    concurrent `acquire` fail. A note left by a process that died on this host is
    reported as free (its lock went with it).
    """
    try:
        text = (Path(directory) / LOCK_FILE).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    holder = _parse_holder(text)
    if holder is None or not holder.alive:
        return None
    return holder


class AccountLock:
    """The exclusive lock on one account directory.

    >>> with AccountLock(path):
    ...     ...  # this process is the only writer
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise LockedError naming the holder. Never waits."""
        if self._fd is not None:
            return
        try:
            # O_CLOEXEC (Python's default): install hooks we exec must not inherit the lock.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot create lock file {self.path}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse_holder(_read_fd(fd))
            os.close(fd)
            raise LockedError(self.directory, holder) from None
        except BaseException:
            os.close(fd)
            raise
        note = json.dumps(asdict(_me())).encode("utf-8") + b"\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note, 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # clear the note before the lock goes
        os.close(fd)  # closing the file drops the flock

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def _read_fd(fd: int) -> str:
    try:
        return os.pread(fd, 64 * 1024, 0).decode("utf-8", "replace")
    except OSError:
        return ""
