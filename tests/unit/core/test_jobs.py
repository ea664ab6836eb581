"""The job lifecycle: allowed transitions, illegal ones, and what advance records."""

from __future__ import annotations

import itertools

import pytest

from dropscribe.core.jobs import (
    IllegalTransition,
    Job,
    JobState,
    advance,
    audit_fields,
    failure_report,
    iso_utc,
    update,
)

S = JobState
HAPPY_PATH = [
    S.CLAIMED,
    S.UPLOADING,
    S.UPLOADED,
    S.SUBMITTING,
    S.SUBMITTED,
    S.SUCCEEDED,
    S.PUBLISHED,
]
UNFINISHED = [s for s in S if s not in (S.PUBLISHED, S.FAILED)]


def job_in(state: JobState) -> Job:
    return Job(id="job1", source="a/b.wav", state=state, steps={state.value: 1.0})


@pytest.mark.parametrize(("before", "after"), list(itertools.pairwise(HAPPY_PATH)))
def test_advance_happy_path_step_reaches_next_state(before: JobState, after: JobState) -> None:
    assert advance(job_in(before), after, 10.0).state is after


def test_advance_whole_happy_path_records_every_step_time() -> None:
    job = Job(id="job1", source="a.wav", steps={"claimed": 0.0})
    for when, state in enumerate(HAPPY_PATH[1:], start=1):
        job = advance(job, state, float(when))
    assert job.steps == {state.value: float(when) for when, state in enumerate(HAPPY_PATH)}


@pytest.mark.parametrize("before", UNFINISHED)
def test_advance_unfinished_state_to_failed_allowed(before: JobState) -> None:
    assert advance(job_in(before), S.FAILED, 10.0).state is S.FAILED


@pytest.mark.parametrize("after", list(S))
def test_advance_published_to_anything_raises(after: JobState) -> None:
    with pytest.raises(IllegalTransition):
        advance(job_in(S.PUBLISHED), after, 10.0)


@pytest.mark.parametrize("after", [S.UPLOADING, S.UPLOADED, S.SUBMITTING])
def test_advance_submitted_back_to_an_earlier_step_raises(after: JobState) -> None:
    # A submitted job is polled, never uploaded or submitted again with the same request;
    # only a recording that changed after its claim starts over, from the claim.
    with pytest.raises(IllegalTransition):
        advance(job_in(S.SUBMITTED), after, 10.0)


@pytest.mark.parametrize("before", [S.UPLOADED, S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED])
def test_advance_changed_recording_back_to_claimed_is_allowed(before: JobState) -> None:
    assert advance(job_in(before), S.CLAIMED, 10.0).state is S.CLAIMED


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (S.CLAIMED, S.UPLOADED),
        (S.CLAIMED, S.SUBMITTED),
        (S.CLAIMED, S.PUBLISHED),
        (S.UPLOADING, S.SUBMITTED),
        (S.UPLOADED, S.SUBMITTED),
        (S.SUBMITTED, S.PUBLISHED),
        (S.SUCCEEDED, S.SUBMITTED),
        (S.FAILED, S.PUBLISHED),
        (S.FAILED, S.UPLOADING),
        (S.FAILED, S.FAILED),
    ],
)
def test_advance_skipping_or_backward_step_raises(before: JobState, after: JobState) -> None:
    with pytest.raises(IllegalTransition):
        advance(job_in(before), after, 10.0)


def test_advance_illegal_step_message_names_job_and_states() -> None:
    with pytest.raises(IllegalTransition, match=r"job1: published -> uploading"):
        advance(job_in(S.PUBLISHED), S.UPLOADING, 10.0)


def test_advance_illegal_step_leaves_job_unchanged() -> None:
    job = job_in(S.SUBMITTED)
    with pytest.raises(IllegalTransition):
        advance(job, S.UPLOADING, 10.0)
    assert job.state is S.SUBMITTED
    assert job.steps == {"submitted": 1.0}


def test_advance_failed_retry_to_claimed_allowed() -> None:
    assert advance(job_in(S.FAILED), S.CLAIMED, 10.0).state is S.CLAIMED


def test_advance_failed_retry_to_submitted_allowed() -> None:
    assert advance(job_in(S.FAILED), S.SUBMITTED, 10.0).state is S.SUBMITTED


def test_advance_claimed_to_succeeded_allowed_for_a_duplicate() -> None:
    assert advance(job_in(S.CLAIMED), S.SUCCEEDED, 10.0).state is S.SUCCEEDED


@pytest.mark.parametrize("before", [S.UPLOADING, S.UPLOADED, S.SUBMITTING])
def test_advance_interrupted_upload_back_to_uploading_allowed(before: JobState) -> None:
    assert advance(job_in(before), S.UPLOADING, 10.0).state is S.UPLOADING


def test_advance_records_step_time_and_keeps_earlier_ones() -> None:
    job = advance(job_in(S.CLAIMED), S.UPLOADING, 42.5)
    assert job.steps == {"claimed": 1.0, "uploading": 42.5}


def test_advance_reentered_state_records_latest_time() -> None:
    job = advance(job_in(S.FAILED), S.CLAIMED, 2.0)
    assert job.steps["claimed"] == 2.0


def test_advance_changes_applied_with_the_state() -> None:
    job = advance(job_in(S.SUBMITTING), S.SUBMITTED, 5.0, request_id="r1", poll_url="http://p")
    assert (job.request_id, job.poll_url) == ("r1", "http://p")


def test_advance_returns_new_job_and_leaves_original_alone() -> None:
    job = job_in(S.CLAIMED)
    advance(job, S.UPLOADING, 5.0)
    assert job.state is S.CLAIMED
    assert job.steps == {"claimed": 1.0}


def test_update_changes_fields_and_keeps_state_and_steps() -> None:
    job = update(job_in(S.SUBMITTED), polls=3)
    assert (job.state, job.polls, job.steps) == (S.SUBMITTED, 3, {"submitted": 1.0})


@pytest.mark.parametrize("state", list(S))
def test_job_state_is_final_only_for_published_and_failed(state: JobState) -> None:
    assert state.is_final is (state in (S.PUBLISHED, S.FAILED))


def test_audit_fields_carry_sha256_and_request_id_once_known() -> None:
    fresh = Job(id="j1", source="a.wav")
    assert audit_fields(fresh) == {"job_id": "j1", "source": "a.wav"}
    known = update(fresh, sha256="ab" * 32, request_id="req-9")
    assert audit_fields(known) == {
        "job_id": "j1",
        "source": "a.wav",
        "sha256": "ab" * 32,
        "request_id": "req-9",
    }


def test_iso_utc_epoch_is_iso_8601_with_zone() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_780_000_000.25) == "2026-05-28T20:26:40.250Z"


def test_failure_report_step_times_are_iso_8601_with_zone() -> None:
    job = Job(id="j", source="a.wav", steps={"claimed": 0.5, "failed": 61.0})
    report = failure_report(job)
    assert report["steps"] == {
        "claimed": "1970-01-01T00:00:00.500Z",
        "failed": "1970-01-01T00:01:01.000Z",
    }
