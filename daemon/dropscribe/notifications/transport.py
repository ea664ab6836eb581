"""One attempt at a delivery: a signed POST, or an Apprise message; and the verdict on it.

The POST goes through the standard library's ``urllib`` (one request, no session to keep):
redirects are not followed (a receiver that moved answers 3xx, which is retried like any
other failure), credentials in the URL travel as Basic authorization, never in the request
line.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from dropscribe import __version__

USER_AGENT = f"dropscribe/{__version__} (webhooks)"
HTTP_GONE = 410


class Verdict(StrEnum):
    """What an answer means for a delivery."""

    DELIVERED = "delivered"  # 2xx: done
    GONE = "gone"  # 410: the receiver asks us to stop
    RETRY = "retry"  # anything else: try again later


def verdict_of(status: int) -> Verdict:
    """Return what an HTTP status means for a delivery (Standard Webhooks)."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.GONE if status == HTTP_GONE else Verdict.RETRY


def without_credentials(url: str) -> tuple[str, str | None]:
    """Return ``url`` without its user:password part, and the Basic authorization header
    value they make (None without credentials)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{parts.port}" if parts.port else "")
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return urlunsplit(parts._replace(netloc=netloc)), "Basic " + base64.b64encode(
        pair.encode()
    ).decode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, headers: dict[str, str], body: str, timeout: float) -> int:
    """POST ``body`` as JSON to ``url`` with ``headers``; return the HTTP status. Raise
    OSError (URLError, a timeout) if no answer came."""
    target, authorization = without_credentials(url)
    all_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    if authorization is not None:
        all_headers["authorization"] = authorization
    request = urllib.request.Request(target, body.encode(), all_headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def send_message(url: str, title: str, text: str) -> bool:
    """Send one message through Apprise; return True if it was accepted. Raise ValueError if
    Apprise does not understand the URL."""
    # Imported on first use: a third of a second of start-up that runs without Apprise
    # receivers do not pay.
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        raise ValueError("Apprise does not understand this URL")
    # Declared plain text, Apprise escapes it for Markdown and HTML targets (Slack, Matrix,
    # mail, ...): a name like "**urgent**" or "<a href=...>" is shown, not rendered. Left
    # undeclared, Apprise passes it through as if it were the target's own markup.
    return bool(sender.notify(body=text, title=title, body_format=apprise.NotifyFormat.TEXT))
