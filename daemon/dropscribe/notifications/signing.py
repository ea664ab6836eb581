"""The Standard Webhooks signature: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_VERSION = "v1"


def signature(secret: bytes, message_id: str, timestamp: int, body: str) -> str:
    """Return the ``webhook-signature`` value of one attempt, keyed with the decoded secret."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: bytes, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Return the headers of one attempt: id (the same for every retry), unix timestamp of
    this attempt and its signature."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
