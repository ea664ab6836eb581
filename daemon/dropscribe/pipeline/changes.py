"""Whether a claimed recording changed since its job hashed it.

Size and mtime are a hint, not proof: a backup tool, an antivirus scanner, ``touch``, a restore
from an archive that keeps whole seconds or microseconds, or a filesystem with coarse times
move the mtime of bytes that stay the same. Sending such a file again bills it twice. So a
changed size is a change, and a moved mtime on the same size is settled by hashing the file
again: the same digest means the same recording, and the job keeps its upload and request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dropscribe.core.jobs import Job, update

HASH_CHUNK_BYTES = 1024 * 1024


def file_digest(path: Path) -> tuple[str, int, int]:
    """Return (sha256, size, mtime_ns) of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest(), stat.st_size, stat.st_mtime_ns


def stat_matches(job: Job, path: Path) -> bool:
    """Return True if the file still has the size and mtime it had when the job hashed it."""
    stat = path.stat()
    return stat.st_size == job.size and stat.st_mtime_ns == job.mtime_ns


def recheck(job: Job, path: Path) -> Job | None:
    """Return ``job`` if the file at ``path`` still holds what it hashed, None if it changed.

    A file whose mtime moved with its bytes the same is returned as ``job`` with the new mtime
    (the caller saves it, so the next check is cheap again). A job without a recorded mtime
    (hashed by an older version) counts as unchanged: nothing to compare with. Raise
    FileNotFoundError if the file is gone.
    """
    if job.mtime_ns is None:
        return job
    stat = path.stat()
    if stat.st_size != job.size:
        return None
    if stat.st_mtime_ns == job.mtime_ns:
        return job
    digest, size, mtime_ns = file_digest(path)
    if digest != job.sha256 or size != job.size:
        return None
    return update(job, mtime_ns=mtime_ns)
