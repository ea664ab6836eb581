"""The ``--broker`` and ``--storage`` arguments of the scale-out mode, parsed and checked, and
the S3 keys. A broker URL may hold a Redis user and password: a message never shows them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dropscribe.core.redaction import redact_url

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


@dataclass(frozen=True)
class StorageKeys:
    """The S3 access key pair (and session token, for temporary keys); the secret parts are
    left out of the repr, so a logged object does not show them."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def broker_url(text: str) -> str:
    """Return ``redis://HOST:PORT/DB`` (or ``rediss://``) unchanged. Raise ValueError if not one;
    its message shows the URL without its user and password."""
    parts = urlsplit(text)
    shown = redact_url(text)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"broker {shown!r} is not redis://HOST:PORT/DB")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        # Not chained: the parser's own message repeats the URL's authority part.
        raise ValueError(f"broker {shown!r} has no usable port") from None
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(f"broker {shown!r}: the database after the port is a number")
    return text
