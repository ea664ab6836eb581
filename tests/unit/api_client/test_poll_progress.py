"""A running job's progress in a poll answer, an extension of the protocol: read where it is
usable, ignored (never an error) where it is not."""

from __future__ import annotations

from typing import Any

import pytest

from dropscribe.api_client import PollProgress, parse_poll


def progress_of(progress: Any, *, envelope: bool = False) -> PollProgress | None:
    body: dict[str, Any] = {"status": "processing", "progress": progress}
    return parse_poll({"response": body} if envelope else body).progress


def test_parse_poll_progress_reads_seconds_done_and_in_all() -> None:
    reading = {"audioSecondsDone": 40.0, "audioSecondsTotal": 93.1}
    assert progress_of(reading) == PollProgress(40.0, 93.1)


def test_parse_poll_progress_under_response_is_read_too() -> None:
    reading = {"audioSecondsDone": 20, "audioSecondsTotal": 60}
    assert progress_of(reading, envelope=True) == PollProgress(20.0, 60.0)


def test_parse_poll_without_progress_has_none() -> None:
    assert parse_poll({"status": "processing"}).progress is None


def test_parse_poll_progress_done_past_the_total_is_clamped_to_it() -> None:
    reading = {"audioSecondsDone": 95.0, "audioSecondsTotal": 93.1}
    assert progress_of(reading) == PollProgress(93.1, 93.1)


def test_parse_poll_progress_null_total_is_unknown() -> None:
    reading = {"audioSecondsDone": 40.0, "audioSecondsTotal": None}
    assert progress_of(reading) == PollProgress(40.0, None)


@pytest.mark.parametrize("total", [-5, 0, "93", True, float("inf"), [93]])
def test_parse_poll_progress_unusable_total_is_unknown(total: object) -> None:
    reading = {"audioSecondsDone": 40.0, "audioSecondsTotal": total}
    assert progress_of(reading) == PollProgress(40.0, None)


@pytest.mark.parametrize(
    "progress",
    [
        "half",
        42,
        [40, 93],
        {},
        {"audioSecondsTotal": 93.0},
        {"audioSecondsDone": -1.0, "audioSecondsTotal": 93.0},
        {"audioSecondsDone": "40", "audioSecondsTotal": 93.0},
        {"audioSecondsDone": None, "audioSecondsTotal": 93.0},
        {"audioSecondsDone": False, "audioSecondsTotal": 93.0},
        {"audioSecondsDone": float("nan"), "audioSecondsTotal": 93.0},
        {"audioSecondsDone": 10**400, "audioSecondsTotal": 93.0},
    ],
)
def test_parse_poll_unusable_progress_is_ignored(progress: object) -> None:
    assert progress_of(progress) is None


def test_parse_poll_unusable_progress_keeps_the_rest_of_the_answer() -> None:
    polled = parse_poll({"status": "processing", "model": "tiny.en", "progress": "half"})
    assert (polled.status.value, polled.model, polled.progress) == ("processing", "tiny.en", None)
