"""How ``status`` shows a long job's progress: percent and an estimate of the time left once
two readings exist, in words and in ``--json``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropscribe.app.commands.job_progress import progress_json, progress_text, spoken
from dropscribe.app.commands.status import StatusReport, format_status
from dropscribe.core.progress import AudioProgress

T0 = 1_800_000_000.0
#: 2 h 24 min of audio; 3600 s done, 2400 s of them in the 600 s since the first reading.
LECTURE = AudioProgress(3600.0, 8640.0, T0 + 600, 1200.0, T0)


def in_flight(progress: AudioProgress | None, now: float) -> StatusReport:
    job: dict[str, object] = {
        "job_id": "f" * 32,
        "source": "lecture.opus",
        "profile": None,
        "state": "submitted",
        "age_seconds": 900.0,
        "attempts": 0,
        "request_id": "r",
        "progress": progress_json(progress, now),
    }
    return StatusReport({"submitted": 1}, [job], [], None, [], Path("s.db"))


def test_status_running_job_shows_percent_of_its_length_and_the_time_left() -> None:
    # 5040 s of audio to go at 4 audio seconds a second: 1260 s, 21 min.
    text = format_status(in_flight(LECTURE, T0 + 600))
    assert "lecture.opus  42 % of 2 h 24 min, about 21 min left" in text


def test_status_time_left_counts_down_between_readings() -> None:
    assert "about 16 min left" in format_status(in_flight(LECTURE, T0 + 900))


def test_status_one_reading_shows_percent_without_an_estimate() -> None:
    first = AudioProgress(3600.0, 8640.0, T0, 3600.0, T0)
    line = format_status(in_flight(first, T0 + 5)).splitlines()[-1]
    assert line.endswith("lecture.opus  42 % of 2 h 24 min")


def test_status_unknown_total_shows_the_audio_done() -> None:
    text = format_status(in_flight(AudioProgress(3600.0, None, T0, 3600.0, T0), T0))
    assert "lecture.opus  1 h of audio done" in text


def test_status_job_without_progress_shows_none() -> None:
    line = format_status(in_flight(None, T0)).splitlines()[-1]
    assert line.endswith("lecture.opus")


def test_status_json_carries_the_progress_figures() -> None:
    flight = in_flight(LECTURE, T0 + 600).in_flight
    assert flight[0]["progress"] == {
        "audio_seconds_done": 3600.0,
        "audio_seconds_total": 8640.0,
        "percent": pytest.approx(41.7, abs=0.05),
        "seconds_left": 1260,
        "at": "2027-01-15T08:10:00.000Z",
    }


def test_status_json_one_reading_has_no_estimate() -> None:
    figures = progress_json(AudioProgress(3600.0, 8640.0, T0, 3600.0, T0), T0)
    assert figures is not None and figures["seconds_left"] is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(40, "40 s"), (90, "2 min"), (1860, "31 min"), (3600, "1 h"), (8640, "2 h 24 min")],
)
def test_spoken_duration_to_the_minute(seconds: float, words: str) -> None:
    assert spoken(seconds) == words


def test_progress_text_without_progress_is_empty() -> None:
    assert progress_text(None) == ""
