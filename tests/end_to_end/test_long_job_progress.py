"""A long recording's progress as the daemon sees it, against a real ``dropscribe serve`` that
transcribes in pieces of 20 s: ``status`` shows the running job's percent and, once two
readings exist, the time it has left; ``once`` on a terminal counts the audio minutes."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropscribe.audit.contract import CONTRACT, Event
from support.daemon import DATA_PATHS, Daemon, wait_for
from support.long_audio import encoded, fixture_samples
from support.server_process import TOKEN, ServerProcess, free_port
from support.terminal import once_on_a_terminal

pytestmark = pytest.mark.slow

#: The reading's length in seconds (the Harvard sentences and Kennedy, twice).
READING_SECONDS = 93.1
#: Seconds the job may take on two busy cores, tiny.en, 20 s pieces (the suite's per-test
#: timeout is 180 s).
JOB_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """93 s of reading as FLAC: cut in four or five pieces of 20 s."""
    osr, jfk = fixture_samples("OSR_us_000_0034_8k.wav"), fixture_samples("jfk.flac")
    path = tmp_path_factory.mktemp("reading") / "reading.flac"
    return encoded(np.concatenate([osr, jfk, osr, jfk]), path, "-c:a", "flac")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "server", free_port(), tmp_path / "server.log", "--piece-seconds", "20"
    )
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill(signal.SIGKILL)


@pytest.fixture
def daemon(tmp_path: Path, serve: ServerProcess) -> Iterator[Daemon]:
    settings = {
        "paths": dict(DATA_PATHS),
        "api": {"base_url": serve.base_url},
        "watch": {"settle_seconds": 0.5},
        "poll": {"initial_seconds": 0.5, "max_seconds": 1},
    }
    made = Daemon(tmp_path / "daemon", settings, api_key=TOKEN)
    made.inbox.mkdir(parents=True)
    yield made
    made.close()


def in_flight(daemon: Daemon) -> list[dict[str, Any]]:
    """Return the jobs in flight as `status --json` gives them."""
    done = daemon.run("status", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["in_flight"])


def progress_while_running(daemon: Daemon) -> list[dict[str, Any] | None]:
    """Run `status --json` from the job's claim until it is no longer in flight; return the
    progress figures each run showed (None: none yet)."""
    wait_for(lambda: in_flight(daemon), 60, "the recording in flight")
    seen: list[dict[str, Any] | None] = []
    deadline = time.monotonic() + JOB_TIMEOUT
    while (flight := in_flight(daemon)) and time.monotonic() < deadline:
        seen.append(flight[0]["progress"])
    return seen


def test_status_of_a_long_job_shows_its_progress_and_then_the_time_left(
    daemon: Daemon, reading: Path
) -> None:
    daemon.start_and_wait(timeout=60)
    (daemon.inbox / "reading.flac").write_bytes(reading.read_bytes())

    seen = progress_while_running(daemon)
    daemon.wait_for_published(1, timeout=30)

    shown = [figures for figures in seen if figures is not None]
    assert shown, f"status never showed progress in {len(seen)} runs"
    for figures in shown:
        assert figures["audio_seconds_total"] == pytest.approx(READING_SECONDS, abs=0.5)
        assert 0 < figures["audio_seconds_done"] < figures["audio_seconds_total"]
        assert figures["percent"] == pytest.approx(
            100 * figures["audio_seconds_done"] / figures["audio_seconds_total"], abs=0.1
        )
    # An estimate once a second reading shows audio done since the first.
    estimated = [f for f in shown if f["seconds_left"] is not None]
    assert estimated, shown
    assert estimated[-1]["audio_seconds_done"] > shown[0]["audio_seconds_done"]
    assert all(f["seconds_left"] >= 0 for f in estimated)
    reported = [e for e in daemon.events("poll.status") if "audio_seconds_done" in e]
    assert reported and reported[-1]["audio_seconds_total"] == pytest.approx(93.1, abs=0.5)
    assert set(reported[-1]) <= CONTRACT[Event.POLL_STATUS].allowed


def test_once_on_a_terminal_counts_the_audio_minutes_of_a_long_job(
    daemon: Daemon, reading: Path
) -> None:
    (daemon.inbox / "reading.flac").write_bytes(reading.read_bytes())
    shown = once_on_a_terminal(daemon, JOB_TIMEOUT)

    running = re.findall(rb"0/1 jobs, 0 failed, (\d+\.\d)/1\.6 audio min", shown)
    assert running and 0 < float(running[0]) < 1.6, shown[-2000:]
    assert b"1/1 jobs, 0 failed, 1.6/1.6 audio min" in shown
