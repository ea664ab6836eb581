"""The auth gate: the key source is read again only while the key is refused, and the pause
is recorded for `status`."""

from __future__ import annotations

from pathlib import Path

import structlog
from structlog.testing import capture_logs

from dropscribe.app.keys import pause_recorder, read_pause
from dropscribe.core import errors
from dropscribe.pipeline import AuthGate

Record = tuple[float | None, float | None]


def gate_at(now: list[float], reloads: list[str], records: list[Record]) -> AuthGate:
    return AuthGate(
        lambda seconds: None,
        structlog.get_logger(),
        lambda: now[0],
        reload_key=lambda: reloads.append("reload"),
        record=lambda since, next_probe: records.append((since, next_probe)),
    )


def refusal() -> errors.AuthError:
    return errors.AuthError("401 Unauthorized", status=401)


def test_auth_gate_before_call_without_refusal_reads_no_key() -> None:
    reloads: list[str] = []
    gate = gate_at([100.0], reloads, [])
    gate.before_call()
    assert reloads == []


def test_auth_gate_before_call_after_a_refusal_reads_the_key_again() -> None:
    reloads: list[str] = []
    gate = gate_at([100.0], reloads, [])
    gate.refused(refusal())
    gate.before_call()
    assert reloads == ["reload"]


def test_auth_gate_refusals_in_a_row_keep_the_first_since_and_acceptance_clears() -> None:
    now = [100.0]
    records: list[Record] = []
    gate = gate_at(now, [], records)
    gate.refused(refusal())
    now[0] = 106.0
    gate.refused(refusal())
    gate.accepted()
    assert records == [(100.0, 105.0), (100.0, 116.0), (None, None)]


def test_auth_gate_refusal_during_the_hold_starts_no_second_pause() -> None:
    now = [100.0]
    records: list[Record] = []
    gate = gate_at(now, [], records)
    with capture_logs() as logs:
        gate.refused(refusal())
        now[0] = 104.0
        gate.refused(refusal())
        gate.accepted()
    assert [entry["event"] for entry in logs] == ["auth.paused", "auth.resumed"]
    assert records == [(100.0, 105.0), (None, None)]


def test_pause_recorder_roundtrip_and_removal(tmp_path: Path) -> None:
    record = pause_recorder(tmp_path)
    record(100.0, 105.0)
    assert read_pause(tmp_path) == (100.0, 105.0)
    record(None, None)
    assert read_pause(tmp_path) is None
