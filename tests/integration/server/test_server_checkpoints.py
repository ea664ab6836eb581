"""A long recording's finished pieces kept in server.db as checkpoints: the poll answer shows
the job's progress, and a server killed with SIGKILL mid-job goes on after the pieces it had
finished instead of starting the recording over."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from support import tiyaro_flow as flow
from support.long_audio import encoded, fixture_samples
from support.server_process import TOKEN, ServerProcess, free_port
from support.wer import word_error_rate

pytestmark = pytest.mark.slow

#: Pieces of 20 s (serve's smallest): the 93 s reading is cut four or five times.
PIECE = ("--piece-seconds", "20")

#: Pieces finished before the first server is killed.
KILLED_AFTER_PIECES = 2

#: Word error rate allowed between the resumed transcript and an uninterrupted one: the
#: piece running at the kill is decoded again, and int8 decoding under load can pick another
#: word where two are close.
MAX_DISAGREEMENT = 0.03

#: Written at the head of a kept piece's first segment between the kill and the restart.
MARKER = " Checkpointed:"


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """93 s of reading (the Harvard sentences and Kennedy, twice) as FLAC."""
    osr, jfk = fixture_samples("OSR_us_000_0034_8k.wav"), fixture_samples("jfk.flac")
    path = tmp_path_factory.mktemp("reading") / "reading.flac"
    return encoded(np.concatenate([osr, jfk, osr, jfk]), path, "-c:a", "flac")


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill(signal.SIGKILL)


def submitted(server: ServerProcess, audio: Path) -> str:
    url = flow.get_upload_url(server.base_url, TOKEN, "flac")
    flow.upload(url, audio)
    return str(flow.submit(server.base_url, TOKEN, url)["urls"]["GET"])


def polled(poll_url: str) -> dict[str, Any]:
    answer = requests.get(poll_url, headers=flow.headers(TOKEN), timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def kept_pieces(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "server.db") as db:
        rows = db.execute("SELECT result FROM pieces ORDER BY channel, idx").fetchall()
    return [json.loads(row[0]) for row in rows]


def mark_first_kept_segment(data_dir: Path) -> None:
    """Write a marker into the text of the first kept piece's first segment, so that a
    transcript holding it is known to have read the piece back rather than decoded it."""
    with sqlite3.connect(data_dir / "server.db") as db:
        job_id, channel, index, text = db.execute(
            "SELECT job_id, channel, idx, result FROM pieces ORDER BY channel, idx"
        ).fetchone()
        piece = json.loads(text)
        piece["segments"][0]["text"] = MARKER + piece["segments"][0]["text"]
        db.execute(
            "UPDATE pieces SET result = ? WHERE job_id = ? AND channel = ? AND idx = ?",
            (json.dumps(piece), job_id, channel, index),
        )


def without_ids(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "id"} for s in segments]


def run_until_pieces(poll_url: str, pieces: int, timeout: float = 240.0) -> list[dict[str, Any]]:
    """Poll every 50 ms until the job has finished ``pieces`` pieces; return every answer
    that carried progress."""
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = polled(poll_url)
        assert body["status"] in ("accepted", "pending", "processing"), body
        if "progress" in body:
            answers.append(body)
            if body["progress"]["audioSecondsDone"] >= pieces * 20 * 0.8:
                return answers
        time.sleep(0.05)
    raise AssertionError("the job did not finish its pieces in time")


def test_server_sigkilled_mid_recording_goes_on_after_its_finished_pieces(
    tmp_path: Path, servers: list[ServerProcess], reading: Path
) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "server.log"
    first = ServerProcess(data_dir, port, log, *PIECE)
    servers.append(first)
    first.start()
    poll_url = submitted(first, reading)
    answers = run_until_pieces(poll_url, KILLED_AFTER_PIECES)
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL
    kept = kept_pieces(data_dir)
    assert len(kept) >= KILLED_AFTER_PIECES
    mark_first_kept_segment(data_dir)
    # Progress: seconds done grow with the pieces, out of the recording's length.
    done = [a["progress"]["audioSecondsDone"] for a in answers]
    assert done == sorted(done)
    assert answers[-1]["progress"]["audioSecondsTotal"] == pytest.approx(93.1, abs=0.5)

    second = ServerProcess(data_dir, port, log, *PIECE)
    servers.append(second)
    second.start()
    body = flow.wait_until_final(poll_url, TOKEN, timeout=240.0)
    assert body["status"] == "success", body
    assert "progress" not in body
    resumed = body["result"]
    # The kept pieces' segments are the transcript's first, as they were kept (the marker
    # included): read back, not decoded again.
    kept_segments = [s for piece in kept for s in piece["segments"]]
    kept_segments[0] = {**kept_segments[0], "text": MARKER + kept_segments[0]["text"]}
    assert without_ids(resumed["segments"][: len(kept_segments)]) == without_ids(kept_segments)
    assert resumed["text"].startswith(MARKER.strip())
    assert f"going on after {len(kept)} finished pieces" in log.read_text()
    assert kept_pieces(data_dir) == []  # gone once the job ended

    fresh = ServerProcess(tmp_path / "fresh", free_port(), tmp_path / "fresh.log", *PIECE)
    servers.append(fresh)
    fresh.start()
    whole = flow.wait_until_final(submitted(fresh, reading), TOKEN, timeout=240.0)["result"]
    unmarked = resumed["text"].replace(MARKER.strip(), "")
    assert word_error_rate(whole["text"], unmarked) <= MAX_DISAGREEMENT
    assert resumed["complete"] is True, resumed["coverage"]
