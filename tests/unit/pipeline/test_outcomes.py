"""The outcome policy: pure decisions on a failed step."""

from __future__ import annotations

import pytest

from dropscribe.config import Retry
from dropscribe.core import errors
from dropscribe.core.backoff import PollPolicy, RetryPolicy, compute_delay
from dropscribe.core.jobs import Job, JobState
from dropscribe.pipeline.gates.auth import AUTH_PAUSE_MAX_SECONDS, AUTH_TIMING
from dropscribe.pipeline.gates.pause import probe_wait
from dropscribe.pipeline.outcomes import Action, decide

RETRY = RetryPolicy(max_attempts=3, base_seconds=1.0, cap_seconds=10.0)
POLL = PollPolicy(initial_seconds=2.0, max_seconds=8.0, deadline_seconds=3600.0)
NOW = 10_000.0


def job(state: JobState = JobState.UPLOADED, attempts: int = 0, submitted: float = NOW) -> Job:
    return Job(
        id="j", source="a.wav", state=state, attempts=attempts, steps={"submitted": submitted}
    )


def test_decide_refused_key_pauses() -> None:
    outcome = decide(errors.AuthError("401", status=401), job(), NOW, RETRY, POLL, 0.5)
    assert outcome.action is Action.PAUSE


def test_decide_retryable_error_retries_with_the_next_attempt_and_backoff() -> None:
    exc = errors.TransientApiError("503", status=503, step="submit")
    outcome = decide(exc, job(attempts=1), NOW, RETRY, POLL, 1.0)
    assert (outcome.action, outcome.attempt, outcome.step) == (Action.RETRY, 2, "submit")
    assert outcome.delay == pytest.approx(2.0)


def test_decide_flaky_service_backoff_grows_with_the_failures_in_a_row_not_the_attempts() -> None:
    # The job's sixth failure in a row, but the call before this one went through: the
    # service is flaky, and the retry waits at most the base, not 2**5 times it.
    polling = job(JobState.SUBMITTED, attempts=5)
    exc = errors.TransientApiError("503", status=503)
    outcome = decide(exc, polling, NOW, RETRY, POLL, 0.999, failing_in_a_row=1)
    assert outcome.attempt == 6
    assert outcome.delay <= RETRY.base_seconds


def test_decide_calls_failing_in_a_row_grow_the_backoff_up_to_the_jobs_attempts() -> None:
    polling = job(JobState.SUBMITTED, attempts=2)
    exc = errors.TransientApiError("503", status=503)
    outcome = decide(exc, polling, NOW, RETRY, POLL, 1.0, failing_in_a_row=30)
    assert outcome.delay == pytest.approx(4.0)  # the third attempt's ceiling: 1 * 2**2


def test_decide_retryable_error_on_the_last_attempt_fails() -> None:
    outcome = decide(errors.TransientApiError("503"), job(attempts=2), NOW, RETRY, POLL, 0.5)
    assert (outcome.action, outcome.attempt) == (Action.FAIL, 3)


def test_decide_poll_error_past_the_deadline_fails_with_the_deadline_reason() -> None:
    polling = job(JobState.SUBMITTED, submitted=NOW - 3601)
    outcome = decide(errors.TransientApiError("503"), polling, NOW, RETRY, POLL, 0.5)
    assert outcome.action is Action.FAIL
    assert outcome.reason.startswith("no result within 1 hours")


def test_decide_poll_error_keeps_polling_whatever_the_attempts() -> None:
    polling = job(JobState.SUBMITTED, attempts=50)
    outcome = decide(errors.TransientApiError("503"), polling, NOW, RETRY, POLL, 0.5)
    assert outcome.action is Action.RETRY


def test_decide_expired_upload_url_is_dropped_for_a_fresh_one() -> None:
    uploading = job(JobState.UPLOADING)
    outcome = decide(errors.UploadUrlExpired("403 on PUT"), uploading, NOW, RETRY, POLL, 0.5)
    assert outcome.drop_upload_url


def test_decide_permanent_error_fails_at_once() -> None:
    outcome = decide(errors.PermanentApiError("422"), job(), NOW, RETRY, POLL, 0.5)
    assert (outcome.action, outcome.reason) == (Action.FAIL, "422")


def test_decide_bug_fails_as_internal_error() -> None:
    outcome = decide(KeyError("x"), job(), NOW, RETRY, POLL, 0.5)
    assert outcome.action is Action.FAIL
    assert outcome.reason == "internal error: KeyError('x')"


def test_auth_pause_after_each_refusal_doubles_up_to_the_cap() -> None:
    # The n-th refusal in a row is the (n - 1)-th failed probe of the pause the first began.
    assert [probe_wait(AUTH_TIMING, n - 1) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert probe_wait(AUTH_TIMING, 30 - 1) == AUTH_PAUSE_MAX_SECONDS


# The retry section's defaults, as the settings build them: no count, a 24-hour budget.
DEFAULT_RETRY = RetryPolicy(
    max_attempts=Retry().max_attempts,
    base_seconds=Retry().base_seconds,
    cap_seconds=Retry().cap_seconds,
    give_up_seconds=Retry().give_up_after_hours * 3600.0,
)
HOUR = 3600.0


def uploading_since(claimed: float, attempts: int) -> Job:
    steps = {"claimed": claimed, "uploading": NOW - 1.0}  # a fresh URL at each try
    return Job(id="j", source="a.wav", state=JobState.UPLOADING, attempts=attempts, steps=steps)


def test_decide_default_settings_transient_errors_for_23_hours_still_retry() -> None:
    # The old count (8 tries, ~2 minutes) is gone: 500 tries over 23 hours is still a retry.
    stalled = uploading_since(NOW - 23 * HOUR, attempts=500)
    outcome = decide(errors.TransientApiError("503"), stalled, NOW, DEFAULT_RETRY, POLL, 0.5)
    assert (outcome.action, outcome.attempt) == (Action.RETRY, 501)


def test_decide_default_settings_transient_errors_past_24_hours_fail() -> None:
    stalled = uploading_since(NOW - 24 * HOUR - 1, attempts=600)
    outcome = decide(errors.TransientApiError("503"), stalled, NOW, DEFAULT_RETRY, POLL, 0.5)
    assert outcome.action is Action.FAIL
    assert "still failing after 24 hours" in outcome.reason


def test_decide_budget_counts_from_the_last_progress_not_the_claim() -> None:
    # Claimed 30 hours ago, uploaded an hour ago: the submit has 23 hours left.
    job = Job(
        id="j",
        source="a.wav",
        state=JobState.SUBMITTING,
        attempts=40,
        steps={"claimed": NOW - 30 * HOUR, "uploaded": NOW - HOUR, "submitting": NOW - 1},
    )
    outcome = decide(errors.TransientApiError("503"), job, NOW, DEFAULT_RETRY, POLL, 0.5)
    assert outcome.action is Action.RETRY


def test_decide_default_settings_permanent_error_still_fails_at_once() -> None:
    fresh = uploading_since(NOW - 1.0, attempts=0)
    exc = errors.PermanentApiError("422: bad input", status=422)
    assert decide(exc, fresh, NOW, DEFAULT_RETRY, POLL, 0.5).action is Action.FAIL


def test_default_retry_waits_out_a_multi_minute_outage_within_the_cap() -> None:
    # Backoff arithmetic of the defaults: even the longest draw (random -> 1) never waits more
    # than the cap, so a recording is tried again at most 5 minutes after an outage ends.
    delays = [compute_delay(DEFAULT_RETRY, attempt, 0.999) for attempt in range(1, 400)]
    assert max(delays) <= 300.0
    assert sum(delays) > 24 * HOUR  # 400 tries already span more than the budget
