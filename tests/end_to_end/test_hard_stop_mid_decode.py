"""``dropscribe run`` with the embedded engine in the middle of a long decode: a first Ctrl-C
(SIGINT) drains, a second one stops at once, although the engine looks at its stop flag only
between segments (after each 180 s piece of this recording, several seconds apart)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import DATA_PATHS, Daemon

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
#: jfk.flac laid end to end this many times: 440 s, three pieces of up to 180 s.
REPEATS = 40
#: How soon the daemon must exit after the second signal, in seconds. Before the fix it waited
#: for the engine to finish its piece: 7.6 s on 2 shared cores; afterwards 0.3 s.
HARD_STOP_SECONDS = 2.5
#: Loading tiny.en and decoding the first 180 s piece on 2 busy cores.
FIRST_PIECE_TIMEOUT = 90.0

SETTINGS = {
    "paths": dict(DATA_PATHS),
    "watch": {"settle_seconds": 0.5, "rescan_seconds": 3600},
    "poll": {"initial_seconds": 0.2, "max_seconds": 0.5},
}


def long_recording(path: Path) -> Path:
    """Write jfk.flac REPEATS times over into one FLAC file; return its path."""
    listing = path.with_suffix(".txt")
    listing.write_text(f"file '{SPEECH / 'jfk.flac'}'\n" * REPEATS, encoding="utf-8")
    command = ["ffmpeg", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run([*command, "-c:a", "flac", str(path)], check=True)
    return path


def wait_for_a_new_piece(daemon: Daemon) -> None:
    """Wait until the service reports the first piece done, so the next one has just begun
    and a stop that waits for the engine would wait for most of a piece."""
    daemon.wait_for(
        lambda: [e for e in daemon.events("poll.status") if e.get("audio_seconds_done")],
        FIRST_PIECE_TIMEOUT,
        "the first piece's progress",
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    made = Daemon(tmp_path / "daemon", SETTINGS)
    yield made
    made.close()


@pytest.mark.slow
def test_run_second_sigint_during_a_long_decode_stops_at_once(
    daemon: Daemon, tmp_path: Path
) -> None:
    daemon.start_and_wait(FIRST_PIECE_TIMEOUT)
    recording = long_recording(tmp_path / "long.flac")
    recording.rename(daemon.inbox / "long.flac")
    wait_for_a_new_piece(daemon)

    daemon.signal(signal.SIGINT)
    daemon.wait_for_event("daemon.stopping")
    started = time.monotonic()
    daemon.signal(signal.SIGINT)
    code = daemon.wait_exit()
    elapsed = time.monotonic() - started

    assert code == 130
    assert elapsed < HARD_STOP_SECONDS
    assert daemon.events("daemon.stopped")[-1]["hard"] is True
    assert daemon.integrity() == "ok"
    assert [j["state"] for j in daemon.jobs()] == ["submitted"]
