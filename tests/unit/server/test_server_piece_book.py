"""A job's checkpoints in the SQLite store: kept while it runs, read back in order, dropped
when unusable or when the job ends; its progress in the poll answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.transcript import Segment
from dropscribe.engine.strategies import Strategy
from dropscribe.engine.stream import PieceResult
from dropscribe.server.checkpoints import Checkpoints
from dropscribe.server.job_status import JobStatus
from dropscribe.server.records import JobRecord, Progress
from dropscribe.server.store import JobStore
from dropscribe.server.views import job_view

RATE = 16000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path)
    opened.admit(
        JobRecord("a", "whisper-tiny", "tiny.en", "u1", "{}", JobStatus.ACCEPTED, 100.0,
                  None, None, None, None),
        None, "fp",
    )  # fmt: skip
    opened.claim("a", "tiny.en", 101.0)
    yield opened
    opened.close()


def piece(index: int, start: float, end: float, channel: int = 0) -> PieceResult:
    segment: Segment = {
        "id": 1,
        "seek": 0,
        "start": start + 1,
        "end": end - 1,
        "text": f" piece {index}",
    }
    return PieceResult(channel, index, int(start * RATE), int(end * RATE), [segment],
                       [(start + 1, end - 1)], Strategy.BATCHED, [Strategy.BATCHED], "en",
                       0.9)  # fmt: skip


def test_checkpoints_kept_pieces_read_back_by_the_next_run_in_order(store: JobStore) -> None:
    first = Checkpoints(store, "a", 600.0)
    assert first.done() == []
    for result in (piece(0, 0, 180), piece(1, 180, 355)):
        first.keep(result)
    assert Checkpoints(store, "a", 600.0).done() == [piece(0, 0, 180), piece(1, 180, 355)]


def test_checkpoints_progress_stored_with_each_piece_and_shown_while_running(
    store: JobStore,
) -> None:
    Checkpoints(store, "a", 600.0).keep(piece(0, 0, 180))
    job = store.get("a")
    assert job is not None and job.progress == Progress(180.0, 600.0)
    assert job_view(job)["progress"] == {"audioSecondsDone": 180.0, "audioSecondsTotal": 600.0}
    store.finish("a", {"text": "", "segments": [], "language": "en"}, None, 200.0)
    ended = store.get("a")
    assert ended is not None and "progress" not in job_view(ended)
    assert store.pieces("a") == []


def test_checkpoints_progress_of_a_call_recording_is_its_channels_average(
    store: JobStore,
) -> None:
    book = Checkpoints(store, "a", None)
    book.keep(piece(0, 0, 180, channel=1))
    assert book.progress() == Progress(90.0, None)
    book.keep(piece(0, 0, 170, channel=2))
    assert book.progress() == Progress(175.0, None)


def test_checkpoints_pieces_that_do_not_follow_each_other_dropped_and_started_over(
    store: JobStore,
) -> None:
    book = Checkpoints(store, "a", 600.0)
    book.keep(piece(0, 0, 180))
    book.keep(piece(2, 360, 540))  # piece 1 missing
    assert Checkpoints(store, "a", 600.0).done() == []
    assert store.pieces("a") == []
    job = store.get("a")
    assert job is not None and job.progress is None


def test_checkpoints_unreadable_piece_dropped_and_started_over(store: JobStore) -> None:
    store.keep_piece("a", 0, 0, '{"channel": 0}', Progress(10.0, 600.0))
    assert Checkpoints(store, "a", 600.0).done() == []
    assert store.pieces("a") == []


def test_checkpoints_not_kept_for_a_job_cancelled_meanwhile(store: JobStore) -> None:
    store.cancel("a", 150.0)
    Checkpoints(store, "a", 600.0).keep(piece(0, 0, 180))
    assert store.pieces("a") == []


def test_checkpoints_of_a_job_put_back_after_a_crash_survive_the_requeue(
    store: JobStore,
) -> None:
    Checkpoints(store, "a", 600.0).keep(piece(0, 0, 180))
    assert store.requeue_unfinished(2, 300.0) == ["a"]
    assert store.claim("a", "tiny.en", 301.0) is not None
    assert Checkpoints(store, "a", 600.0).done() == [piece(0, 0, 180)]
