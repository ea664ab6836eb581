"""Presigned upload URLs: an HMAC-SHA256 over the upload id, extension and expiry.

Like an S3 presigned PUT, the URL itself is the credential, so the upload step needs no bearer
token. The signature covers ``"<upload id>\\n<extension>\\n<expires>"``; ``expires`` is a Unix
time in whole seconds. Verification is constant-time. The secret lives in the data folder
(mode 0600) so URLs issued before a restart stay valid after it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Length of a generated presign secret, in bytes (256 bits, the HMAC-SHA256 block-safe size).
SECRET_BYTES = 32

#: File name of the persisted secret inside the data folder.
SECRET_FILE = "presign.key"


@dataclass(frozen=True)
class SignedUpload:
    """The fields a presigned upload URL carries."""

    upload_id: str
    extension: str
    expires: int
    signature: str


class Presigner:
    """Issue and check presigned upload URLs with one secret and a clock."""

    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._secret = secret
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, upload_id: str, extension: str) -> SignedUpload:
        """Given a fresh upload id and extension, return its signed fields, valid for the TTL."""
        expires = int(self._clock() + self._ttl_seconds)
        return SignedUpload(
            upload_id, extension, expires, self._sign(upload_id, extension, expires)
        )

    def is_authentic(self, upload_id: str, extension: str, expires: int, signature: str) -> bool:
        """Return True when the signature is ours for exactly these fields (expiry not checked)."""
        expected = self._sign(upload_id, extension, expires)
        return hmac.compare_digest(expected.encode(), signature.encode())

    def is_expired(self, expires: int) -> bool:
        """Return True when a URL expiring at ``expires`` can no longer be used to upload."""
        return self._clock() > expires

    def _sign(self, upload_id: str, extension: str, expires: int) -> str:
        message = f"{upload_id}\n{extension}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def load_or_create_secret(data_dir: Path) -> bytes:
    """Given the data folder, return its persisted presign secret, creating it (0600) if absent."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(SECRET_BYTES)
    draft = data_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    try:
        # link() is atomic and refuses to overwrite: if two servers race on a fresh folder,
        # exactly one complete secret wins and both use it.
        os.link(draft, path)
    except FileExistsError:
        secret = path.read_bytes()
    finally:
        draft.unlink()
    return secret
