"""The single-instance lock: one ``run``, ``once`` or ``transcribe`` per state folder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dropscribe.core.errors import DropscribeError

# The lock file in the state folder; it holds the pid of the process that has the lock.
LOCK_FILE = "lock"


class StateLock:
    """An exclusive ``flock`` on ``<state_dir>/lock``, held while a process may run jobs.

    The file holds the holder's pid, for ``status``. The kernel drops the lock when the process
    ends, however it ends, so a crash leaves no stale lock.
    """

    def __init__(self, state_dir: Path) -> None:
        """Take the lock. Raise AlreadyRunning if another process holds it."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(self._fd)
            os.close(self._fd)
            raise AlreadyRunning(state_dir, holder) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Give the lock up (closing the file drops it)."""
        os.close(self._fd)


class AlreadyRunning(DropscribeError):
    """Another dropscribe process works on the same state folder."""

    def __init__(self, state_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{who} already works on {state_dir} (a `dropscribe run`, `once` or `transcribe`); "
            "stop it first, or use `dropscribe status` beside it"
        )
        self.pid = pid


def read_holder(fd: int) -> int | None:
    """Return the pid written in an open lock file, or None."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def lock_holder(state_dir: Path) -> int | None:
    """Return the pid of the process holding the state folder's lock (0 if its pid is not
    known), or None when no process holds it. Takes nothing."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(fd) or 0
    else:
        return None
    finally:
        os.close(fd)  # also drops the shared lock, if this took it
