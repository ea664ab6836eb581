"""The audit trail as the short subcommands that change state (``retry``, ``acknowledge``)
write it: their events go to audit.jsonl, and only warnings reach the terminal beside the
summary they print."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dropscribe import audit
from dropscribe.config import Settings
from dropscribe.core.redaction import Redactor


def redactor_for(settings: Settings | None) -> Redactor:
    """Return a redactor that masks the API key of ``settings`` (if any)."""
    redactor = Redactor()
    if settings is not None and settings.api_key is not None:
        redactor.add(settings.api_key.get_secret_value())
    return redactor


@contextmanager
def events_to_trail(settings: Settings) -> Iterator[None]:
    """Write the block's events to the audit trail, warnings also to stderr; shut it after."""
    audit.configure(
        log_dir=settings.paths.log_dir,
        redactor=redactor_for(settings),
        console="console",
        stream=sys.stderr,
        stream_level="warning",
    )
    try:
        yield
    finally:
        audit.shutdown()
