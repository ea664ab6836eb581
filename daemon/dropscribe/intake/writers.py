"""Who holds a file open for writing, from ``/proc/*/fd``: the check before a recording is
claimed.

A writer that stalls longer than the settle time (scp or Samba on a slow link) leaves a file
that looks finished. If any process still holds it open for writing, it is not. Linux shows
every process's open files as links under ``/proc/<pid>/fd`` and their open flags in
``/proc/<pid>/fdinfo/<fd>``; processes we may not inspect (another user's, without
CAP_SYS_PTRACE) are skipped, so the check is as good as the daemon's permissions allow. Where
there is no ``/proc`` it finds no writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def writers_of(path: Path, proc: Path = PROC) -> list[int]:
    """Return the pids of the processes we may inspect that hold ``path`` open for writing."""
    target = os.path.realpath(path)
    links = _links_under(target, proc)
    return sorted({pid for pid, fd, link in links if link == target and _writable(proc, pid, fd)})


def open_for_writing(folder: Path, proc: Path = PROC) -> set[str]:
    """Return the real paths of the files under ``folder`` that some process we may inspect
    holds open for writing: one pass over /proc for any number of files."""
    prefix = os.path.join(os.path.realpath(folder), "")
    return {link for pid, fd, link in _links_under(prefix, proc) if _writable(proc, pid, fd)}


def is_write_mode(flags_octal: str) -> bool:
    """Given the ``flags:`` value of an fdinfo file (octal text), return True if the file is
    open for writing (O_WRONLY or O_RDWR)."""
    try:
        return int(flags_octal, 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except ValueError:
        return False


def _links_under(prefix: str, proc: Path) -> Iterator[tuple[int, str, str]]:
    """Yield (pid, fd, target) of every open file whose target starts with ``prefix``."""
    try:
        pids = [entry.name for entry in os.scandir(proc) if entry.name.isdigit()]
    except OSError:
        return
    for pid in pids:
        folder = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:  # gone, or not ours to inspect
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{folder}/{fd}")
            except OSError:
                continue
            if link.startswith(prefix):
                yield int(pid), fd, link


def _writable(proc: Path, pid: int, fd: str) -> bool:
    try:
        with open(f"{proc}/{pid}/fdinfo/{fd}", encoding="ascii") as info:
            for line in info:
                if line.startswith("flags:"):
                    return is_write_mode(line.split(":", 1)[1].strip())
    except OSError:
        return False
    return False
