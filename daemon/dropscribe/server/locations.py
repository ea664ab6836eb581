"""The ``--broker`` and ``--storage`` arguments of the scale-out mode, parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]*$")


@dataclass(frozen=True)
class StorageLocation:
    """Where uploads go: a bucket and a key prefix (no leading or trailing slash)."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """Return the object key of ``parts`` below the prefix."""
        return "/".join(part for part in (self.prefix, *parts) if part)


def storage_location(text: str) -> StorageLocation:
    """Given ``s3://BUCKET/PREFIX`` (prefix optional), return it. Raise ValueError if not one."""
    parts = urlsplit(text)
    prefix = parts.path.strip("/")
    if parts.scheme != "s3" or not _BUCKET.match(parts.netloc) or parts.query or parts.fragment:
        raise ValueError(f"storage {text!r} is not s3://BUCKET/PREFIX (bucket: 3-63 of a-z0-9.-)")
    if not _PREFIX.match(prefix) or "//" in prefix:
        raise ValueError(f"storage prefix {prefix!r} may hold only A-Z a-z 0-9 . _ - and /")
    return StorageLocation(parts.netloc, prefix)


def broker_url(text: str) -> str:
    """Return ``redis://HOST:PORT/DB`` (or ``rediss://``) unchanged. Raise ValueError if not one."""
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"broker {text!r} is not redis://HOST:PORT/DB")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise ValueError(f"broker {text!r} has no usable port") from exc
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(f"broker {text!r}: the database after the port is a number")
    return text
