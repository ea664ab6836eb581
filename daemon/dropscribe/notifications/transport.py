"""One attempt at a delivery: a signed POST, or an Apprise message; and the verdict on it.

The POST goes through the standard library's ``urllib`` (one request, no session to keep):
redirects are not followed (a receiver that moved answers 3xx, which is retried like any
other failure), credentials in the URL travel as Basic authorization, never in the request
line. A receiver is untrusted: the whole attempt ends within its timeout (.deadline), and the
body of its answer is never read, so it can hold neither a sender nor the daemon's memory.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.request
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from dropscribe import __version__
from dropscribe.notifications.deadline import AttemptTimeout, Watchdog, watched_handlers

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


def post(url: str, headers: dict[str, str], body: str, timeout: float) -> int:
    """POST ``body`` as JSON to ``url`` with ``headers``; return the HTTP status. Connecting,
    sending and the answer's status line and headers together take at most ``timeout``
    seconds; the answer's body is left unread (Standard Webhooks judges by the status, and a
    body read would let the receiver spend the daemon's memory and time). Raise OSError
    (URLError, AttemptTimeout) if no status came in time."""
    target, authorization = without_credentials(url)
    all_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    if authorization is not None:
        all_headers["authorization"] = authorization
    request = urllib.request.Request(target, body.encode(), all_headers, method="POST")
    watchdog = Watchdog(timeout)
    opener = urllib.request.build_opener(_NoRedirects, *watched_handlers(watchdog))
    watchdog.start()
    try:
        with opener.open(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # A cut socket ends the attempt with whatever the read or write in progress raised;
        # a socket timeout (no byte at all for ``timeout``) is the same deadline, met first.
        if watchdog.fired or _timed_out(exc):
            raise AttemptTimeout(f"no answer within {timeout:g} s") from exc
        if isinstance(exc, OSError):
            raise
        raise ConnectionError(f"the answer is not HTTP: {exc!r:.200}") from exc
    finally:
        watchdog.close()


def _timed_out(exc: BaseException) -> bool:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, TimeoutError)


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
