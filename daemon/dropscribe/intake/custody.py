"""Custody of the user's recordings, kept like a mail spool.

A recording is claimed by an atomic rename from the inbox into ``processing/`` (relative
subfolders kept), and leaves it by another rename: to ``done/`` on success (or it is deleted,
when the user asked for that), to ``failed/`` with ``<name>.error.json`` beside it otherwise.
A user's file is never deleted or overwritten on failure: every move picks a free name, adding
`` (2)``, `` (3)``, ... before the extension, and returns the path it chose, so callers always
work with what a move returns, never with the name they asked for.

The daemon is the only writer of ``processing/``, ``done/`` and ``failed/``; a lock makes the
choice of a free name and the rename one step for the threads of one daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dropscribe.core.errors import InputRejected
from dropscribe.core.folder_tree import DEFAULT_MAX_DEPTH, walk_tree
from dropscribe.core.fsio import (
    NAME_MAX_BYTES,
    ensure_folder,
    fsync_folder_if_possible,
    numbered_name,
    write_draft,
)
from dropscribe.core.redaction import redact_url
from dropscribe.intake.recordings import EntryChanged, Identity, identity_of

REPORT_SUFFIX = ".error.json"
CHANGED_REASON = "was replaced or linked elsewhere between its inspection and its claim"
MAX_DUPLICATES = 10_000  # free names tried before giving up; far beyond any real collision


@dataclass(frozen=True)
class Folders:
    """The four custody folders; all on one filesystem, none inside another."""

    inbox: Path
    processing: Path
    done: Path
    failed: Path


def validate_rel(rel: str) -> PurePosixPath:
    """Return ``rel`` as a relative posix path. Raise ValueError if it is empty, absolute, or
    has an empty, "." or ".." component, or a NUL byte: it could then leave its folder."""
    parts = rel.split("/")
    if not rel or "\0" in rel or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a safe relative path: {rel!r}")
    return PurePosixPath(rel)


def check_layout(folders: Folders, outbox: Path) -> list[str]:
    """Return every problem with the folder layout, one human sentence each naming the paths:
    a folder used twice, one inside another, or a custody folder on another filesystem than
    the inbox (missing folders are judged by the existing folder they would be created in).
    The outbox only has to stay clear of the custody folders: it is written, never renamed into."""
    named = {
        "inbox": folders.inbox,
        "processing": folders.processing,
        "done": folders.done,
        "failed": folders.failed,
        "outbox": outbox,
    }
    real = {role: Path(os.path.realpath(path)) for role, path in named.items()}
    problems = [
        _nesting_problem(a, named[a], real[a], b, named[b], real[b])
        for i, a in enumerate(real)
        for b in list(real)[i + 1 :]
    ]
    inbox_dev = _device(real["inbox"])
    for role in ("processing", "done", "failed"):
        if _device(real[role]) != inbox_dev:
            problems.append(
                f"the {role} folder {named[role]} is on another filesystem than the inbox "
                f"{folders.inbox}; moves between them must be atomic renames, so put them "
                "on one filesystem"
            )
    return [problem for problem in problems if problem]


def _nesting_problem(a: str, path_a: Path, real_a: Path, b: str, path_b: Path, real_b: Path
                     ) -> str:  # fmt: skip
    if real_a == real_b:
        return f"the {a} folder {path_a} and the {b} folder {path_b} are the same folder"
    if real_a.is_relative_to(real_b):
        return f"the {a} folder {path_a} is inside the {b} folder {path_b}; keep them apart"
    if real_b.is_relative_to(real_a):
        return f"the {b} folder {path_b} is inside the {a} folder {path_a}; keep them apart"
    return ""


def _device(path: Path) -> int:
    # A folder not made yet will live on the filesystem of its nearest existing ancestor.
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return os.stat(candidate).st_dev
    return -1


def ensure_layout(folders: Folders, outbox: Path) -> None:
    """Create each custody folder and the outbox, with their parents, if missing."""
    for path in (folders.inbox, folders.processing, folders.done, folders.failed, outbox):
        path.mkdir(parents=True, exist_ok=True)


def redact_report(value: Any) -> Any:
    """Return ``value`` with the URL signatures in every string inside it masked."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, Mapping):
        return {str(k): redact_report(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_report(v) for v in value]
    return value


class Custody:
    """Moves recordings between the custody folders; every method returns where it put one.

    ``rel`` is always a posix path relative to the folder the file is in: the inbox for
    :meth:`claim`, processing/ for :meth:`complete` and :meth:`fail` (the rel of the path
    :meth:`claim` returned), failed/ for :meth:`restore`.
    """

    def __init__(self, folders: Folders) -> None:
        self._folders = folders
        self._lock = threading.Lock()

    def inbox_path(self, rel: str) -> Path:
        """Return where the inbox entry ``rel`` lives."""
        return self._folders.inbox / validate_rel(rel)

    def processing_path(self, rel: str) -> Path:
        """Return where the claimed ``rel`` lives in processing/."""
        return self._folders.processing / validate_rel(rel)

    def held(self, max_depth: int = DEFAULT_MAX_DEPTH) -> list[str]:
        """Return the rels of every entry in processing/ (not its folders), sorted, in folders
        at most ``max_depth`` deep (claims never make deeper ones)."""
        listings = walk_tree(self._folders.processing, max_depth=max_depth)
        return sorted(listing.child(name) for listing in listings for name in listing.files)

    def claim(self, rel: str, inspected: Identity) -> Path:
        """Move inbox/``rel``, the file inspected as ``inspected``, into processing/, keeping
        its subfolders, and return its new path (a numbered name if processing/ already holds
        one by that name). Raise FileNotFoundError if it is gone, InputRejected if a parent
        folder became a link, EntryChanged if what was moved is not the file inspected (it
        was swapped or linked meanwhile): it is then put back in the inbox, to settle and be
        inspected again."""
        source = self.inbox_path(rel)
        self._require_inside(source, self._folders.inbox)
        claimed = self._move(source, self._folders.processing, rel)
        # The rename moved whatever had the name by then: only its identity, read where
        # nobody else writes, tells whether that is the file inspected.
        if identity_of(os.lstat(claimed)) != inspected:
            self._put_back(claimed, source)
            raise EntryChanged(CHANGED_REASON)
        return claimed

    def _put_back(self, claimed: Path, source: Path) -> None:
        """Move the wrongly claimed ``claimed`` back to ``source``'s folder in the inbox (a
        free name there); to failed/ if it cannot go back, so that it is never sent unchecked."""
        rel = claimed.relative_to(self._folders.processing).as_posix()
        try:
            with self._lock:
                target = self._free_path(source.parent, source.name, "")
                os.rename(claimed, target)
                fsync_folder_if_possible(source.parent)
                self._prune(claimed.parent, self._folders.processing)
        except OSError:
            self.fail(rel, {"reason": CHANGED_REASON, "hint": "drop the recording again"})

    def complete(self, rel: str, *, delete: bool = False) -> Path | None:
        """Move processing/``rel`` to done/ and return its new path; with ``delete``, remove
        it and return None."""
        source = self.processing_path(rel)
        if not delete:
            return self._move(source, self._folders.done, rel)
        with self._lock:
            source.unlink()
            self._prune(source.parent, self._folders.processing)
        return None

    def fail(self, rel: str, report: Mapping[str, Any], *, from_inbox: bool = False) -> Path:
        """Move processing/``rel`` (or inbox/``rel``, for an entry never claimed) to failed/
        with ``<name>.error.json`` beside it, and return the recording's new path.

        The report is written to a temporary file and synced before anything moves, so a
        failure to write it leaves the recording where it was. The entry itself is renamed,
        never opened, so links, FIFOs and sockets are safe. URL signatures are masked. The
        report gets the recording's read/write mode and group, so whoever may read the
        recording may read why it failed.
        """
        root = self._folders.inbox if from_inbox else self._folders.processing
        source = root / validate_rel(rel)
        self._require_inside(source, root)
        body = {"source": rel, **dict(redact_report(dict(report)))}
        # Made without following links: a link at failed/sub must not take the recording away.
        target_dir = ensure_folder(self._folders.failed, PurePosixPath(rel).parent)
        draft = write_draft(target_dir, json.dumps(body, indent=2, ensure_ascii=False, default=str))
        _share_like(draft, source)
        try:
            with self._lock:
                target = self._free_path(target_dir, source.name, REPORT_SUFFIX)
                os.rename(source, target)
                os.rename(draft, target.with_name(target.name + REPORT_SUFFIX))
                fsync_folder_if_possible(target_dir)
                self._prune(source.parent, root)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(draft)
        return target

    def restore(self, failed_rel: str, *, as_rel: str | None = None) -> Path:
        """Move failed/``failed_rel`` back into processing/ (as ``as_rel``, its original rel,
        when given), remove its error report, and return its new path."""
        source = self._folders.failed / validate_rel(failed_rel)
        if source.name.endswith(REPORT_SUFFIX):
            raise ValueError(f"{failed_rel!r} is an error report, not a recording")
        target = self._move(source, self._folders.processing, as_rel or failed_rel)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(source.with_name(source.name + REPORT_SUFFIX))
        return target

    def _move(self, source: Path, to_root: Path, rel: str) -> Path:
        parent = validate_rel(rel).parent
        with self._lock:
            os.lstat(source)  # FileNotFoundError before any folder is made
            target_dir = ensure_folder(to_root, parent)  # no link below to_root is followed
            target = self._free_path(target_dir, PurePosixPath(rel).name, "")
            os.rename(source, target)
            fsync_folder_if_possible(target_dir)
            fsync_folder_if_possible(source.parent)
            self._prune(source.parent, self._root_of(source))
        return target

    def _root_of(self, path: Path) -> Path:
        folders = self._folders
        roots = (folders.processing, folders.done, folders.failed, folders.inbox)
        return next(root for root in roots if path.is_relative_to(root))

    @staticmethod
    def _free_path(folder: Path, name: str, sidecar: str) -> Path:
        """Return the first numbered name in ``folder`` free for the file and its sidecar."""
        room = NAME_MAX_BYTES - len(os.fsencode(sidecar))
        for number in range(1, MAX_DUPLICATES + 1):
            candidate = folder / numbered_name(name, number, room)
            taken = os.path.lexists(candidate)
            if not taken and not (sidecar and os.path.lexists(f"{candidate}{sidecar}")):
                return candidate
        raise FileExistsError(f"no free name for {name!r} in {folder}")

    def _prune(self, folder: Path, root: Path) -> None:
        # Subfolders the daemon made in processing/ go once empty; the user's inbox folders stay.
        if root != self._folders.processing:
            return
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    @staticmethod
    def _require_inside(path: Path, root: Path) -> None:
        # The folders between root and the entry must be real folders, not links leading out.
        expected = Path(os.path.realpath(root)) / path.parent.relative_to(root)
        if Path(os.path.realpath(path.parent)) != expected:
            raise InputRejected(
                "is in a folder that was replaced by a link",
                "move the recording itself into the inbox",
            )


def report_mode(recording_mode: int) -> int:
    """Given a recording's st_mode, return the report's permissions: the recording's read and
    write bits (never execute or special bits), and always the owner's read and write."""
    return stat.S_IMODE(recording_mode) & 0o666 | 0o600


def _share_like(report: str, recording: Path) -> None:
    # Only a regular file lends its mode: a link's or a FIFO's says nothing about readers.
    # The group is best effort: the service user may not belong to the recording's group.
    try:
        st = os.lstat(recording)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    os.chmod(report, report_mode(st.st_mode))
    with contextlib.suppress(OSError):
        os.chown(report, -1, st.st_gid)
