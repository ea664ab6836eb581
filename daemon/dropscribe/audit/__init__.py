"""The audit trail: the event contract and the structlog set-up that writes it.

:mod:`~dropscribe.audit.contract` names the events and lists their fields, as data;
:mod:`~dropscribe.audit.trail` configures structlog and the stdlib's logging (the only module
that does), writes ``audit.jsonl`` and redacts every line. Callers import the public names from
here.
"""

from dropscribe.audit.contract import CONTRACT, LINE_FIELDS, Event, Fields
from dropscribe.audit.trail import AUDIT_FILE, NOISY_LOGGERS, configure, get_logger, shutdown

__all__ = [
    "AUDIT_FILE",
    "CONTRACT",
    "LINE_FIELDS",
    "NOISY_LOGGERS",
    "Event",
    "Fields",
    "configure",
    "get_logger",
    "shutdown",
]
