"""What a worker reads from Redis and the queue, checked before it is used.

Redis is shared with every front end and worker, and anything that can write to it can put
any string in a job record or a queue message. A worker therefore takes only job ids of the
shape the front end makes (``str(uuid.uuid4())``), upload ids of the shape the upload site
makes (32 hex digits), extensions from the server's own list, model specs it was started with,
and an upload's pinned size and ETag only in their plain forms; file and bucket names are built
from these checked values, never from the raw text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from dropscribe.server.uploads import ALLOWED_EXTENSIONS

_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
#: An S3 ETag: a quoted hex digest, with ``-<parts>`` for a multipart upload.
_ETAG = re.compile(r'^"[0-9a-f]{32}(-[0-9]{1,5})?"$')
#: Longest decimal size accepted (a 999 TB upload is already far past any limit).
_MAX_SIZE_DIGITS = 15


class Untrusted(Exception):
    """A value from Redis or the queue that is not what this service writes; ``reason`` says
    which, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PinnedUpload:
    """An upload as pinned at submit: its id, extension, size in bytes and ETag."""

    upload_id: str
    extension: str
    size: int
    etag: str


def checked_job_id(value: object) -> str:
    """Return ``value`` as a canonical job id. Raise Untrusted if it is not one."""
    if not isinstance(value, str) or not _JOB_ID.match(value):
        raise Untrusted(f"job id {_shown(value)} is not one this service makes")
    return str(uuid.UUID(value))


def checked_spec(value: object, served: Collection[str]) -> str:
    """Return ``value`` if it is one of the model specs ``served``. Raise Untrusted if not."""
    if not isinstance(value, str) or value not in served:
        raise Untrusted(f"model spec {_shown(value)} is not one this worker was started with")
    return value


def checked_upload(upload_id: str, fields: Mapping[str, str]) -> PinnedUpload:
    """Given a job's upload id and its upload record's fields, return the pinned upload.
    Raise Untrusted for an odd id, an extension not on the list, or a missing or odd pin."""
    if not _UPLOAD_ID.match(upload_id):
        raise Untrusted(f"upload id {_shown(upload_id)} is not one this service makes")
    raw = fields.get("extension", "")
    extension = next((ext for ext in ALLOWED_EXTENSIONS if ext == raw), None)
    if extension is None:
        raise Untrusted(f"upload extension {_shown(raw)} is not an allowed one")
    size, etag = fields.get("size", ""), fields.get("etag", "")
    if not (size.isascii() and size.isdigit() and len(size) <= _MAX_SIZE_DIGITS):
        raise Untrusted(f"upload size {_shown(size)} is not a number of bytes")
    if not _ETAG.match(etag):
        raise Untrusted(f"upload ETag {_shown(etag)} is not one the bucket gives")
    return PinnedUpload(upload_id, extension, int(size), etag)


def _shown(value: object) -> str:
    """Return a short, printable form of an untrusted value for a log line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
