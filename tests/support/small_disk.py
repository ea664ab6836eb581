"""A small filesystem of its own for a test, and a way to fill it: a tmpfs mounted by the
test (the suite runs as root), so a full disk is real ENOSPC and SQLITE_FULL, not a fake."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

#: The sizes a filler writes in, largest first, until even one byte no longer fits (bytes).
_CHUNKS = (1024 * 1024, 64 * 1024, 4096, 512, 1)


@contextlib.contextmanager
def tmpfs(path: Path, size_kib: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kib`` KiB at ``path`` for the block; unmount it afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k,mode=0755"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write a hidden filler file in ``folder`` until its filesystem takes no byte more;
    return the filler's path (remove it to free the space)."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in _CHUNKS:
            block = bytes(size)
            while _wrote(fd, block):
                pass
    finally:
        os.close(fd)
    return filler


def _wrote(fd: int, block: bytes) -> bool:
    try:
        return os.write(fd, block) == len(block)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False


def free_bytes(folder: Path) -> int:
    """Return the bytes still free on ``folder``'s filesystem."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize
