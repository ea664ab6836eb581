"""Upload files on disk: naming by server-generated id, and streaming a body to disk.

Stored names are ``<32 hex id>.<allowlisted extension>`` and nothing else, so no request can
name a path outside ``<data_dir>/uploads``. A body is written to a unique draft file first and
renamed into place only once complete, so a half-received upload is never transcribed. Files
are created 0600 and the folders 0700 whatever the umask: uploads are people's recordings.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio.to_thread

from dropscribe.server.problems import ApiProblem

#: Audio containers faster-whisper's PyAV decoder reads; the only extensions an upload may have.
ALLOWED_EXTENSIONS = ("mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "webm", "mp4")

#: Bytes buffered in memory before they are handed to a thread for writing (1 MiB).
WRITE_BATCH_BYTES = 1 << 20

#: Suffix of a draft file; drafts left by a killed server are removed at the next start.
DRAFT_SUFFIX = ".part"

#: Mode of upload files and of the server's folders.
FILE_MODE = 0o600
FOLDER_MODE = 0o700

_STORED_NAME = re.compile(r"^(?P<upload_id>[0-9a-f]{32})\.(?P<extension>[a-z0-9]{1,8})$")


def new_upload_id() -> str:
    """Return a fresh random upload id (128 bits, hex)."""
    return secrets.token_hex(16)


def parse_stored_name(name: str) -> tuple[str, str] | None:
    """Given ``<id>.<ext>`` from a URL path, return (id, ext), or None if it is not one of ours."""
    match = _STORED_NAME.match(name)
    if match is None or match["extension"] not in ALLOWED_EXTENSIONS:
        return None
    return match["upload_id"], match["extension"]


def upload_path(uploads_dir: Path, upload_id: str, extension: str) -> Path:
    """Return where the upload with this id and extension is stored."""
    return uploads_dir / f"{upload_id}.{extension}"


def private_folder(path: Path) -> Path:
    """Create ``path`` (and its parents) if absent, make it 0700, and return it."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def remove_drafts(uploads_dir: Path) -> None:
    """Delete draft files a previous run left behind; no upload can be in flight at start."""
    for draft in uploads_dir.glob(f"*{DRAFT_SUFFIX}"):
        draft.unlink(missing_ok=True)


async def store_body(
    chunks: AsyncIterator[bytes], target: Path, limit: int, check_commit: Callable[[Path], None]
) -> int:
    """Stream a request body into ``target`` and return its size in bytes.

    Raise ApiProblem 413 once more than ``limit`` bytes arrive; nothing is left on disk then.
    ``check_commit(target)`` runs just before the body replaces ``target`` and may refuse it
    by raising ApiProblem (the draft is removed then).
    """
    draft = target.with_name(f"{target.name}.{secrets.token_hex(4)}{DRAFT_SUFFIX}")
    try:
        size = await _write_chunks(chunks, draft, limit)
        check_commit(target)
        os.replace(draft, target)
    finally:
        draft.unlink(missing_ok=True)
    return size


async def _write_chunks(chunks: AsyncIterator[bytes], draft: Path, limit: int) -> int:
    size = 0
    pending = bytearray()
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise ApiProblem(413, f"upload is larger than the limit of {limit} bytes")
            pending += chunk
            if len(pending) >= WRITE_BATCH_BYTES:
                # Disk writes happen in a thread so a slow disk never stalls the event loop.
                await anyio.to_thread.run_sync(handle.write, bytes(pending))
                pending.clear()
        await anyio.to_thread.run_sync(handle.write, bytes(pending))
    return size
