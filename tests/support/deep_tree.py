"""Folder trees nested far deeper than anything walks recursively, made and removed one level
at a time through folder descriptors (``mkdirat``, ``openat``, ``unlinkat``), so neither the
test nor pytest's clean-up needs a path longer than PATH_MAX or a recursive walk.

Removing one matters: pytest's ``shutil.rmtree`` is recursive too, so a deep tree left in
``tmp_path`` would stay behind.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Deeper than Python's default recursion limit (1,000 frames): ``os.walk`` of Python 3.11 and
#: watchdog's walks raise RecursionError in such a tree.
PAST_RECURSION_LIMIT = 1_100
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def make_deep(parent: Path, depth: int, name: str = "d", leaf: str = "") -> Path:
    """Create ``depth`` folders named ``name`` nested in ``parent``, and in the deepest an
    empty file ``leaf`` when given; return the top folder."""
    fd = os.open(parent, _FOLDER)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = child
        if leaf:
            os.close(os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    return parent / name


def remove_deep(top: Path) -> None:
    """Remove the tree ``top`` made by :func:`make_deep` (files at any level), from the
    bottom up, holding one descriptor at a time; nothing if it is gone."""
    if not os.path.lexists(top):
        return
    top_inode = os.lstat(top).st_ino
    fd = os.open(top, _FOLDER)
    try:
        while sub := [e.name for e in os.scandir(fd) if e.is_dir(follow_symlinks=False)]:
            child = os.open(sub[0], _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = child
        while True:  # each level's own folder below it is empty by now
            for entry in os.scandir(fd):
                if entry.is_dir(follow_symlinks=False):
                    os.rmdir(entry.name, dir_fd=fd)
                else:
                    os.unlink(entry.name, dir_fd=fd)
            if os.fstat(fd).st_ino == top_inode:
                break
            parent = os.open("..", _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = parent
    finally:
        os.close(fd)
    os.rmdir(top)
