"""The pipeline's steps with in-test fakes for the service, the outbox and custody.

The state store is the real one (SQLite in a temporary folder): what it holds between steps
is exactly what a restarted daemon would find.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from dropscribe.api_client import PollProgress, PollResult, RemoteStatus, Submission
from dropscribe.app import wake_poll
from dropscribe.core import errors
from dropscribe.core.backoff import PollPolicy, RetryPolicy
from dropscribe.core.jobs import Job, JobState, advance, update
from dropscribe.core.progress import AudioProgress
from dropscribe.core.transcript_fields import remote_transcript
from dropscribe.pipeline import AuthGate, Clock, Lifecycle, Options, Pipeline, Steps
from dropscribe.pipeline.gates.outage import ServiceGate
from dropscribe.pipeline.gates.pause import ProbeTiming
from dropscribe.pipeline.gates.storage import StorageGate
from dropscribe.pipeline.outcomes import MAX_RESENDS
from dropscribe.pipeline.quality import QualityPolicy
from dropscribe.speakers import ChannelLabeller
from dropscribe.state import StateStore

#: A time in ISO 8601, UTC, with its zone, as the outputs carry them.
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

RESULT = {"text": "hello world", "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": "hi"}]}


def poll_result(status: RemoteStatus, **kw: Any) -> PollResult:
    fields: dict[str, Any] = {
        "raw_status": status.value,
        "result": None,
        "error": None,
        "model": "tiny.en",
        "accepted_at": None,
        "started_at": None,
        "completed_at": None,
    }
    fields.update(kw)
    return PollResult(status=status, **fields)


@dataclass
class FakeRemote:
    """Answers each call from a script; a script entry that is an exception is raised (None in
    ``submits``: that submit is answered as usual)."""

    store: StateStore | None = None
    polls: list[PollResult | Exception] = field(default_factory=list)
    uploads: list[Exception] = field(default_factory=list)
    submits: list[Exception | None] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    seen_states: list[tuple[str, str]] = field(default_factory=list)
    check: Callable[[str], None] | None = None
    urls: int = 0

    def get_upload_url(self, extension: str) -> str:
        self.urls += 1
        self.calls.append(("upload_url", extension))
        return f"http://svc/up/{self.urls}.{extension}?signature=s{self.urls}"

    def upload(self, url: str, path: Path) -> None:
        self.calls.append(("upload", url))
        if self.check:
            self.check("upload")
        if self.uploads:
            raise self.uploads.pop(0)

    def submit(self, upload_url: str, params: Mapping[str, Any], key: str) -> Submission:
        self.calls.append(("submit", key))
        if self.check:
            self.check("submit")
        scripted = self.submits.pop(0) if self.submits else None
        if scripted is not None:
            raise scripted
        return Submission("req-1", "http://svc/poll/req-1", RemoteStatus.ACCEPTED, "tiny.en", "ok")

    def poll(self, poll_url: str) -> PollResult:
        self.calls.append(("poll", poll_url))
        item = self.polls.pop(0) if self.polls else poll_result(RemoteStatus.PROCESSING)
        if isinstance(item, Exception):
            raise item
        return item

    def count(self, name: str) -> int:
        return sum(1 for call, _ in self.calls if call == name)


@dataclass
class FakeOutbox:
    published: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def publish(
        self, rel: str, job_id: str, result: Mapping[str, Any], provenance: Mapping[str, Any]
    ) -> list[Path]:
        self.published.append((rel, job_id, dict(result), dict(provenance)))
        return [Path(f"/out/{rel}.txt")]


@dataclass
class FakeCustody:
    root: Path
    completed: list[str] = field(default_factory=list)
    failed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def processing_path(self, rel: str) -> Path:
        return self.root / rel

    def complete(self, rel: str, *, delete: bool = False) -> Path | None:
        self.completed.append(rel)
        return Path(f"/done/{rel}")

    def fail(self, rel: str, report: Mapping[str, Any], *, from_inbox: bool = False) -> Path:
        self.failed.append((rel, dict(report)))
        return Path(f"/failed/{rel}")

    def restore(self, failed_rel: str, *, as_rel: str | None = None) -> Path:
        return self.root / (as_rel or failed_rel)


@dataclass
class FakeScheduler:
    scheduled: list[tuple[str, str, float]] = field(default_factory=list)
    holds: list[float] = field(default_factory=list)

    def hold(self, seconds: float) -> None:
        self.holds.append(seconds)

    def schedule(self, job_id: str, pool: str, delay: float = 0.0) -> None:
        self.scheduled.append((job_id, pool, delay))

    def knows(self, job_id: str) -> bool:
        return False


@dataclass
class World:
    store: StateStore
    remote: FakeRemote
    outbox: FakeOutbox
    custody: FakeCustody
    scheduler: FakeScheduler
    pipeline: Pipeline
    now: list[float]

    def job(self, job_id: str) -> Job:
        found = self.store.get(job_id)
        assert found is not None
        return found


OPTIONS = Options(
    whisper_input={"language": "en"},
    fingerprint="fp",
    service_tier="cpuflex",
    retry=RetryPolicy(max_attempts=3, base_seconds=1.0, cap_seconds=10.0),
    poll=PollPolicy(initial_seconds=2.0, max_seconds=8.0, deadline_seconds=3600.0),
)


def build_world(tmp_path: Path, options: Options = OPTIONS) -> World:
    store = StateStore(tmp_path / "state.db")
    remote = FakeRemote(store=store)
    outbox = FakeOutbox()
    processing = tmp_path / "processing"
    processing.mkdir()
    custody = FakeCustody(processing)
    scheduler = FakeScheduler()
    now = [1000.0]
    clock = Clock(time=lambda: now[0], random=lambda: 0.5)
    log = structlog.get_logger()
    lifecycle = Lifecycle(store, custody, log, clock.time, (processing, tmp_path / "failed"))
    gate = AuthGate(scheduler.hold, log, clock.time)
    steps = Steps(store, remote, outbox, custody, log, options, clock, gate.accepted)
    service = ServiceGate(scheduler.hold, log, clock.time, ProbeTiming(5.0, 60.0))
    storage = StorageGate(scheduler.hold, log, clock.time, ProbeTiming(5.0, 60.0), store.probe)
    pipeline = Pipeline(
        store, steps, lifecycle, gate, scheduler, log, options, clock, service, storage
    )
    return World(store, remote, outbox, custody, scheduler, pipeline, now)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path)
    yield built
    built.store.close()


def guarded_world(tmp_path: Path, fail_incomplete: bool) -> World:
    """A world whose pipeline finds speech over 0-20 s of every recording (the fake result's
    segments cover far less of it)."""

    def speech(path: Path) -> list[tuple[float, float]]:
        return [(0.0, 20.0)]

    quality = QualityPolicy(0.95, fail_incomplete)
    return build_world(tmp_path, dataclasses.replace(OPTIONS, quality=quality, speech=speech))


def claim(world: World, name: str = "a.wav", content: bytes = b"RIFF....WAVEdata") -> Job:
    (world.custody.root / name).write_bytes(content)
    return world.pipeline.accept(name)


def events(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [entry["event"] for entry in logs]


def test_pipeline_transfer_happy_path_ends_submitted_with_request_id(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    done = world.job(job.id)
    assert done.state is JobState.SUBMITTED
    assert (done.request_id, done.poll_url) == ("req-1", "http://svc/poll/req-1")
    assert len(done.sha256) == 64
    assert [c for c, _ in world.remote.calls] == ["upload_url", "upload", "submit"]


def test_pipeline_each_transition_is_committed_before_the_remote_call(world: World) -> None:
    job = claim(world)
    seen: list[tuple[str, str]] = []
    world.remote.check = lambda call: seen.append((call, world.job(job.id).state.value))
    world.pipeline.run_transfer(job.id)
    assert seen == [("upload", "uploading"), ("submit", "submitting")]


def test_pipeline_submission_uses_the_jobs_idempotency_key(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    assert ("submit", job.idempotency_key) in world.remote.calls


def test_pipeline_poll_success_publishes_and_completes_the_source(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [
        poll_result(RemoteStatus.PROCESSING),
        poll_result(RemoteStatus.SUCCESS, result=RESULT),
    ]
    world.pipeline.run_poll(job.id)
    assert world.job(job.id).state is JobState.SUBMITTED
    assert world.job(job.id).polls == 1
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    final = world.job(job.id)
    assert final.state is JobState.PUBLISHED
    assert world.outbox.published[0][2] == RESULT
    assert world.outbox.published[0][3]["request_id"] == "req-1"
    step_times = world.outbox.published[0][3]["steps"]
    assert set(step_times) >= {"claimed", "submitted", "succeeded"}
    assert all(ISO_UTC.match(when) for when in step_times.values())
    assert world.custody.completed == ["a.wav"]
    assert world.outbox.published[0][0] == "a"
    assert {"job.succeeded", "job.published", "job.summary"} <= set(events(logs))


def test_pipeline_publish_resumed_after_the_move_to_done_publishes_once(world: World) -> None:
    # A crash after publishing moved the recording to done/ and before it saved `published`:
    # the restarted daemon finds the job succeeded and its recording gone from processing/.
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    succeeded = advance(world.job(job.id), JobState.SUCCEEDED, 1001.0)
    world.store.save(succeeded, remote_transcript(RESULT))
    world.custody.processing_path(job.source).unlink()
    world.pipeline.recover()
    world.pipeline.run_poll(job.id)
    final = world.job(job.id)
    assert (final.state, final.error) == (JobState.PUBLISHED, None)
    assert [p[2] for p in world.outbox.published] == [RESULT]
    assert world.custody.failed == []


def test_pipeline_poll_interval_grows_to_the_maximum(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    for _ in range(8):
        world.pipeline.run_poll(job.id)
    delays = [d for _, pool, d in world.scheduler.scheduled if pool == "poll"][1:]
    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(2.0)
    assert delays[-1] == pytest.approx(8.0)


def test_pipeline_submitted_job_is_never_submitted_again(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.pipeline.run_transfer(job.id)
    world.pipeline.recover()
    world.pipeline.run_transfer(job.id)
    assert world.remote.count("submit") == 1


def test_pipeline_recover_resends_an_interrupted_submit_with_the_same_key(world: World) -> None:
    job = claim(world)
    j = world.job(job.id)
    j = advance(j, JobState.UPLOADING, 1.0, upload_url="http://svc/up/9.wav?signature=x")
    j = advance(j, JobState.UPLOADED, 2.0)
    world.store.save(advance(j, JobState.SUBMITTING, 3.0))
    with capture_logs() as logs:
        world.pipeline.recover()
    world.pipeline.run_transfer(job.id)
    assert "submit.resent" in events(logs)
    assert world.remote.calls == [("submit", job.idempotency_key)]
    assert world.job(job.id).state is JobState.SUBMITTED


def test_pipeline_recover_restarts_an_interrupted_upload_with_a_fresh_url(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)  # sha256 known; then pretend we died mid-upload
    j = update(world.job(job.id), state=JobState.UPLOADING, upload_url="http://old?signature=x")
    world.store.save(j)
    world.remote.calls.clear()
    world.pipeline.run_transfer(job.id)
    assert [c for c, _ in world.remote.calls] == ["upload_url", "upload", "submit"]
    assert world.remote.calls[1][1] != "http://old?signature=x"


def test_pipeline_transient_error_retries_with_backoff(world: World) -> None:
    job = claim(world)
    world.remote.submits = [errors.TransientApiError("503 from the service", status=503)]
    with capture_logs() as logs:
        world.pipeline.run_transfer(job.id)
    after = world.job(job.id)
    assert after.state is JobState.SUBMITTING
    assert after.attempts == 1
    assert "job.retry" in events(logs)
    _, pool, delay = world.scheduler.scheduled[-1]
    assert (pool, delay) == ("transfer", 0.5)


def test_pipeline_retry_after_is_honoured(world: World) -> None:
    job = claim(world)
    world.remote.submits = [errors.TransientApiError("429", status=429, retry_after=7.0)]
    world.pipeline.run_transfer(job.id)
    assert world.scheduler.scheduled[-1][2] == pytest.approx(7.0)


def test_pipeline_too_many_transient_errors_fail_the_job(world: World) -> None:
    job = claim(world)
    world.remote.submits = [errors.TransientApiError("boom", status=502)] * 3
    for _ in range(3):
        world.pipeline.run_transfer(job.id)
    failed = world.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == "boom (after 3 attempts)"
    assert world.custody.failed[0][0] == "a.wav"
    assert world.custody.failed[0][1]["attempts"] == 3


def test_pipeline_permanent_error_fails_at_once(world: World) -> None:
    job = claim(world)
    world.remote.submits = [errors.PermanentApiError("422: bad input", status=422)]
    with capture_logs() as logs:
        world.pipeline.run_transfer(job.id)
    assert world.job(job.id).state is JobState.FAILED
    assert "job.failed" in events(logs)


def test_pipeline_auth_error_pauses_once_and_resumes_when_the_key_works(world: World) -> None:
    first, second = claim(world, "a.wav"), claim(world, "b.wav", b"other content")
    world.remote.submits = [
        errors.AuthError("401", status=401),
        errors.AuthError("401", status=401),
    ]
    with capture_logs() as logs:
        world.pipeline.run_transfer(first.id)
        world.pipeline.run_transfer(second.id)
    assert events(logs).count("auth.paused") == 1
    assert world.scheduler.holds == [5.0]
    assert world.job(first.id).state is JobState.SUBMITTING
    assert world.job(first.id).attempts == 0
    world.now[0] += 10
    with capture_logs() as logs:
        world.pipeline.run_transfer(first.id)
    assert "auth.resumed" in events(logs)
    assert world.job(first.id).state is JobState.SUBMITTED


def test_pipeline_expired_upload_url_gets_a_fresh_one(world: World) -> None:
    job = claim(world)
    world.remote.uploads = [errors.UploadUrlExpired("403 on PUT", status=403)]
    world.pipeline.run_transfer(job.id)
    assert world.job(job.id).upload_url is None
    world.pipeline.run_transfer(job.id)
    assert world.remote.count("upload_url") == 2
    assert world.job(job.id).state is JobState.SUBMITTED


def test_pipeline_remote_failure_fails_the_job_and_keeps_the_poll_url(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [poll_result(RemoteStatus.FAILED, error="not decodable audio")]
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == "not decodable audio"
    assert failed.poll_url == "http://svc/poll/req-1"


def test_pipeline_poll_deadline_fails_with_a_clear_reason(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.now[0] += 3601
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and "no result within 1 hours" in failed.error
    assert failed.poll_url is not None


def test_pipeline_unknown_status_is_reported_and_polling_goes_on(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [poll_result(RemoteStatus.UNKNOWN, raw_status="thinking")]
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    assert world.job(job.id).state is JobState.SUBMITTED
    unknown = [e for e in logs if e["event"] == "poll.unknown_status"]
    assert unknown and unknown[0]["status"] == "thinking"


def test_pipeline_same_content_again_reuses_the_result_without_api_calls(world: World) -> None:
    first = claim(world, "a.wav")
    world.pipeline.run_transfer(first.id)
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=RESULT)]
    world.pipeline.run_poll(first.id)
    world.remote.calls.clear()
    second = claim(world, "copy of a.wav")
    with capture_logs() as logs:
        world.pipeline.run_transfer(second.id)
    assert world.remote.calls == []
    assert world.job(second.id).state is JobState.PUBLISHED
    assert world.job(second.id).result_of == first.id
    assert world.outbox.published[-1][0] == "copy of a"
    assert world.outbox.published[-1][2] == RESULT
    assert "job.duplicate" in events(logs)


def test_pipeline_file_changed_during_upload_starts_over(world: World) -> None:
    job = claim(world)

    def grow(call: str) -> None:
        if call == "upload":
            with (world.custody.root / "a.wav").open("ab") as handle:
                handle.write(b"more")

    world.remote.check = grow
    world.pipeline.run_transfer(job.id)
    assert world.job(job.id).state is JobState.CLAIMED
    assert world.remote.count("submit") == 0


def submitted_with_a_broken_outbox(world: World) -> Job:
    """Return a job whose poll succeeds and whose publishing raises an unexpected error."""
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=RESULT)]

    def broken(*args: Any, **kwargs: Any) -> list[Path]:
        raise KeyError("start")

    world.outbox.publish = broken  # type: ignore[method-assign]
    return job


def test_pipeline_unexpected_error_fails_the_job_and_keeps_the_worker(world: World) -> None:
    job = submitted_with_a_broken_outbox(world)
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.startswith("internal error")


def test_pipeline_poll_errors_past_the_deadline_fail_the_job(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.now[0] += 3601
    world.remote.polls = [errors.TransientApiError("503", status=503)]
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and "no result within" in failed.error


def test_wake_poll_schedules_the_submitted_job_at_once(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.scheduler.scheduled.clear()
    wake_poll(world.store, world.scheduler, "req-1")  # type: ignore[arg-type]
    wake_poll(world.store, world.scheduler, "unknown-request")  # type: ignore[arg-type]
    assert world.scheduler.scheduled == [(job.id, "poll", 0.0)]


def test_pipeline_twin_of_a_job_in_flight_waits_then_reuses_its_result(world: World) -> None:
    first = claim(world, "a.wav")
    world.pipeline.run_transfer(first.id)
    second = claim(world, "a copy.wav")
    with capture_logs() as logs:
        world.pipeline.run_transfer(second.id)
    assert world.job(second.id).state is JobState.CLAIMED
    assert [e.get("leader_job_id") for e in logs if e["event"] == "job.waiting"] == [first.id]
    world.scheduler.scheduled.clear()
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=RESULT)]
    world.pipeline.run_poll(first.id)
    assert world.scheduler.scheduled == [(second.id, "transfer", 0.0)]
    world.pipeline.run_transfer(second.id)
    assert world.job(second.id).state is JobState.PUBLISHED
    assert world.job(second.id).result_of == first.id
    assert world.remote.count("submit") == 1


def test_pipeline_twin_goes_on_its_own_when_the_one_in_flight_fails(world: World) -> None:
    first = claim(world, "a.wav")
    world.pipeline.run_transfer(first.id)
    second = claim(world, "a copy.wav")
    world.pipeline.run_transfer(second.id)
    world.remote.polls = [poll_result(RemoteStatus.FAILED, error="the service crashed")]
    world.pipeline.run_poll(first.id)
    assert (second.id, "transfer", 0.0) in world.scheduler.scheduled
    world.pipeline.run_transfer(second.id)
    assert world.job(second.id).state is JobState.SUBMITTED
    assert world.remote.count("submit") == 2


def test_pipeline_waiting_twin_is_not_hashed_again(world: World) -> None:
    first = claim(world, "a.wav")
    world.pipeline.run_transfer(first.id)
    second = claim(world, "a copy.wav")
    world.pipeline.run_transfer(second.id)
    # Other bytes under the same size and mtime: a second hash would see a different file.
    path = world.custody.root / "a copy.wav"
    stat = path.stat()
    path.write_bytes(bytes(reversed(path.read_bytes())))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    world.pipeline.run_transfer(second.id)
    assert world.job(second.id).state is JobState.CLAIMED


def test_pipeline_internal_error_emits_one_job_failed(world: World) -> None:
    job = submitted_with_a_broken_outbox(world)
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    assert events(logs).count("job.failed") == 1


def test_pipeline_failure_report_has_one_shape_for_refusals_and_step_failures(
    world: World,
) -> None:
    job = claim(world)
    world.remote.submits = [errors.PermanentApiError("422: bad input", status=422)]
    world.pipeline.run_transfer(job.id)
    lifecycle = Lifecycle(
        world.store, world.custody, structlog.get_logger(), lambda: 0.0, (Path("/"), Path("/"))
    )
    with capture_logs() as logs:
        lifecycle.refuse("b.wav", "not audio", "drop a recording")
    (_, step_report), (_, refusal_report) = world.custody.failed
    assert step_report.keys() == refusal_report.keys()
    assert refusal_report["step"] == "inspect"
    assert refusal_report["hint"] == "drop a recording"
    assert events(logs) == ["job.failed", "file.rejected"]


HALF_SEGMENT = {"start": 0.0, "end": 2.0, "text": "two words"}


def poll_to_success(world: World) -> Job:
    world.remote.polls = [
        poll_result(RemoteStatus.SUCCESS, result={"text": "hi", "segments": [HALF_SEGMENT]})
    ]
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.pipeline.run_poll(job.id)
    return world.job(job.id)


def test_pipeline_incomplete_remote_result_published_marked_and_audited(tmp_path: Path) -> None:
    world = guarded_world(tmp_path, fail_incomplete=False)
    with capture_logs() as logs:
        job = poll_to_success(world)
    world.store.close()
    assert job.state is JobState.PUBLISHED
    (_, _, result, _) = world.outbox.published[0]
    assert result["complete"] is False
    assert result["coverage"]["uncovered"]
    assert "transcript.incomplete" in events(logs)


def test_pipeline_incomplete_result_with_fail_policy_goes_to_failed(tmp_path: Path) -> None:
    world = guarded_world(tmp_path, fail_incomplete=True)
    with capture_logs() as logs:
        job = poll_to_success(world)
    world.store.close()
    assert job.state is JobState.FAILED
    assert world.outbox.published == []
    assert world.custody.failed and "speech" in (job.error or "")
    assert "transcript.incomplete" in events(logs)


def test_pipeline_remote_failure_report_does_not_advise_polling_again(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [poll_result(RemoteStatus.FAILED, error="not decodable audio")]
    world.pipeline.run_poll(job.id)
    (_, report), *_ = world.custody.failed
    assert "poll the same request again" not in report["hint"]
    assert "drop a repaired copy" in report["hint"]


def test_pipeline_poll_deadline_report_advises_polling_again(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.now[0] += 3601
    world.pipeline.run_poll(job.id)
    (_, report), *_ = world.custody.failed
    assert "poll the same request again" in report["hint"]


# --- speaker labels between the result and publishing ----------------------------------------

CHANNEL_RESULT = {
    "text": "hello there hi",
    "segments": [
        {"id": 1, "start": 0.0, "end": 1.0, "text": "hello there", "channel": 1},
        {"id": 2, "start": 0.5, "end": 1.5, "text": "hi", "channel": 2},
    ],
}


def speakers_world(tmp_path: Path) -> World:
    labeller = ChannelLabeller(["Agent", "Caller"])
    return build_world(tmp_path, dataclasses.replace(OPTIONS, speakers=labeller))


def publish_result(world: World, result: dict[str, Any]) -> Job:
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=result)]
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.pipeline.run_poll(job.id)
    return world.job(job.id)


def test_pipeline_speakers_labelled_before_publishing(tmp_path: Path) -> None:
    world = speakers_world(tmp_path)
    with capture_logs() as logs:
        job = publish_result(world, CHANNEL_RESULT)
    world.store.close()
    assert job.state is JobState.PUBLISHED
    (_, _, result, _) = world.outbox.published[0]
    assert [s["speaker"] for s in result["segments"]] == ["Agent", "Caller"]
    assert [s["speaker"] for s in result["speakers"]] == ["Agent", "Caller"]
    assert events(logs).index("diarize.done") < events(logs).index("job.published")


def test_pipeline_speakers_failure_publishes_unlabelled_with_reason(tmp_path: Path) -> None:
    world = speakers_world(tmp_path)
    with capture_logs() as logs:
        job = publish_result(world, RESULT)  # no channel on its segments: labelling fails
    world.store.close()
    assert job.state is JobState.PUBLISHED
    (_, _, result, _) = world.outbox.published[0]
    assert "speaker" not in result["segments"][0]
    assert "no channel" in result["diarization"]["error"]
    failed = [entry for entry in logs if entry["event"] == "diarize.failed"]
    assert failed and failed[0]["error"] == result["diarization"]["error"]


class Crash(BaseException):
    """Stands for the process dying: no handler of the pipeline catches it."""


def test_pipeline_speakers_labelled_once_when_publishing_resumes(tmp_path: Path) -> None:
    world = speakers_world(tmp_path)
    publish = world.outbox.publish

    def killed(*args: Any, **kwargs: Any) -> list[Path]:
        raise Crash()

    world.outbox.publish = killed  # type: ignore[method-assign]
    with capture_logs() as logs:
        with pytest.raises(Crash):
            publish_result(world, CHANNEL_RESULT)
        (job,) = world.store.unfinished()
        saved = world.store.result(job.id)
        assert job.state is JobState.SUCCEEDED
        assert saved is not None and saved["diarization"] == {"method": "channels"}
        world.outbox.publish = publish  # type: ignore[method-assign]
        world.pipeline.run_poll(job.id)  # publishing again, as the restarted daemon does
    state = world.job(job.id).state
    world.store.close()
    assert state is JobState.PUBLISHED
    assert events(logs).count("diarize.started") == 1
    assert world.outbox.published[-1][2]["speakers"] == saved["speakers"]


def transfer_each(world: World, jobs: Sequence[Job], seconds_apart: float = 4.0) -> None:
    for job in jobs:
        world.pipeline.run_transfer(job.id)
        world.now[0] += seconds_apart
    world.now[0] -= seconds_apart


def test_pipeline_outage_pauses_all_work_without_burning_attempts(world: World) -> None:
    jobs = [claim(world, f"{n}.wav", f"content {n}".encode()) for n in range(5)]
    world.remote.submits = [errors.TransientApiError("503", status=503)] * 6
    with capture_logs() as logs:
        transfer_each(world, jobs)  # failing from 0 s: the fourth, at 12 s, is an outage
    assert events(logs).count("service.unavailable") == 1
    # Three attempts counted before the outage was plain; none from the fourth on.
    assert [world.job(j.id).attempts for j in jobs] == [1, 1, 1, 0, 0]
    assert world.scheduler.holds == [5.0]
    assert world.remote.count("submit") == 4  # the fifth job was turned away, no call made


def test_pipeline_flaky_calls_are_retried_without_a_pause(world: World) -> None:
    jobs = [claim(world, f"{n}.wav", f"content {n}".encode()) for n in range(8)]
    down = errors.TransientApiError("503", status=503)
    # Most calls failing over 28 s, but every third goes through: flaky, not down.
    world.remote.submits = [down, down, None, down, down, None, down, down]
    with capture_logs() as logs:
        transfer_each(world, jobs)
    assert "service.unavailable" not in events(logs)
    assert events(logs).count("job.retry") == 6
    assert world.scheduler.holds == []


def test_pipeline_flaky_service_backoff_stays_short_for_an_unlucky_job(world: World) -> None:
    a, b = claim(world, "a.wav", b"content a"), claim(world, "b.wav", b"content b")
    transfer_each(world, [a, b], seconds_apart=0.0)
    down = errors.TransientApiError("503", status=503)
    processing = poll_result(RemoteStatus.PROCESSING)
    # a's polls fail four times in a row, b's between them go through.
    world.remote.polls = [down, processing] * 4
    with capture_logs() as logs:
        for _ in range(4):
            world.pipeline.run_poll(a.id)
            world.pipeline.run_poll(b.id)
            world.now[0] += 1.0
    retries = [e for e in logs if e["event"] == "job.retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3, 4]
    # Each a first retry's wait (base 1 s, jitter 0.5), not 0.5, 1, 2, 4 s.
    assert [e["delay_seconds"] for e in retries] == [0.5] * 4


def test_pipeline_outage_probe_that_goes_through_wakes_the_parked_jobs(world: World) -> None:
    jobs = [claim(world, f"{n}.wav", f"content {n}".encode()) for n in range(5)]
    world.remote.submits = [errors.TransientApiError("503", status=503)] * 4
    transfer_each(world, jobs)
    world.now[0] += 5.0
    world.scheduler.scheduled.clear()
    with capture_logs() as logs:
        world.pipeline.run_transfer(jobs[3].id)  # the probe: the service answers again
    assert "service.available" in events(logs)
    assert world.job(jobs[3].id).state is JobState.SUBMITTED
    woken = {job_id for job_id, _, delay in world.scheduler.scheduled if delay == 0.0}
    assert jobs[4].id in woken  # the parked fifth goes on at once, not at its park time
    # So do the first three, backing off from the calls that failed before the pause.
    assert {j.id for j in jobs[:3]} <= woken
    assert jobs[3].id not in woken  # the probe itself is polled at its usual time
    assert all(world.job(j.id).state is not JobState.FAILED for j in jobs)


def test_pipeline_full_disk_parks_the_job_without_failing_it(world: World) -> None:
    job = claim(world)
    world.remote.submits = [OSError(errno.ENOSPC, "No space left on device")]
    with capture_logs() as logs:
        world.pipeline.run_transfer(job.id)
    assert events(logs).count("storage.full") == 1
    assert "job.failed" not in events(logs)
    assert world.job(job.id).state is not JobState.FAILED
    assert world.job(job.id).attempts == 0
    assert world.pipeline.pauses().keys() == {"storage"}


def test_pipeline_full_disk_probe_that_writes_wakes_the_parked_job(world: World) -> None:
    job = claim(world)
    world.remote.submits = [OSError(errno.ENOSPC, "No space left on device")]
    world.pipeline.run_transfer(job.id)
    world.pipeline.run_transfer(job.id)  # turned away while paused: no call made
    assert world.remote.count("submit") == 1
    world.now[0] += 5.0
    world.scheduler.scheduled.clear()
    assert world.pipeline.probe_storage()
    assert (job.id, "transfer", 0.0) in world.scheduler.scheduled
    world.pipeline.run_transfer(job.id)
    assert world.job(job.id).state is JobState.SUBMITTED


def grow(world: World, name: str = "a.wav") -> None:
    """The writer was not done: more bytes land in the claimed recording."""
    path = world.custody.root / name
    with path.open("ab") as handle:
        handle.write(b" the rest of the recording")


SUCCESS = {"text": "hello", "segments": [{"start": 0.0, "end": 1.0, "text": "hello"}]}


def test_pipeline_change_after_submission_submits_the_whole_file_anew(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    first_key = world.job(job.id).idempotency_key
    grow(world)
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    restarted = [e for e in logs if e["event"] == "job.restarted"]
    assert [(e["step"], e["superseded_request_id"]) for e in restarted] == [("submitted", "req-1")]
    assert world.remote.count("poll") == 0  # the stale request is not even polled
    world.pipeline.run_transfer(job.id)
    again = world.job(job.id)
    assert again.state is JobState.SUBMITTED and again.superseded == ("req-1",)
    assert again.idempotency_key != first_key  # a new submission, not the stale one again
    assert again.size == len(b"RIFF....WAVEdata the rest of the recording")
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=SUCCESS)]
    world.pipeline.run_poll(job.id)
    (_, _, _, provenance), *_ = world.outbox.published
    assert provenance["superseded_request_ids"] == ["req-1"]


def test_pipeline_change_before_publish_never_publishes_the_first_result(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=SUCCESS)]

    grow_on_poll = world.remote.poll

    def poll_then_grow(poll_url: str) -> PollResult:
        answer = grow_on_poll(poll_url)
        grow(world)  # the writer appends while the service transcribes the first part
        return answer

    world.remote.poll = poll_then_grow  # type: ignore[method-assign]
    world.pipeline.run_poll(job.id)
    assert world.outbox.published == []
    assert world.job(job.id).state is JobState.CLAIMED
    assert world.job(job.id).superseded == ("req-1",)


def test_pipeline_change_before_a_resent_submit_restarts_without_submitting(
    world: World,
) -> None:
    job = claim(world)
    world.remote.submits = [errors.TransientApiError("503", status=503)]
    world.pipeline.run_transfer(job.id)  # uploaded; the submit is to be tried again
    grow(world)
    world.pipeline.run_transfer(job.id)
    assert world.job(job.id).state is JobState.CLAIMED
    assert world.remote.count("submit") == 1  # the stale upload was never submitted again


def touch(world: World, name: str = "a.wav", seconds: int = 7) -> None:
    """A backup tool or `touch`: the mtime moves, the bytes stay."""
    path = world.custody.root / name
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_pipeline_touched_recording_is_not_sent_again(world: World) -> None:
    job = claim(world)
    world.remote.check = lambda call: touch(world) if call == "upload" else None
    world.pipeline.run_transfer(job.id)  # touched during the upload
    assert world.job(job.id).state is JobState.SUBMITTED
    touch(world, seconds=11)  # and twice more while it is polled
    world.pipeline.run_poll(job.id)
    touch(world, seconds=13)
    world.remote.polls = [poll_result(RemoteStatus.SUCCESS, result=SUCCESS)]
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    final = world.job(job.id)
    assert final.state is JobState.PUBLISHED
    assert (world.remote.count("upload"), world.remote.count("submit")) == (1, 1)
    assert final.superseded == ()
    assert final.mtime_ns == (world.custody.root / "a.wav").stat().st_mtime_ns
    assert "job.restarted" not in events(logs)
    assert events(logs).count("job.touched") == 1


def test_pipeline_same_size_other_bytes_is_a_change(world: World) -> None:
    job = claim(world, content=b"RIFF....WAVEdata")
    world.pipeline.run_transfer(job.id)
    path = world.custody.root / "a.wav"
    path.write_bytes(b"RIFF....WAVEDATA")  # rewritten in place, same length
    touch(world)
    world.pipeline.run_poll(job.id)
    assert world.job(job.id).state is JobState.CLAIMED
    assert world.job(job.id).superseded == ("req-1",)


def processing(done: float, total: float | None = 600.0) -> PollResult:
    return poll_result(RemoteStatus.PROCESSING, progress=PollProgress(done, total))


def test_pipeline_poll_progress_is_stored_with_its_first_reading(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [processing(20.0), processing(60.0)]
    world.pipeline.run_poll(job.id)
    world.now[0] += 10
    world.pipeline.run_poll(job.id)
    stored = world.job(job.id).progress
    assert stored == AudioProgress(60.0, 600.0, 1010.0, 20.0, 1000.0)


def test_pipeline_poll_without_progress_keeps_the_last_reading(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [processing(20.0), poll_result(RemoteStatus.PROCESSING)]
    world.pipeline.run_poll(job.id)
    world.now[0] += 10
    world.pipeline.run_poll(job.id)
    assert world.job(job.id).progress == AudioProgress(20.0, 600.0, 1000.0, 20.0, 1000.0)


def test_pipeline_poll_status_event_carries_the_progress(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [processing(20.0), poll_result(RemoteStatus.PROCESSING)]
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
        world.pipeline.run_poll(job.id)
    polls = [e for e in logs if e["event"] == "poll.status"]
    assert (polls[0]["audio_seconds_done"], polls[0]["audio_seconds_total"]) == (20.0, 600.0)
    assert "audio_seconds_done" not in polls[1]


def test_lifecycle_requeued_job_measures_its_progress_anew(tmp_path: Path) -> None:
    # The time a job spent failed was no work of the service: its rate starts over.
    (tmp_path / "failed").mkdir()
    kept = tmp_path / "failed" / "a.wav"
    kept.write_bytes(b"RIFF....WAVEdata")
    store = StateStore(tmp_path / "state.db")
    reading = AudioProgress(20.0, 600.0, 1000.0, 20.0, 1000.0)
    failed = Job(
        id="j1", source="a.wav", state=JobState.FAILED, poll_url="http://svc/poll/req-1",
        request_id="req-1", failed_path=str(kept), progress=reading,
    )  # fmt: skip
    store.save(failed)
    custody = FakeCustody(tmp_path / "processing")
    folders = (tmp_path / "processing", tmp_path / "failed")
    lifecycle = Lifecycle(store, custody, structlog.get_logger(), lambda: 2000.0, folders)
    try:
        assert lifecycle.requeue(failed) == ""
        requeued = store.get("j1")
        assert requeued is not None and requeued.state is JobState.SUBMITTED
        assert requeued.progress is None
    finally:
        store.close()


def test_pipeline_job_sent_anew_after_a_change_measures_its_progress_anew(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [processing(20.0)]
    world.pipeline.run_poll(job.id)
    assert world.job(job.id).progress is not None
    grow(world)
    world.pipeline.run_poll(job.id)
    assert world.job(job.id).state is JobState.CLAIMED
    assert world.job(job.id).progress is None


# --- a request the service lost or refused ------------------------------------------------


def lost(status: int = 404) -> errors.PermanentApiError:
    return errors.PermanentApiError(f"poll: HTTP {status}", status=status, step="poll")


def test_pipeline_poll_404_of_an_accepted_request_sends_it_again_from_the_upload(
    world: World,
) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [lost()]
    with capture_logs() as logs:
        world.pipeline.run_poll(job.id)
    resent = world.job(job.id)
    assert (resent.state, resent.resends, resent.superseded) == (JobState.CLAIMED, 1, ("req-1",))
    assert resent.idempotency_key != job.idempotency_key
    assert events(logs)[:2] == ["job.lost", "job.resent"]
    world.pipeline.run_transfer(job.id)
    assert world.job(job.id).state is JobState.SUBMITTED
    keys = [key for call, key in world.remote.calls if call == "submit"]
    assert keys == [job.idempotency_key, resent.idempotency_key]


def test_pipeline_poll_404_after_the_most_resends_fails_for_retry_to_send_anew(
    world: World,
) -> None:
    job = claim(world)
    for _ in range(MAX_RESENDS + 1):
        world.pipeline.run_transfer(job.id)
        world.remote.polls = [lost()]
        world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert (failed.state, failed.resends, failed.request_over) == (
        JobState.FAILED, MAX_RESENDS, True,
    )  # fmt: skip
    assert world.remote.count("submit") == MAX_RESENDS + 1
    (_, report), *_ = world.custody.failed
    assert "retry" in report["hint"] and "poll the same request" not in report["hint"]


def test_pipeline_poll_other_refusal_fails_for_retry_to_poll_again(world: World) -> None:
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    world.remote.polls = [lost(400)]
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    assert (failed.state, failed.resends, failed.request_over) == (JobState.FAILED, 0, False)
    assert world.remote.count("submit") == 1


def test_pipeline_refusal_over_a_limit_names_the_setting_that_lifts_it(tmp_path: Path) -> None:
    limits = {"max_audio_hours": "embedded.max_audio_hours"}
    world = build_world(tmp_path, dataclasses.replace(OPTIONS, limit_settings=limits))
    job = claim(world)
    world.pipeline.run_transfer(job.id)
    reason = "the audio is 11 s long; this server accepts at most 3 s (max_audio_hours)"
    world.remote.polls = [poll_result(RemoteStatus.FAILED, error=reason)]
    world.pipeline.run_poll(job.id)
    failed = world.job(job.id)
    world.store.close()
    assert (failed.state, failed.request_over) == (JobState.FAILED, True)
    (_, report), *_ = world.custody.failed
    assert "raise embedded.max_audio_hours" in report["hint"]
    assert "repaired copy" not in report["hint"]


def test_lifecycle_requeue_of_a_refused_request_sends_it_anew(tmp_path: Path) -> None:
    (tmp_path / "failed").mkdir()
    kept = tmp_path / "failed" / "a.wav"
    kept.write_bytes(b"RIFF....WAVEdata")
    store = StateStore(tmp_path / "state.db")
    failed = Job(
        id="j1", source="a.wav", state=JobState.FAILED, poll_url="http://svc/poll/req-1",
        request_id="req-1", idempotency_key="k1", failed_path=str(kept), request_over=True,
        resends=MAX_RESENDS,
    )  # fmt: skip
    store.save(failed)
    custody = FakeCustody(tmp_path / "processing")
    folders = (tmp_path / "processing", tmp_path / "failed")
    lifecycle = Lifecycle(store, custody, structlog.get_logger(), lambda: 2000.0, folders)
    try:
        assert lifecycle.requeue(failed) == ""
        requeued = store.get("j1")
    finally:
        store.close()
    assert requeued is not None and requeued.state is JobState.CLAIMED
    assert (requeued.request_id, requeued.poll_url, requeued.superseded) == (None, None, ("req-1",))
    assert requeued.idempotency_key not in (None, "k1")
    assert (requeued.resends, requeued.request_over) == (0, False)
