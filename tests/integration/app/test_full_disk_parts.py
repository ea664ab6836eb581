"""The parts that write, on a real full disk (a small tmpfs mounted by the test): the state
file, the outbox, the audit file. Each refuses cleanly, leaves nothing half-written, and works
again once space is back."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe import audit
from dropscribe.core import errors
from dropscribe.core.jobs import new_job, update
from dropscribe.core.redaction import Redactor
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox import Outbox
from dropscribe.pipeline.gates.storage import is_storage_trouble
from dropscribe.state import StateStore, is_storage_error, storage_errors
from support.small_disk import fill, tmpfs

#: Large enough for the state file's first pages and a few small results (KiB).
DISK_KIB = 2048
RESULT: RemoteTranscript = {
    "text": "word " * 4000,
    "segments": [{"start": 0.0, "end": 1.0, "text": "word"}],
}


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", DISK_KIB) as root:
        yield root


def test_state_store_commit_on_full_disk_raises_storage_full_and_recovers(disk: Path) -> None:
    store = StateStore(disk / "state.db")
    try:
        job = store.save(new_job("a.wav", 1.0))
        filler = fill(disk)
        with pytest.raises(errors.StorageFull) as caught:
            for n in range(50):  # the WAL takes a few commits before it must grow
                store.save(update(job, attempts=n), RESULT)
        assert is_storage_trouble(caught.value)
        filler.unlink()
        # The failed COMMIT was rolled back: the same connection writes again.
        store.save(update(job, attempts=99), RESULT)
        store.probe()
        saved = store.get(job.id)
        assert saved is not None and saved.attempts == 99
    finally:
        store.close()


def test_storage_errors_read_only_state_file_is_storage_full(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with pytest.raises(errors.StorageFull), storage_errors(path):
            db.execute("UPDATE jobs SET attempts = 1")
    finally:
        db.close()


def test_is_storage_error_a_wrong_statement_is_not_storage_trouble(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            db.execute("SELECT nonsense FROM nowhere")
        assert not is_storage_error(caught.value)
    finally:
        db.close()


def test_outbox_publish_on_full_disk_leaves_no_partial_file(disk: Path) -> None:
    outbox = Outbox(disk / "outbox", ("txt", "json", "srt", "vtt"), Redactor())
    (disk / "outbox").mkdir()
    fill(disk)
    with pytest.raises(OSError) as caught:
        outbox.publish("a", "job1", RESULT, {"source": "a.wav"})
    assert is_storage_trouble(caught.value)
    assert os.listdir(disk / "outbox") == []  # not even a temporary file


@pytest.mark.usefixtures("restore_logging")
def test_audit_file_on_full_disk_drops_whole_lines_and_goes_on(
    disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit.configure(log_dir=disk / "log", redactor=Redactor(), console="json", stream=io.StringIO())
    log = audit.get_logger()
    log.info("daemon.started", pid=1)
    filler = fill(disk)
    for n in range(200):
        log.warning("inbox.problem", problem="x" * 200 + str(n))  # must not raise
    filler.unlink()
    log.info("daemon.stopping", hard=False)
    audit.shutdown()
    lines = (disk / "log" / audit.AUDIT_FILE).read_text(encoding="utf-8").splitlines()
    events = [json.loads(line)["event"] for line in lines]  # every line is whole JSON
    assert events[0] == "daemon.started" and events[-1] == "daemon.stopping"
    assert len(events) < 202  # the lines the full disk refused are gone, not half-written
    assert "Logging error" not in capsys.readouterr().err  # no traceback per dropped line
