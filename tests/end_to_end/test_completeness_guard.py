"""The completeness guard with a remote service: the daemon measures the returned segments
against the speech in the recording (found in its helper process) and says when they miss some.

The fault server's result covers 0-3.25 s; jfk.flac holds about 10 s of speech.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.daemon import Daemon, MakeDaemon

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
EXIT_JOBS_FAILED = 1
ONCE_TIMEOUT = 90.0

pytestmark = pytest.mark.slow


def drop_speech(daemon: Daemon) -> None:
    daemon.inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(SPEECH / "jfk.flac", daemon.inbox / "jfk.flac")


def test_once_remote_result_missing_speech_published_incomplete_exit_1(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    drop_speech(daemon)

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == EXIT_JOBS_FAILED, done.stderr
    doc = json.loads((daemon.outbox / "jfk.json").read_text(encoding="utf-8"))
    result = doc["result"]
    assert result["complete"] is False
    assert result["no_speech"] is False
    assert result["coverage"]["speech_seconds"] > 9
    assert result["coverage"]["uncovered"]
    (event,) = daemon.events("transcript.incomplete")
    assert event["source"] == "jfk.flac" and event["coverage"] < 0.5
    status = daemon.run("status")
    assert "published incomplete" in status.stdout and "jfk.flac" in status.stdout
    txt = (daemon.outbox / "jfk.txt").read_text(encoding="utf-8")
    assert txt.startswith("[dropscribe: this transcript is incomplete: ")
    assert txt.split("\n")[0].endswith(" s of speech not transcribed, see jfk.json]")
    srt = (daemon.outbox / "jfk.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:03,000\n[dropscribe: incomplete transcript,")


def test_once_remote_result_missing_speech_with_fail_policy_goes_to_failed(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(quality={"on_incomplete": "fail"})
    drop_speech(daemon)

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == EXIT_JOBS_FAILED, done.stderr
    assert daemon.outputs() == []
    report = json.loads((daemon.failed / "jfk.flac.error.json").read_text(encoding="utf-8"))
    assert "of the speech" in report["error"]


def test_cli_transcribe_german_speech_exits_1_saying_incomplete(tmp_path: Path) -> None:
    import subprocess

    from support.daemon import DROPSCRIBE

    german = tmp_path / "german.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-ss", "30.5", "-i", str(SPEECH / "multilingual.mp3"),
         str(german)],
        check=True,
    )  # fmt: skip
    done = subprocess.run(
        [DROPSCRIBE, "transcribe", str(german)],
        capture_output=True,
        text=True,
        timeout=170,
        env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == EXIT_JOBS_FAILED, done.stderr
    assert "incomplete" in done.stderr and "of the speech" in done.stderr


#: Quiet recordings published after the incomplete one: more than `status` used to look back.
LATER_FILES = 12

#: sysexits' EX_DATAERR and EX_NOINPUT, as `acknowledge` exits with them.
EXIT_NOT_INCOMPLETE = 65
EXIT_NOT_FOUND = 66


def drop_quiet(daemon: Daemon, count: int) -> None:
    import subprocess

    for n in range(count):
        # Lengths differ so that no two are the same recording (one would reuse the other's).
        seconds = f"{1 + n / 10:.1f}"
        quiet = daemon.inbox / f"quiet-{n:02d}.wav"
        subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(quiet), "trim", "0", seconds],
                       check=True)  # fmt: skip


def test_status_lists_incomplete_transcript_until_it_is_acknowledged(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    drop_speech(daemon)
    drop_quiet(daemon, LATER_FILES)
    assert daemon.run("once", timeout=ONCE_TIMEOUT).returncode == EXIT_JOBS_FAILED
    listed = json.loads(daemon.run("status", "--json").stdout)
    assert [j["source"] for j in listed["incomplete"]] == ["jfk.flac"]
    assert listed["counts"]["published"] == 1 + LATER_FILES

    acked = daemon.run("acknowledge", "jfk.flac")

    assert acked.returncode == 0, acked.stderr
    assert "jfk.flac" in acked.stdout
    status = daemon.run("status")
    assert "published incomplete" not in status.stdout
    (event,) = daemon.events("transcript.acknowledged")
    assert event["source"] == "jfk.flac"
    again = daemon.run("ack", listed["incomplete"][0]["job_id"])
    assert again.returncode == EXIT_NOT_INCOMPLETE
    assert daemon.run("ack", "no-such-recording.wav").returncode == EXIT_NOT_FOUND
