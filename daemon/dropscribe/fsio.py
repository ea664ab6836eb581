"""File-system helpers shared by the adapters: walking folders without following links.

A symbolic link planted at ``outbox/sub`` or ``failed/sub`` must not send transcripts or
recordings elsewhere. So a folder below a trusted root is reached one component at a time,
each opened with ``O_NOFOLLOW`` relative to the descriptor of its parent (``openat``), and
created there when missing; a link anywhere below the root raises FollowRefused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
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
