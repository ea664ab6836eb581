"""Presigned URL signatures and the persisted secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dropscribe.server.presign import Presigner, load_or_create_secret

UPLOAD_ID = "ab" * 16


def presigner(now: float = 1000.0, secret: bytes = b"s") -> Presigner:
    return Presigner(secret, ttl_seconds=900, clock=lambda: now)


def test_presigner_issued_fields_are_authentic() -> None:
    signed = presigner().issue(UPLOAD_ID, "wav")
    assert signed.expires == 1900
    assert presigner().is_authentic(UPLOAD_ID, "wav", signed.expires, signed.signature)


def test_presigner_changed_extension_is_not_authentic() -> None:
    signed = presigner().issue(UPLOAD_ID, "wav")
    assert not presigner().is_authentic(UPLOAD_ID, "mp3", signed.expires, signed.signature)


def test_presigner_changed_expiry_is_not_authentic() -> None:
    signed = presigner().issue(UPLOAD_ID, "wav")
    assert not presigner().is_authentic(UPLOAD_ID, "wav", signed.expires + 1, signed.signature)


def test_presigner_other_secret_is_not_authentic() -> None:
    signed = presigner().issue(UPLOAD_ID, "wav")
    other = presigner(secret=b"t")
    assert not other.is_authentic(UPLOAD_ID, "wav", signed.expires, signed.signature)


def test_presigner_after_expiry_is_expired() -> None:
    assert not presigner(now=1900.0).is_expired(1900)
    assert presigner(now=1900.5).is_expired(1900)


def test_load_or_create_secret_twice_returns_same_private_secret(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(tmp_path / "presign.key").st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["presign.key"]
