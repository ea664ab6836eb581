"""Retry and poll timing: capped exponential backoff with full jitter, Retry-After, poll growth."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropscribe.core.backoff import (
    PollPolicy,
    RetryPolicy,
    attempts_left,
    compute_delay,
    next_poll_delay,
)

RETRY = RetryPolicy(
    max_attempts=5, base_seconds=2.0, cap_seconds=30.0, retry_after_max_seconds=90.0
)
POLL = PollPolicy(
    initial_seconds=2.0, max_seconds=60.0, deadline_seconds=3600.0, growth=1.5, jitter=0.2
)
# The largest float below 1: ``random`` is drawn from [0, 1), so this is its upper end.
ALMOST_ONE = 1.0 - 2.0**-53

randoms = st.floats(min_value=0.0, max_value=ALMOST_ONE)


def test_compute_delay_random_zero_waits_nothing() -> None:
    assert compute_delay(RETRY, 4, 0.0) == 0.0


def test_compute_delay_random_near_one_follows_doubling_up_to_cap() -> None:
    ceilings = [compute_delay(RETRY, attempt, ALMOST_ONE) for attempt in range(1, 8)]
    assert ceilings == pytest.approx([2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0])


def test_compute_delay_half_random_is_half_the_ceiling() -> None:
    assert compute_delay(RETRY, 3, 0.5) == pytest.approx(4.0)


def test_compute_delay_attempt_zero_uses_base_ceiling() -> None:
    assert compute_delay(RETRY, 0, ALMOST_ONE) == pytest.approx(2.0)


def test_compute_delay_huge_attempt_stays_at_cap() -> None:
    # Polling retries transient errors without an attempt limit, so the count can grow large.
    assert compute_delay(RETRY, 5000, ALMOST_ONE) == pytest.approx(30.0)


def test_compute_delay_retry_after_replaces_jitter() -> None:
    assert compute_delay(RETRY, 1, 0.0, retry_after=12.5) == 12.5


def test_compute_delay_retry_after_beyond_cap_is_honoured_up_to_its_maximum() -> None:
    assert compute_delay(RETRY, 1, 0.0, retry_after=60.0) == 60.0


def test_compute_delay_retry_after_too_long_is_clamped() -> None:
    assert compute_delay(RETRY, 1, 0.5, retry_after=10_000.0) == 90.0


def test_compute_delay_retry_after_negative_is_clamped_to_zero() -> None:
    assert compute_delay(RETRY, 1, 0.5, retry_after=-5.0) == 0.0


@given(attempt=st.integers(min_value=-5, max_value=100_000), random=randoms)
def test_compute_delay_any_attempt_between_zero_and_cap(attempt: int, random: float) -> None:
    assert 0.0 <= compute_delay(RETRY, attempt, random) <= RETRY.cap_seconds


@given(
    attempt=st.integers(min_value=1, max_value=100),
    random=randoms,
    retry_after=st.floats(allow_nan=False),
)
def test_compute_delay_any_retry_after_within_zero_and_its_maximum(
    attempt: int, random: float, retry_after: float
) -> None:
    delay = compute_delay(RETRY, attempt, random, retry_after)
    assert 0.0 <= delay <= RETRY.retry_after_max_seconds


def test_attempts_left_before_last_attempt_true() -> None:
    assert attempts_left(RETRY, 4)


def test_attempts_left_at_last_attempt_false() -> None:
    assert not attempts_left(RETRY, 5)


def test_attempts_left_single_attempt_policy_never_retries() -> None:
    assert not attempts_left(RetryPolicy(max_attempts=1, base_seconds=2.0, cap_seconds=300.0), 1)


def test_next_poll_delay_first_poll_without_jitter_is_initial() -> None:
    assert next_poll_delay(POLL, 0, 0.5) == pytest.approx(2.0)


def test_next_poll_delay_grows_geometrically_to_max() -> None:
    delays = [next_poll_delay(POLL, polls, 0.5) for polls in range(0, 12, 2)]
    expected = [min(60.0, 2.0 * 1.5**polls) for polls in range(0, 12, 2)]
    assert delays == pytest.approx(expected)
    assert delays[-1] == 60.0


def test_next_poll_delay_random_zero_shortens_by_jitter() -> None:
    assert next_poll_delay(POLL, 0, 0.0) == pytest.approx(2.0 * 0.8)


def test_next_poll_delay_random_near_one_lengthens_by_jitter() -> None:
    assert next_poll_delay(POLL, 0, ALMOST_ONE) == pytest.approx(2.0 * 1.2)


def test_next_poll_delay_jitter_above_max_is_clipped_to_max() -> None:
    assert next_poll_delay(POLL, 50, ALMOST_ONE) == 60.0


def test_next_poll_delay_at_max_jitters_below_it() -> None:
    assert next_poll_delay(POLL, 50, 0.0) == pytest.approx(48.0)


def test_next_poll_delay_huge_poll_count_stays_at_max() -> None:
    # A long deadline at the maximum interval polls thousands of times.
    assert next_poll_delay(POLL, 5000, 0.5) == 60.0


@given(polls=st.integers(min_value=-5, max_value=100_000), random=randoms)
def test_next_poll_delay_any_poll_count_between_zero_and_max(polls: int, random: float) -> None:
    assert 0.0 <= next_poll_delay(POLL, polls, random) <= POLL.max_seconds


@given(polls=st.integers(min_value=0, max_value=40), random=randoms)
def test_next_poll_delay_any_poll_count_within_jitter_of_its_base(
    polls: int, random: float
) -> None:
    base = min(POLL.max_seconds, POLL.initial_seconds * POLL.growth**polls)
    delay = next_poll_delay(POLL, polls, random)
    assert base * (1 - POLL.jitter) - 1e-9 <= delay <= base * (1 + POLL.jitter) + 1e-9
