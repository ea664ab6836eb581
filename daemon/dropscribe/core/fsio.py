"""File-system steps every part shares, written once: atomic writes, fsync, free names, and
folders walked without following links.

* :func:`write_atomic` and :func:`write_atomic_at`: readers see the old file or the whole new
  one, never part of it;
* :func:`write_draft`: a synced hidden file, to be renamed into place by the caller;
* :func:`fsync_folder`: makes a rename in a folder durable;
* :func:`numbered_name` and :func:`cut_to_bytes`: the ``n``-th name to try for a file
  ("talk.wav", "talk (2).wav", ...) cut to fit NAME_MAX on a character boundary;
* :func:`open_folder` and :func:`ensure_folder`: a symbolic link planted at ``outbox/sub`` or
  ``failed/sub`` must not send transcripts or recordings elsewhere, so a folder below a
  trusted root is reached one component at a time, each opened with ``O_NOFOLLOW`` relative to
  the descriptor of its parent (``openat``), and created there when missing; a link anywhere
  below the root raises FollowRefused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

#: Flags that open a folder without following a link in its last component.
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class FollowRefused(OSError):
    """A component below the root is a link (or not a folder); nothing was written there."""


def folder_parts(rel: str | PurePosixPath) -> list[str]:
    """Return the components of a relative folder path; refuse ``..`` and absolute paths."""
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{str(rel)!r} is not a folder path inside its root")
    return [part for part in path.parts if part not in ("", ".")]


@contextlib.contextmanager
def open_folder(root: Path, rel: str | PurePosixPath, *, create: bool) -> Iterator[int]:
    """Yield a descriptor of ``root/rel``, reached without following any link below ``root``.

    Missing folders (the root too: it is configured, so trusted) are created, mode 0777 less
    the umask, when ``create``. Raise FollowRefused if a component is a link or not a folder,
    FileNotFoundError if one is missing and ``create`` is False.
    """
    parts = folder_parts(rel)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            child = _child_folder(fd, part, create, root)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _child_folder(parent: int, name: str, create: bool, root: Path) -> int:
    """Return a descriptor of folder ``name`` inside ``parent``, never following a link."""
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=parent)
        return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FollowRefused(
                exc.errno, f"{name!r} under {root} is a link or not a folder; not following it"
            ) from exc
        raise


def ensure_folder(root: Path, rel: str | PurePosixPath) -> Path:
    """Create ``root/rel`` as real folders (no link below ``root``) and return its path.

    Raise FollowRefused if a component is a link or not a folder.
    """
    with open_folder(root, rel, create=True):
        pass
    return root.joinpath(*folder_parts(rel))


def write_atomic_at(root: Path, rel: str, data: bytes, temp_prefix: str) -> Path:
    """Write ``data`` to ``root/rel`` atomically, creating its folders, following no link.

    The file is written as ``<temp_prefix><random>`` in its folder, fsynced, renamed over the
    final name (both relative to the folder's descriptor) and the folder fsynced. The mode is
    0666 less the umask, as for any file the user creates. Raise FollowRefused for a link.
    """
    relative = PurePosixPath(rel)
    with open_folder(root, relative.parent, create=True) as folder:
        tmp = f"{temp_prefix}{secrets.token_hex(8)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o666, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, relative.name, src_dir_fd=folder, dst_dir_fd=folder)
        except Exception:
            # Only a crash leaves the temporary file behind (the outbox sweeps those).
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
        os.fsync(folder)
    return root.joinpath(*relative.parts)


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
    write_atomic_at(path.parent, path.name, data, TEMP_PREFIX)


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
