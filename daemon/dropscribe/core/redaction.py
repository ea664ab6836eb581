"""Redaction of secrets: the one place that decides what a log line, an error report or an
output file may show.

Three kinds of secret are hidden: values we know (the API key, tokens), replaced wherever they
occur; presigned URL signatures, recognised by their query parameter names, whatever URL
they are part of; and the user and password of any URL (``redis://user:password@host``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"

# Query parameters that carry a signature or credential in presigned URLs (S3, GCS, Azure,
# our embedded server) and in URLs in general.
_SIGNED_PARAMS = (
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
)
_PARAM_RE = re.compile(
    r"(?P<name>[?&;](?:" + "|".join(re.escape(p) for p in _SIGNED_PARAMS) + r")=)[^&#\s\"'<>]*",
    re.IGNORECASE,
)
# The user-information part of a URL: after "scheme://", up to the "@" before the host. No
# "/", "?", "#", "@" or white space inside, so a path or an e-mail address later on is left alone.
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s\"'<>]+@")
_BEARER_RE = re.compile(r"(?P<scheme>Bearer\s+)(?P<credential>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)
# What follows "bearer" in prose ("invalid bearer token", "Bearer authentication"): one word,
# lower case but for its first letter. A credential has digits, capitals or punctuation, or is
# longer than a word.
_PROSE_WORD = re.compile(r"[A-Za-z][a-z]*")
_LONGEST_PROSE_WORD = 20
# Shorter known secrets would mask ordinary words; such values are refused as secrets.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Masks known secret values and URL signatures in text; safe to share between threads."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember one more secret value to mask (ignored if empty or too short to be one)."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret that contains another is masked whole.
                self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret, bearer token, URL user and password and
        URL signature masked."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        value = _BEARER_RE.sub(_masked_bearer, value)
        return redact_url(value)

    def value(self, value: Any) -> Any:
        """Return ``value`` with every string inside it (dicts, lists, tuples) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value


def is_prose_word(credential: str) -> bool:
    """Return True if what follows "bearer" is an ordinary word, not a credential."""
    return len(credential) < _LONGEST_PROSE_WORD and bool(_PROSE_WORD.fullmatch(credential))


def _masked_bearer(match: re.Match[str]) -> str:
    if is_prose_word(match["credential"]):
        return match[0]
    return match["scheme"] + MASK


def redact_url(url: str) -> str:
    """Return ``url`` (or any text holding URLs) with the user and password before the host,
    and the signature and credential query parameters, masked."""
    url = _USERINFO_RE.sub(lambda m: m.group("scheme") + MASK + "@", url)
    return _PARAM_RE.sub(lambda m: m.group("name") + MASK, url)
