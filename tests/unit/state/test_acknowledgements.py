"""The incomplete transcripts still to be seen to, and their acknowledgement, on a real state
file in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.jobs import Job, JobState
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.state import StateStore

INCOMPLETE: RemoteTranscript = {"text": "Yiden there", "complete": False}
COMPLETE: RemoteTranscript = {"text": "and so my fellow americans", "complete": True}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore(tmp_path / "state.db")
    yield store
    store.close()


def published(store: StateStore, job_id: str, source: str, result: RemoteTranscript) -> Job:
    job = Job(id=job_id, source=source, state=JobState.PUBLISHED, steps={"published": 1.0})
    return store.save(job, result)


def open_ids(store: StateStore) -> list[str]:
    return [job.id for job in store.open_incomplete(100)]


def test_open_incomplete_lists_every_incomplete_transcript_however_many_came_after(
    store: StateStore,
) -> None:
    published(store, "german", "german.wav", INCOMPLETE)
    for n in range(30):
        published(store, f"clear-{n}", f"clear-{n}.wav", COMPLETE)
    assert open_ids(store) == ["german"]
    assert store.open_incomplete_count() == 1


def test_acknowledged_transcript_is_no_longer_open(store: StateStore) -> None:
    published(store, "german", "german.wav", INCOMPLETE)
    published(store, "spanish", "spanish.wav", INCOMPLETE)
    store.acknowledge("german", now=5.0)
    assert open_ids(store) == ["spanish"]
    assert not store.is_open_incomplete("german")
    assert store.is_open_incomplete("spanish")


def test_acknowledging_twice_keeps_it_closed(store: StateStore) -> None:
    published(store, "german", "german.wav", INCOMPLETE)
    store.acknowledge("german", now=5.0)
    store.acknowledge("german", now=6.0)
    assert open_ids(store) == []


def test_retried_recording_closes_its_earlier_incomplete_transcript(store: StateStore) -> None:
    published(store, "first", "german.wav", INCOMPLETE)
    published(store, "again", "german.wav", COMPLETE)
    assert open_ids(store) == []


def test_retry_that_is_incomplete_again_is_listed_in_place_of_the_first(
    store: StateStore,
) -> None:
    published(store, "first", "german.wav", INCOMPLETE)
    published(store, "again", "german.wav", INCOMPLETE)
    assert open_ids(store) == ["again"]


def test_complete_or_unfinished_jobs_are_not_open_incomplete(store: StateStore) -> None:
    published(store, "clear", "clear.wav", COMPLETE)
    store.save(Job(id="polling", source="p.wav", state=JobState.SUBMITTED))
    assert not store.is_open_incomplete("clear")
    assert not store.is_open_incomplete("polling")
    assert open_ids(store) == []
