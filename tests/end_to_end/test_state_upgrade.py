"""A state folder left by dropscribe 0.1.0 (state.db at version 1, with its ``extra`` JSON
column) is migrated on open and its jobs resume; a state file from a newer version is refused
with exit 78 and left as it is."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from dropscribe.state import SCHEMA_VERSION
from support.daemon import MakeDaemon, expect_outputs, files_under, wav_bytes
from support.fault_server import FaultServer
from support.state_v1 import V1_SCHEMA

EXIT_CONFIG = 78


def v1_row(job_id: str, source: str, state: str, extra: dict[str, object]) -> tuple[object, ...]:
    """Return a jobs row of version 1: a job claimed at t=1 that reached ``state``."""
    steps = json.dumps({"claimed": 1.0, state: 2.0})
    return (
        job_id, source, state, 0, "", "", 0, None, job_id, None, None, None, 0, 0.0,
        "boom" if state == "failed" else None, "upload_url" if state == "failed" else None,
        "[]", None, steps, json.dumps(extra), 2.0,
    )  # fmt: skip


def write_v1_state(path: Path, rows: list[tuple[object, ...]]) -> None:
    """Create ``path`` as 0.1.0 would have left it, holding ``rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(V1_SCHEMA)
        db.executemany(f"INSERT INTO jobs VALUES ({', '.join('?' * 21)})", rows)
        db.commit()
    finally:
        db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_once_on_a_version_1_state_migrates_it_and_resumes_its_jobs(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    state = daemon.root / "data" / "state" / "state.db"
    (daemon.root / "data" / "processing").mkdir(parents=True)
    (daemon.root / "data" / "processing" / "held.wav").write_bytes(wav_bytes("held"))
    (daemon.root / "data" / "failed").mkdir(parents=True)
    failed_copy = daemon.root / "data" / "failed" / "gave up.wav"
    failed_copy.write_bytes(wav_bytes("gave up"))
    write_v1_state(
        state,
        [
            v1_row("a" * 32, "held.wav", "claimed", {}),
            v1_row("b" * 32, "gave up.wav", "failed", {"failed_path": str(failed_copy)}),
        ],
    )

    done = daemon.run("once")
    requeued = daemon.run("retry", "b" * 12)
    again = daemon.run("once")

    assert done.returncode == 0, done.stderr
    assert requeued.returncode == 0, requeued.stderr
    assert again.returncode == 0, again.stderr
    assert user_version(state) == SCHEMA_VERSION
    assert daemon.outputs() == expect_outputs(["gave up", "held"])
    assert files_under(daemon.failed) == []
    assert server.submissions_total() == 2


def test_run_on_a_state_file_from_a_newer_version_exits_78_and_leaves_it(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    state = daemon.root / "data" / "state" / "state.db"
    write_v1_state(state, [])
    db = sqlite3.connect(state)
    db.execute("PRAGMA user_version=99")
    db.close()
    before = state.read_bytes()

    runs = [daemon.run("once"), daemon.run("status")]

    for done in runs:
        assert done.returncode == EXIT_CONFIG
        assert "written by a newer dropscribe (state version 99" in done.stderr
        assert "Traceback" not in done.stderr
    assert state.read_bytes() == before


def test_run_once_and_status_on_a_damaged_state_file_exit_78_and_leave_it(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    state = daemon.root / "data" / "state" / "state.db"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"\x00\x13 half a page of a disk that lost power " * 100)
    before = state.read_bytes()

    daemon.start("run")
    assert daemon.wait_exit(30) == EXIT_CONFIG
    for done in (daemon.run("once"), daemon.run("status")):
        assert done.returncode == EXIT_CONFIG, done.stderr
        assert "the state file is damaged" in done.stderr
        assert "Traceback" not in done.stderr
    assert "the state file is damaged" in daemon.stderr_text()
    assert state.read_bytes() == before
