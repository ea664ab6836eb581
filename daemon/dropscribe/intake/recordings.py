"""Recordings: which inbox entries are candidates, and whether one may be sent.

What is a candidate: a regular file whose name is not ignored and whose extension is allowed;
and every other entry that is not a folder (symlinks, FIFOs, sockets, devices), whatever its
extension, so that the caller can refuse it with :func:`inspect_entry` and move it to failed/
where the user sees why. Regular files with other extensions stay where they are (an inbox may
well hold notes or cover images); the watcher says once per file why it leaves one
(:func:`ignored_reason`).

Entries are never opened except by :func:`inspect_entry`, which never follows links and never
blocks on a FIFO or device; everything else here decides from names, lstat results and bytes.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 16  # bytes read to recognise a container; the longest signature ends at byte 12


class EntryChanged(Exception):
    """The entry at hand is not the one that settled and was inspected; it must settle again."""


@dataclass(frozen=True)
class Identity:
    """Which file an entry was: its device, inode and link count when it was inspected."""

    device: int
    inode: int
    links: int


def identity_of(st: os.stat_result) -> Identity:
    """Return the identity of the file ``st`` describes."""
    return Identity(st.st_dev, st.st_ino, st.st_nlink)


@dataclass(frozen=True)
class Verdict:
    """Whether an entry may be sent; ``reason`` follows the file's name in a sentence.
    ``identity``: which file was inspected (set on an accepted one), so that the claim can
    check it moved that file and no other."""

    ok: bool
    reason: str = ""
    hint: str = ""
    identity: Identity | None = None


ACCEPTED = Verdict(ok=True)


def is_ignored(name: str, patterns: Sequence[str]) -> bool:
    """Return True if the base name ``name`` matches one of the shell ``patterns``."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def has_allowed_extension(name: str, extensions: Sequence[str]) -> bool:
    """Return True if ``name`` ends in one of ``extensions`` (no dots; any letter case)."""
    _, dot, ext = name.rpartition(".")
    return bool(dot) and ext.lower() in {e.lower().lstrip(".") for e in extensions}


def ignored_reason(name: str, extensions: Sequence[str]) -> str:
    """Return why a regular file named ``name`` is left in the inbox: its extension is not
    one of ``extensions``."""
    listed = ", ".join(extensions)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"it has no extension; watch.extensions lists {listed}"
    return f"its extension .{ext} is not in watch.extensions ({listed})"


def too_deep_reason(max_depth: int) -> str:
    """Return why a folder nested deeper than ``max_depth`` is refused (follows its name)."""
    return (
        f"is nested more than {max_depth} folders deep in the inbox (watch.max_folder_depth); "
        "nothing in it is watched or sent: move its recordings higher up"
    )


def lstat_inside(inbox: Path, rel: str) -> os.stat_result:
    """Return the lstat of ``inbox/rel``. Raise OSError (NotADirectoryError if a parent is
    not a real folder: one swapped for a link must not lead outside)."""
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        if not stat.S_ISDIR(os.lstat(inbox.joinpath(*parts[:depth])).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", rel)
    return os.lstat(inbox / rel)


def is_candidate(name: str, mode: int, extensions: Sequence[str]) -> bool:
    """Given a (not ignored) base name and its lstat mode, return True if the watcher offers
    it: a regular file with an allowed extension, or any entry that is neither a regular file
    nor a folder, so that hostile entries reach the caller and end up in failed/."""
    if stat.S_ISDIR(mode):
        return False
    return not stat.S_ISREG(mode) or has_allowed_extension(name, extensions)


def is_candidate_rel(rel: str, ignore: Sequence[str], *, recursive: bool) -> bool:
    """Return True if no component of the inbox-relative ``rel`` is ignored (and, when not
    recursive, if ``rel`` is directly in the inbox)."""
    parts = rel.split("/")
    if not recursive and len(parts) > 1:
        return False
    return not any(part in ("", ".", "..") or is_ignored(part, ignore) for part in parts)


def looks_like_audio(head: bytes, extension: str) -> bool:
    """Given a file's first bytes and its extension, return True if they start an audio or
    video container. Strong signatures count under any audio extension (a mislabelled file
    still decodes); the weak MPEG and ADTS frame syncs count only under .mp3 and .aac."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return True
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    strong = (b"fLaC", b"OggS", b"ID3", b"\x1a\x45\xdf\xa3", b"ADIF", b"caff")
    if head.startswith(strong) or head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return True
    if len(head) < 3 or head[0] != 0xFF:
        return False
    ext = extension.lower().lstrip(".")
    if ext == "aac":
        return head[1] & 0xF6 == 0xF0  # ADTS: 12-bit sync, layer 00
    # MPEG audio: 11-bit sync, version and layer not reserved, bitrate index not "bad".
    return ext == "mp3" and _mpeg_frame(head[1], head[2])


def _mpeg_frame(b1: int, b2: int) -> bool:
    return b1 & 0xE0 == 0xE0 and (b1 >> 3) & 3 != 1 and (b1 >> 1) & 3 != 0 and b2 >> 4 != 0xF


def _reject(reason: str, hint: str) -> Verdict:
    return Verdict(ok=False, reason=reason, hint=hint)


_LINK = _reject(
    "is a symbolic link; dropscribe never reads through links",
    "copy the recording itself into the inbox instead of linking to it",
)
_HARD_LINK = _reject(
    "is a hard link to a file that also exists elsewhere",
    "copy the recording into the inbox instead of hard-linking it",
)


def verdict_for_stat(name: str, st: os.stat_result, *, max_bytes: int, extensions: Sequence[str]
                     ) -> Verdict:  # fmt: skip
    """Given an entry's name and lstat result, return the verdict on everything but content."""
    mode = st.st_mode
    kinds = (
        (stat.S_ISLNK, _LINK),
        (stat.S_ISFIFO, _reject("is a FIFO (named pipe), not a file", "drop a regular file")),
        (stat.S_ISSOCK, _reject("is a socket, not a file", "drop a regular file")),
        (stat.S_ISBLK, _reject("is a block device, not a file", "drop a regular file")),
        (stat.S_ISCHR, _reject("is a character device, not a file", "drop a regular file")),
        (stat.S_ISDIR, _reject("is a folder, not a file", "drop the recordings inside it")),
    )
    for test, verdict in kinds:
        if test(mode):
            return verdict
    if not stat.S_ISREG(mode):
        return _reject("is not a regular file", "drop a regular file")
    if st.st_nlink > 1:
        return _HARD_LINK
    return _size_and_name_verdict(name, st.st_size, max_bytes, extensions)


def _size_and_name_verdict(name: str, size: int, max_bytes: int, extensions: Sequence[str]
                           ) -> Verdict:  # fmt: skip
    if size == 0:
        return _reject("is empty (0 bytes)", "check the recorder or the copy; drop it again")
    if size > max_bytes:
        limit = f"{max_bytes / 1_048_576:.0f} MiB"
        return _reject(
            f"is larger ({size} bytes) than the limit of {limit}",
            "split the recording, or raise watch.max_file_mb",
        )
    if not has_allowed_extension(name, extensions):
        return _reject(
            "does not have an audio extension dropscribe accepts",
            f"use one of: {', '.join(extensions)} (watch.extensions)",
        )
    return ACCEPTED


def inspect_entry(path: Path, *, max_bytes: int, extensions: Sequence[str]) -> Verdict:
    """Given an entry's path, return whether it is a recording dropscribe may send.

    Only lstat is used until the entry is known to be a lone regular file; it is then opened
    without following links and without blocking, checked to still be the same file, and its
    first bytes compared with audio signatures. Raise FileNotFoundError if it is gone.
    """
    st = os.lstat(path)
    verdict = verdict_for_stat(path.name, st, max_bytes=max_bytes, extensions=extensions)
    if not verdict.ok:
        return verdict
    return _content_verdict(path, st)


def _content_verdict(path: Path, st: os.stat_result) -> Verdict:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since the lstat
            return _LINK
        return _reject(f"cannot be opened ({exc.strerror})", "let the dropscribe user read it")
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return _reject("was replaced while being checked", "drop the recording again")
        if now.st_nlink > 1:  # linked elsewhere since the lstat
            return _HARD_LINK
        head = os.read(fd, HEAD_BYTES)
    finally:
        os.close(fd)
    if looks_like_audio(head, path.suffix):
        return Verdict(ok=True, identity=identity_of(now))
    return _reject(
        f"does not contain {path.suffix.lstrip('.') or 'audio'} audio (unknown file signature)",
        "check that this is really a recording; export it again in a supported format",
    )
