"""The log of ``serve`` and ``worker``: the standard library's, one line a record on stderr,
every line (tracebacks included) passed through a Redactor first, so that a broker password,
an S3 secret or a bearer token never reaches the journal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from dropscribe.core.redaction import Redactor

LINE_FORMAT = "%(asctime)s %(name)s %(message)s"


class RedactingFormatter(logging.Formatter):
    """A logging.Formatter whose whole output goes through ``redactor``."""

    def __init__(self, redactor: Redactor, fmt: str = LINE_FORMAT) -> None:
        super().__init__(fmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Return the record formatted as usual, then redacted."""
        return self._redactor.text(super().format(record))


def configure(redactor: Redactor, level: int = logging.INFO) -> None:
    """Send every logger's records at ``level`` and above to stderr, redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(redactor))
    logging.basicConfig(level=level, handlers=[handler])


def say(redactor: Redactor, command: str, message: str, out: TextIO | None = None) -> None:
    """Print ``dropscribe COMMAND: MESSAGE`` on stderr (or ``out``), redacted."""
    print(redactor.text(f"dropscribe {command}: {message}"), file=out or sys.stderr)
