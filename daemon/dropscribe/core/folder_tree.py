"""Folder trees walked without recursion and only so deep: a folder nested a thousand levels
down (which anyone who may drop a file can make) must cost no more than a shallow one, and
must not exhaust Python's stack the way ``os.walk`` (recursive before Python 3.12) and
``Path.rglob`` do.

:func:`walk_tree` keeps its own stack of folders, never follows a link, and does not enter a
folder nested deeper than ``max_depth`` below the root: it names it in ``too_deep`` instead,
so the caller can refuse it once, with a reason. Depth counts folders: a file directly in the
root is at depth 0, ``a/b/x.wav`` at depth 2, and ``max_depth`` 2 still enters ``a/b``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: The depth cap used where no setting says otherwise (folders below the root): far beyond any
#: real layout of recordings (year/month/day/device nests four), far below what hurts.
DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True)
class Listing:
    """One folder of a walk: ``rel``, its posix path below the root ("" for the root), the
    names of its entries that are not folders (files, links, FIFOs, ...), of the subfolders
    the walk enters, and of those it leaves because they are nested too deep."""

    rel: str
    files: tuple[str, ...]
    folders: tuple[str, ...]
    too_deep: tuple[str, ...] = ()

    def child(self, name: str) -> str:
        """Return the rel of the entry ``name`` in this folder."""
        return f"{self.rel}/{name}" if self.rel else name


def depth_of(rel: str) -> int:
    """Return how many folders the posix path ``rel`` of a file lies below its root."""
    return rel.count("/")


def _folder_depth(rel: str) -> int:
    return rel.count("/") + 1 if rel else 0


def _enter_all(_name: str) -> bool:
    return True


def walk_tree(
    root: Path,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    under: str = "",
    enter: Callable[[str], bool] = _enter_all,
) -> Iterator[Listing]:
    """Yield a :class:`Listing` of the folder ``root/under`` and of each folder below it that
    is not nested deeper than ``max_depth`` below ``root``, parents before children, names
    sorted. Subfolders whose name ``enter`` refuses are neither entered nor listed; links
    are listed as files, never entered; folders that cannot be read are skipped."""
    pending = [under]
    while pending:
        rel = pending.pop()
        listing = _list_folder(root, rel, max_depth, enter)
        if listing is None:
            continue
        yield listing
        pending.extend(listing.child(name) for name in reversed(listing.folders))


def _list_folder(
    root: Path, rel: str, max_depth: int, enter: Callable[[str], bool]
) -> Listing | None:
    if _folder_depth(rel) > max_depth:
        return None
    try:
        with os.scandir(root / rel if rel else root) as entries:
            found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    except OSError:  # gone, unreadable, or its path too long for the system
        return None
    files = sorted(name for name, is_dir in found if not is_dir)
    folders = sorted(name for name, is_dir in found if is_dir and enter(name))
    if _folder_depth(rel) + 1 > max_depth:
        return Listing(rel, tuple(files), (), tuple(folders))
    return Listing(rel, tuple(files), tuple(folders))
