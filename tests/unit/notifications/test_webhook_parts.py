"""Webhooks: signatures, retry timing, verdicts, topics and URL masking (pure parts), and the
deliveries table of the state store."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from dropscribe.core.announcements import INSPECT_STEP, Channel, Delivery, Topic, topics_of
from dropscribe.core.jobs import Job, JobState
from dropscribe.notifications import DeliveryPolicy, display_url, next_due
from dropscribe.notifications.signing import signed_headers
from dropscribe.notifications.transport import Verdict, verdict_of, without_credentials
from dropscribe.pipeline.lifecycle import INSPECT
from dropscribe.state import StateStore

SECRET = b"0123456789abcdef0123456789abcdef"
POLICY = DeliveryPolicy(
    first_seconds=5, max_seconds=3600, give_up_seconds=86400, timeout_seconds=10
)


def test_signed_headers_verify_with_the_reference_implementation() -> None:
    body = '{"type": "job.published", "timestamp": "2026-11-30T09:00:00.000Z", "data": {}}'
    headers = signed_headers(SECRET, "msg_1", int(time.time()), body)

    checker = Webhook("whsec_" + base64.b64encode(SECRET).decode())
    assert checker.verify(body, headers) == json.loads(body)


def test_signed_headers_other_body_fails_verification() -> None:
    headers = signed_headers(SECRET, "msg_1", int(time.time()), '{"a": 1}')
    checker = Webhook("whsec_" + base64.b64encode(SECRET).decode())
    with pytest.raises(Exception, match="signature"):
        checker.verify('{"a": 2}', headers)


def test_next_due_delay_doubles_within_its_upper_half() -> None:
    delays = [next_due(POLICY, 0.0, n, 100.0, 0.0) for n in (1, 2, 3)]
    assert delays == [102.5, 105.0, 110.0]
    assert next_due(POLICY, 0.0, 3, 100.0, 0.999) == pytest.approx(120.0, abs=0.01)


def test_next_due_delay_stops_growing_at_the_cap() -> None:
    assert next_due(POLICY, 0.0, 60, 100.0, 0.999) == pytest.approx(100.0 + 3600, abs=4)


def test_next_due_last_try_lands_at_the_give_up_age_then_none() -> None:
    assert next_due(POLICY, 0.0, 30, 86_000.0, 0.5) == 86_400.0
    assert next_due(POLICY, 0.0, 31, 86_400.0, 0.5) is None


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (410, Verdict.GONE)]
    + [(code, Verdict.RETRY) for code in (301, 400, 404, 429, 500, 503)],
)
def test_verdict_of_status(status: int, verdict: Verdict) -> None:
    assert verdict_of(status) is verdict


def test_without_credentials_moves_them_to_basic_authorization() -> None:
    url, auth = without_credentials("https://us%40er:p%3Ass@hooks.example.org:8443/x?y=1")
    assert url == "https://hooks.example.org:8443/x?y=1"
    assert auth == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert without_credentials("https://hooks.example.org/x") == (
        "https://hooks.example.org/x",
        None,
    )


def test_display_url_masks_credentials_and_token_parameters() -> None:
    shown = display_url("https://user:hunter22@hooks.example.org/x?token=abcdef&a=1")
    assert shown == "https://[REDACTED]@hooks.example.org/x?token=[REDACTED]&a=1"


def test_inspect_step_names_the_lifecycle_refusal_step() -> None:
    assert INSPECT_STEP == INSPECT


def _j(state: JobState, **fields: Any) -> Job:
    return Job(id="j", source="a.wav", state=state, **fields)


@pytest.mark.parametrize(
    ("before", "after", "result", "incomplete", "topics"),
    [
        (JobState.SUCCEEDED, _j(JobState.PUBLISHED), None, False, [Topic.JOB_PUBLISHED]),
        (JobState.PUBLISHED, _j(JobState.PUBLISHED), None, False, []),
        (JobState.SUBMITTED, _j(JobState.FAILED), None, False, [Topic.JOB_FAILED]),
        (None, _j(JobState.FAILED, failed_step=INSPECT), None, False,
         [Topic.JOB_FAILED, Topic.FILE_REJECTED]),
        (JobState.CLAIMED, _j(JobState.SUCCEEDED, result_of="e"), {}, False, [Topic.JOB_DUPLICATE]),
        (JobState.SUBMITTED, _j(JobState.SUCCEEDED), {}, True,
         [Topic.TRANSCRIPT_INCOMPLETE]),
        (JobState.SUBMITTED, _j(JobState.SUCCEEDED), {}, False, []),
        (None, Job(id="j", source="a"), None, False, []),
    ],
)  # fmt: skip
def test_topics_of_transition(
    before: JobState | None,
    after: Job,
    result: dict[str, Any] | None,
    incomplete: bool,
    topics: list[Topic],
) -> None:
    assert topics_of(before, after, result, incomplete) == topics


def _one_delivery(
    before: JobState | None, job: Job, result: Mapping[str, Any] | None
) -> Sequence[Delivery]:
    if job.state is not JobState.PUBLISHED or before is JobState.PUBLISHED:
        return ()
    return [
        Delivery(f"msg_{job.id}", Channel.WEBHOOK, "k", Topic.JOB_PUBLISHED, job.id, "{}", 1.0, 1.0)
    ]


def test_state_save_writes_the_deliveries_of_a_transition_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db", _one_delivery)
    job = store.save(Job(id="j1", source="a.wav", state=JobState.SUCCEEDED))
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED, outputs=("x",)))

    assert job.id == "j1"
    assert store.delivery_counts() == {"pending": 1, "abandoned": 0}


def test_state_save_whose_announcer_fails_leaves_the_job_as_it_was(tmp_path: Path) -> None:
    def broken(
        before: JobState | None, job: Job, result: Mapping[str, Any] | None
    ) -> Sequence[Delivery]:
        if job.state is JobState.PUBLISHED:
            raise RuntimeError("cannot announce")
        return ()

    store = StateStore(tmp_path / "state.db", broken)
    store.save(Job(id="j1", source="a.wav", state=JobState.SUCCEEDED))
    with pytest.raises(RuntimeError):
        store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))

    assert store.get("j1").state is JobState.SUCCEEDED  # type: ignore[union-attr]


def test_state_claim_delivery_leases_it_until_its_lease_ends(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db", _one_delivery)
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))

    first = store.claim_delivery(now=10.0, lease_seconds=40.0)
    assert first is not None and first.id == "msg_j1"
    assert store.claim_delivery(now=49.0, lease_seconds=40.0) is None
    again = store.claim_delivery(now=50.0, lease_seconds=40.0)
    assert again is not None and again.id == "msg_j1"


def test_state_claim_delivery_leaves_the_receivers_and_ids_it_is_told_to(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db", _one_delivery)
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))

    assert store.claim_delivery(10.0, 1.0, skip_endpoints=["k"]) is None
    assert store.claim_delivery(10.0, 1.0, skip_ids=["msg_j1"]) is None
    taken = store.claim_delivery(10.0, 1.0, skip_endpoints=["other"], skip_ids=["msg_x"])
    assert taken is not None and taken.id == "msg_j1"


def test_state_delivery_failed_without_due_time_abandons_it(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db", _one_delivery)
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))
    store.delivery_failed("msg_j1", 3, "the receiver answered 410", None, 20.0)

    assert store.delivery_counts() == {"pending": 0, "abandoned": 1}
    assert store.claim_delivery(now=1e12, lease_seconds=1.0) is None
    (abandoned,) = store.abandoned_deliveries(10)
    assert (abandoned.attempts, abandoned.last_error) == (3, "the receiver answered 410")


def test_state_delivered_forgets_the_delivery(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db", _one_delivery)
    store.save(Job(id="j1", source="a.wav", state=JobState.PUBLISHED))
    store.delivered("msg_j1")

    assert store.delivery_counts() == {"pending": 0, "abandoned": 0}
