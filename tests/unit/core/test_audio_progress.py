"""The arithmetic of a long job's progress: percent, rate and time left, with the times of
the readings passed in."""

from __future__ import annotations

import pytest

from dropscribe.core.progress import (
    AudioProgress,
    AudioTally,
    observed,
    percent,
    rate,
    seconds_left,
    tally,
)

T0 = 1_000_000.0


def readings(*points: tuple[float, float], total: float | None = 600.0) -> AudioProgress:
    """The progress after readings (seconds after T0, seconds of audio done)."""
    progress = None
    for after, done in points:
        progress = observed(progress, done, total, T0 + after)
    assert progress is not None
    return progress


def test_observed_first_reading_is_its_own_start() -> None:
    assert readings((5, 20.0)) == AudioProgress(20.0, 600.0, T0 + 5, 20.0, T0 + 5)


def test_observed_later_reading_keeps_the_first() -> None:
    assert readings((5, 20.0), (15, 60.0)) == AudioProgress(60.0, 600.0, T0 + 15, 20.0, T0 + 5)


def test_observed_reading_that_went_back_starts_the_rate_over() -> None:
    # The service lost pieces and went back to 20 s: the work before is not counted.
    assert readings((5, 20.0), (50, 200.0), (60, 20.0)).first_at == T0 + 60


def test_rate_is_audio_done_between_first_and_latest_over_the_time_between() -> None:
    assert rate(readings((5, 20.0), (15, 60.0), (25, 100.0))) == pytest.approx(4.0)


def test_rate_one_reading_gives_none() -> None:
    assert rate(readings((5, 20.0))) is None


def test_rate_no_audio_done_since_the_first_reading_gives_none() -> None:
    assert rate(readings((5, 20.0), (15, 20.0))) is None


def test_seconds_left_is_what_remains_at_the_rate() -> None:
    # 4 audio seconds per second, 500 s of audio to go: 125 s.
    assert seconds_left(readings((5, 20.0), (25, 100.0)), now=T0 + 25) == pytest.approx(125.0)


def test_seconds_left_counts_down_between_readings() -> None:
    assert seconds_left(readings((5, 20.0), (25, 100.0)), now=T0 + 45) == pytest.approx(105.0)


def test_seconds_left_never_below_zero() -> None:
    assert seconds_left(readings((5, 20.0), (25, 100.0)), now=T0 + 9999) == 0.0


def test_seconds_left_one_reading_gives_no_estimate() -> None:
    assert seconds_left(readings((5, 20.0)), now=T0 + 5) is None


def test_seconds_left_without_a_total_gives_no_estimate() -> None:
    assert seconds_left(readings((5, 20.0), (25, 100.0), total=None), now=T0 + 25) is None


def test_seconds_left_after_a_restart_keeps_the_rate_of_the_whole_job() -> None:
    # The job (and its first reading) comes back from the state file after a restart.
    before = readings((5, 20.0), (25, 100.0))
    after = observed(before, 180.0, 600.0, T0 + 45)
    assert rate(after) == pytest.approx(4.0)
    assert seconds_left(after, now=T0 + 45) == pytest.approx(105.0)


def test_percent_is_the_share_of_the_total_done() -> None:
    assert percent(readings((5, 150.0))) == pytest.approx(25.0)


def test_percent_without_a_total_is_none() -> None:
    assert percent(readings((5, 150.0), total=None)) is None


def test_tally_sums_the_jobs_with_a_total_and_counts_finished_ones_whole() -> None:
    running = readings((5, 150.0))
    finished = readings((5, 40.0), total=90.0)
    unknown = readings((5, 300.0), total=None)
    summed = tally([(running, False), (finished, True), (unknown, False)])
    assert summed == AudioTally(done_seconds=240.0, total_seconds=690.0)
