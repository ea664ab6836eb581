"""Pure parts of the audit trail: event names, the redaction processor, renderer choice."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import structlog

from dropscribe import audit
from dropscribe.audit.contract import Event
from dropscribe.audit.trail import choose_renderer, plain, redacting
from dropscribe.core.redaction import MASK, Redactor

CANARY = "sk-CANARY-0123456789"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_event_names_unique_and_dotted() -> None:
    values = [e.value for e in Event]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", v) for v in values)


def test_event_contract_lists_every_event() -> None:
    assert set(audit.CONTRACT) == set(Event)


def test_event_contract_job_events_carry_the_job_identifiers() -> None:
    for event, fields in audit.CONTRACT.items():
        if event.value.startswith(("job.", "upload.", "submit.", "poll.")):
            assert {"job_id", "source"} <= fields.always, event


def test_redacting_every_value_masked_nested() -> None:
    redact = redacting(Redactor([CANARY]))
    event = {
        "event": Event.JOB_FAILED,
        "error": RuntimeError(f"refused {CANARY}"),
        "urls": ("https://h/x?X-Amz-Signature=abc",),
        "detail": {"headers": {"Authorization": "Bearer abc.def"}},
        "attempt": 2,
    }
    assert redact(None, "info", event) == {
        "event": "job.failed",
        "error": f"refused {MASK}",
        "urls": [f"https://h/x?X-Amz-Signature={MASK}"],
        "detail": {"headers": {"Authorization": f"Bearer {MASK}"}},
        "attempt": 2,
    }


def test_redacting_secret_added_later_masked() -> None:
    redactor = Redactor()
    redact = redacting(redactor)
    redactor.add(CANARY)
    assert redact(None, "info", {"event": CANARY}) == {"event": MASK}


def test_plain_objects_become_their_text() -> None:
    assert plain({"path": Path("/a/b"), "n": None, "ok": True, "s": {1}}) == {
        "path": "/a/b",
        "n": None,
        "ok": True,
        "s": [1],
    }


def test_choose_renderer_auto_on_terminal_console_columns() -> None:
    assert isinstance(choose_renderer("auto", Terminal()), structlog.dev.ConsoleRenderer)


def test_choose_renderer_auto_on_pipe_json() -> None:
    assert isinstance(choose_renderer("auto", io.StringIO()), structlog.processors.JSONRenderer)


def test_choose_renderer_forced_mode_wins_over_terminal() -> None:
    assert isinstance(choose_renderer("json", Terminal()), structlog.processors.JSONRenderer)
    assert isinstance(choose_renderer("console", io.StringIO()), structlog.dev.ConsoleRenderer)


def test_choose_renderer_unknown_mode_refused() -> None:
    with pytest.raises(ValueError, match="console must be one of"):
        choose_renderer("fancy", io.StringIO())


def test_configure_unknown_level_refused() -> None:
    with pytest.raises(ValueError, match="level must be one of"):
        audit.configure(log_dir=None, redactor=Redactor(), level="verbose")
