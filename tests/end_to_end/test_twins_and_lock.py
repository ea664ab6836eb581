"""Two correctness guarantees seen from outside: simultaneous twins are billed once, and one
process at a time works on a state folder.

* The same recording dropped twice at once is submitted once: the second job waits for the
  first and reuses its result.
* ``run``, ``once`` and ``transcribe`` take an exclusive lock on the state folder; a second
  one exits 75 (EX_TEMPFAIL) without touching anything, while ``status`` and ``retry`` still
  work and ``status`` names the daemon that holds the lock.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from support.daemon import (
    DATA_PATHS,
    DROPSCRIBE,
    Daemon,
    MakeDaemon,
    drop_all,
    expect_outputs,
    files_under,
    sha256_of,
    wav_bytes,
)
from support.fault_server import FaultServer

EXIT_LOCKED = 75
#: The shared/ folder beside the checkout.
SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
#: Seconds the embedded engine may take to load tiny.en and transcribe 11 s of speech twice
#: over on 2 busy cores.
EMBEDDED_TIMEOUT = 150.0


def test_run_two_copies_dropped_at_once_are_submitted_once(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    data = wav_bytes("twin", size=4096)

    drop_all(daemon.root / "staging", daemon.inbox, {"x.wav": data, "y.wav": data})
    daemon.wait_for_published(2)

    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert daemon.outputs() == expect_outputs(["x", "y"])
    (duplicate,) = daemon.events("job.duplicate")
    assert daemon.events("job.waiting", job_id=duplicate["job_id"])
    assert daemon.stop() == 0


@pytest.mark.slow
def test_run_two_copies_at_once_embedded_engine_transcribes_once(tmp_path: Path) -> None:
    settings = {
        "paths": dict(DATA_PATHS),
        "watch": {"settle_seconds": 0.5},
        "poll": {"initial_seconds": 0.5, "max_seconds": 1},
    }
    daemon = Daemon(tmp_path, settings)
    try:
        transcribe_twins(daemon, tmp_path / "staging")
    finally:
        daemon.close()


def transcribe_twins(daemon: Daemon, staging: Path) -> None:
    """Drop jfk.flac twice at once into the running daemon's inbox; check it was sent once."""
    daemon.inbox.mkdir(parents=True)
    daemon.start_and_wait(timeout=EMBEDDED_TIMEOUT)
    staging.mkdir()
    for name in ("x.flac", "y.flac"):
        shutil.copyfile(SPEECH / "jfk.flac", staging / name)
    for name in ("x.flac", "y.flac"):
        (staging / name).rename(daemon.inbox / name)
    daemon.wait_for_published(2, timeout=EMBEDDED_TIMEOUT)

    assert len(daemon.events("submit.accepted")) == 1
    assert len(daemon.events("upload.started")) == 1
    assert len(daemon.events("job.duplicate")) == 1
    x, y = (daemon.outbox / f"{stem}.txt" for stem in ("x", "y"))
    assert x.read_text(encoding="utf-8") == y.read_text(encoding="utf-8")
    assert "country" in x.read_text(encoding="utf-8").lower()
    assert daemon.stop() == 0


def test_once_beside_a_running_daemon_exits_75_and_takes_nothing(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    (daemon.root / "late.wav").write_bytes(wav_bytes("late"))

    done = daemon.run("once")

    assert done.returncode == EXIT_LOCKED
    assert f"process {daemon.pid}" in done.stderr
    assert "already works on" in done.stderr
    assert "Traceback" not in done.stderr
    assert server.requests() == []
    assert daemon.running()
    assert daemon.stop() == 0


def test_status_says_which_daemon_holds_the_state_folder(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    assert daemon.run("status").stdout.splitlines()[0] == "daemon: not running"
    daemon.start_and_wait()

    text = daemon.run("status")
    as_json = json.loads(daemon.run("status", "--json").stdout)

    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"daemon: running (pid {daemon.pid})"
    assert as_json["daemon"] == {"running": True, "pid": daemon.pid}
    assert daemon.stop() == 0
    assert json.loads(daemon.run("status", "--json").stdout)["daemon"]["running"] is False


def test_transcribe_with_the_config_of_a_running_daemon_exits_75(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    audio = tmp_path / "one.wav"
    audio.write_bytes(wav_bytes("one"))

    done = subprocess.run(
        [str(DROPSCRIBE), "transcribe", "-c", str(daemon.config), str(audio)],
        env=daemon.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == EXIT_LOCKED, done.stderr
    assert "already works on" in done.stderr
    assert files_under(daemon.outbox) == []
    assert daemon.stop() == 0
