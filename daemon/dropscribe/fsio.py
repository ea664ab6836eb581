"""File-system steps every part shares, written once: atomic writes, fsync, free names.

* :func:`write_atomic`: readers see the old file or the whole new one, never part of it;
* :func:`write_draft`: a synced hidden file, to be renamed into place by the caller;
* :func:`fsync_folder`: makes a rename in a folder durable;
* :func:`numbered_name` and :func:`cut_to_bytes`: the ``n``-th name to try for a file
  ("talk.wav", "talk (2).wav", ...) cut to fit NAME_MAX on a character boundary.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

# The longest file name (in bytes of the encoded name) Linux filesystems accept: NAME_MAX.
NAME_MAX_BYTES = 255
# A longer "extension" is treated as part of the name when a name is cut (bytes).
LONGEST_SUFFIX_BYTES = 32
# The prefix of atomic writes' temporary files; a crash may leave one behind.
TEMP_PREFIX = ".dropscribe-tmp-"


def cut_to_bytes(text: str, max_bytes: int) -> str:
    """Return ``text`` shortened to at most ``max_bytes`` encoded bytes, whole characters only
    (a multi-byte UTF-8 character is never split)."""
    while len(os.fsencode(text)) > max_bytes:
        text = text[:-1]
    return text


def numbered(stem: str, number: int) -> str:
    """Return the ``number``-th name tried for ``stem``: itself for 1, then "stem (n)"."""
    return stem if number == 1 else f"{stem} ({number})"


def numbered_name(name: str, number: int, max_bytes: int = NAME_MAX_BYTES) -> str:
    """Return the ``number``-th name to try for file ``name``: itself for 1, then
    "stem (2).ext", "stem (3).ext", ..., each shortened to fit in ``max_bytes`` bytes by
    cutting the stem (never the extension, unless that alone is unreasonably long)."""
    stem, suffix = split_suffix(name)
    tag = numbered("", number)
    if len(os.fsencode(name)) + len(tag) <= max_bytes:
        return stem + tag + suffix
    if len(os.fsencode(suffix)) > LONGEST_SUFFIX_BYTES:
        stem, suffix = name, ""
    return cut_to_bytes(stem, max_bytes - len(tag) - len(os.fsencode(suffix))) + tag + suffix


def split_suffix(name: str) -> tuple[str, str]:
    """Return (stem, ".ext") of a file name; a name without a dot has an empty suffix."""
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem and dot else (name, "")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    A temporary file in the same folder is written and fsynced, renamed over ``path``, then the
    folder is fsynced so the rename survives a power loss. On an error the temporary file is
    removed; only a crash leaves one behind (named with TEMP_PREFIX).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    # Not mkstemp: its 0600 would make transcripts unreadable to the people they are for;
    # 0666 lets the umask decide, as for any file the user creates.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


def write_draft(folder: Path, text: str) -> str:
    """Write ``text`` to a new hidden file in ``folder``, synced to disk; return its path."""
    fd, draft = tempfile.mkstemp(dir=folder, prefix=".dropscribe-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return draft


def fsync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename) to disk. Raise OSError if the folder cannot be
    opened or synced."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder_if_possible(folder: Path) -> None:
    """Like :func:`fsync_folder`, for a rename that stands either way: some filesystems cannot
    sync a folder, and then the rename is only less durable."""
    with contextlib.suppress(OSError):
        fsync_folder(folder)
