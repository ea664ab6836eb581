"""The full-disk pause: what counts as storage trouble, one pause, probes until space is back."""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.testing import capture_logs

from dropscribe.core import errors
from dropscribe.pipeline.gates.pause import ProbeTiming
from dropscribe.pipeline.gates.storage import StorageGate, is_storage_trouble

TIMING = ProbeTiming(first_seconds=1.0, max_seconds=8.0)
FULL = OSError(errno.ENOSPC, "No space left on device")


@dataclass
class Disk:
    full: bool = True
    now: list[float] = field(default_factory=lambda: [100.0])
    holds: list[float] = field(default_factory=list)
    probes: int = 0

    def probe(self) -> None:
        self.probes += 1
        if self.full:
            raise errors.StorageFull("state.db: database or disk is full")

    def gate(self) -> StorageGate:
        return StorageGate(
            self.holds.append, structlog.get_logger(), lambda: self.now[0], TIMING, self.probe
        )


def events(logs: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [entry["event"] for entry in logs]


def test_is_storage_trouble_enospc_eio_erofs_and_storage_full() -> None:
    for code in (errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT):
        assert is_storage_trouble(OSError(code, "x"))
    assert is_storage_trouble(errors.StorageFull("full"))


def test_is_storage_trouble_looks_at_the_cause() -> None:
    try:
        try:
            raise FULL
        except OSError as exc:
            raise errors.DropscribeError("publish failed") from exc
    except errors.DropscribeError as wrapped:
        assert is_storage_trouble(wrapped)


def test_is_storage_trouble_other_errors_are_not() -> None:
    assert not is_storage_trouble(FileNotFoundError(errno.ENOENT, "gone"))
    assert not is_storage_trouble(errors.TransientApiError("503", status=503))


def test_storage_gate_first_trouble_pauses_once_and_holds() -> None:
    disk = Disk()
    gate = disk.gate()
    with capture_logs() as logs:
        assert gate.failed(FULL)
        assert gate.failed(errors.StorageFull("again"))
    assert events(logs) == ["storage.full"]
    assert disk.holds == [1.0]
    assert gate.pause_times() == (100.0, 101.0)


def test_storage_gate_other_error_is_left_to_the_usual_policy() -> None:
    gate = Disk().gate()
    assert not gate.failed(errors.PermanentApiError("422", status=422))
    assert not gate.paused()


def test_storage_gate_probes_only_when_due_and_backs_off_while_full() -> None:
    disk = Disk()
    gate = disk.gate()
    gate.failed(FULL)
    assert not gate.probe_if_due() and disk.probes == 0
    disk.now[0] += 1.0
    assert not gate.probe_if_due()
    assert disk.probes == 1 and disk.holds == [1.0, 2.0]
    assert gate.paused()


def test_storage_gate_probe_that_writes_ends_the_pause() -> None:
    disk = Disk()
    gate = disk.gate()
    gate.failed(FULL)
    disk.full = False
    disk.now[0] += 1.0
    with capture_logs() as logs:
        assert gate.probe_if_due()
    assert events(logs) == ["storage.available"]
    assert not gate.paused() and gate.pause_times() is None


def test_storage_gate_record_that_cannot_be_written_is_skipped() -> None:
    def record(since: float | None, due: float | None) -> None:
        raise FULL

    disk = Disk()
    gate = StorageGate(
        disk.holds.append, structlog.get_logger(), lambda: disk.now[0], TIMING, disk.probe, record
    )
    assert gate.failed(FULL)  # no exception escapes
    assert gate.paused()
