"""What an engine worker does with one job: claim it, fetch its recording, run the engine, store
the result.

The engine is ``engine.Engine`` as the embedded server uses it. Broker and storage outages are
retried with backoff (outages.retrying) and recorded for /healthz; a stop or a job still held by
a live worker ends the delivery with ``dramatiq.Retry``, so the message comes back later and
nothing is lost. A cancelled job is abandoned at the next segment and stays cancelled.

Nothing read from Redis or the queue is used unchecked (``untrusted``): a message with an odd
job id is dropped, one naming a model this worker was not started with fails its job, and a
job whose upload record is odd fails without a download. Only the upload's version pinned at
submit (size and ETag) is downloaded, never more than the worker's limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dramatiq

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import WhisperInput, transcribe_args
from dropscribe.engine.protocol import Engine
from dropscribe.engine.stream import ResumableEngine
from dropscribe.scaleout.book import Claim, RedisJobBook
from dropscribe.scaleout.gathering import Gatherer
from dropscribe.scaleout.objects import ObjectRefused, ObjectStore, ObjectVersion
from dropscribe.scaleout.outages import BROKER, STORAGE, Backoff, Outages, Unavailable, retrying
from dropscribe.scaleout.untrusted import Untrusted, checked_job_id, checked_spec, checked_upload
from dropscribe.server.batch_jobs import BATCH_UPLOAD_LIMIT_BYTES
from dropscribe.server.checkpoints import Checkpoints, declared_seconds
from dropscribe.server.job_status import JobStatus
from dropscribe.server.options import DEFAULT_MAX_UPLOAD_BYTES
from dropscribe.server.records import JobRecord, Progress

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Retries of a broker or bucket call: from half a second, doubling, at most 30 s apart.
DEFAULT_BACKOFF = Backoff()

#: Seconds between checks, during a transcription, whether its job was cancelled.
CANCEL_CHECK_SECONDS = 1.0


def upload_object_key(objects: ObjectStore, upload_id: str, extension: str) -> str:
    """Return the bucket key of an upload."""
    return objects.location.key("uploads", f"{upload_id}.{extension}")


@dataclass(frozen=True)
class Outcome:
    """A job's end: its transcript, or the error a person reads."""

    result: Transcript | None
    error: str | None


class OwnedPieces:
    """The job book's pieces as one worker keeps them: only while it owns the job, and a
    piece Redis cannot take now is left out (the job runs on; a later run that finds the
    pieces out of order starts over)."""

    def __init__(self, book: RedisJobBook, owner: str, outages: Outages) -> None:
        self._book = book
        self._owner = owner
        self._outages = outages

    def keep_piece(
        self, job_id: str, channel: int, index: int, result: str, progress: Progress
    ) -> bool:
        try:
            return self._book.keep_piece(job_id, self._owner, channel, index, result, progress)
        except Unavailable as problem:
            self._outages.failed(BROKER, problem.message)
            return False

    def pieces(self, job_id: str) -> list[str]:
        return self._book.pieces(job_id)

    def forget_pieces(self, job_id: str) -> None:
        self._book.forget_pieces(job_id)


class JobRunner:
    """Runs jobs for the actor of one worker process; safe to call from several threads."""

    def __init__(
        self,
        book: RedisJobBook,
        objects: ObjectStore,
        engine: Engine,
        owner: str,
        scratch: Path,
        outages: Outages,
        stopping: threading.Event,
        policy: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.time,
        gatherer: Gatherer | None = None,
        specs: Collection[str] = (),
        max_download_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        """``gatherer``, when given, runs small recordings of concurrent jobs as one batch.
        ``specs`` are the models this worker was started with: a message naming another is
        refused. No upload larger than ``max_download_bytes`` is downloaded."""
        self._specs = frozenset(specs)
        self._max_download = max_download_bytes
        self._book = book
        self._objects = objects
        self._engine = engine
        self._owner = owner
        self._scratch = scratch
        self._outages = outages
        self._stopping = stopping
        self._policy = policy
        self._clock = clock
        self._gatherer = gatherer

    def run(self, job_id: object, spec: object) -> None:
        """Run the job with the model ``spec``, both as the queue message gives them. Raise
        dramatiq.Retry to have it delivered again."""
        try:
            checked_id = checked_job_id(job_id)
        except Untrusted as refused:
            log.warning("a queue message was dropped: %s", refused.reason)
            return
        try:
            checked = checked_spec(spec, self._specs)
        except Untrusted as refused:
            log.warning("job %s is failed: %s", checked_id, refused.reason)
            self._fail(checked_id, "the job's queue message names a model this worker lacks")
            return
        self._run(checked_id, checked)

    def _run(self, job_id: str, spec: str) -> None:
        label = self._engine.label(spec)
        claim = self._retried(lambda: self._book.claim(job_id, label, self._clock(), self._owner))
        if claim is Claim.HELD:
            raise dramatiq.Retry(f"job {job_id} is still held by a live worker")
        job = self._retried(lambda: self._book.get(job_id)) if claim is Claim.CLAIMED else None
        if job is None:
            return  # ended, cancelled, expired, or failed for killing its workers
        try:
            outcome = self._outcome(job, spec)
        except (Interrupted, *Unavailable) as exc:
            self._give_back(job_id)
            if self._stopping.is_set():
                raise dramatiq.Retry(f"job {job_id} stopped with its worker") from exc
            return  # cancelled
        self._end(job_id, outcome)

    def _fail(self, job_id: str, error: str) -> None:
        """Fail a job without running it, if it is still waiting."""
        job = self._retried(lambda: self._book.get(job_id))
        if job is None:
            return
        claim = self._retried(
            lambda: self._book.claim(job_id, job.model, self._clock(), self._owner)
        )
        if claim is Claim.CLAIMED:
            self._end(job_id, Outcome(None, error))

    def _end(self, job_id: str, outcome: Outcome) -> None:
        finished = self._retried(
            lambda: self._book.finish(
                job_id, self._owner, outcome.result, outcome.error, self._clock()
            )
        )
        if not finished:
            self._discarded(job_id)

    def _discarded(self, job_id: str) -> None:
        """Log a result this worker had to drop: its job was cancelled, taken over by another
        worker, or is gone from Redis (flushed, or Redis restarted without persistence; the
        client that submitted it gets 404 and sends the recording again)."""
        status = self._status(job_id)
        why = (
            "the job is gone from Redis (flushed, or restarted without persistence)"
            if status is None
            else f"the job is {status.value} and no longer this worker's"
        )
        log.warning("job %s: its result was discarded: %s", job_id, why)

    def _outcome(self, job: JobRecord, spec: str) -> Outcome:
        fields = self._retried(lambda: self._book.upload_fields(job.upload_id))
        try:
            upload = checked_upload(job.upload_id, fields)
        except Untrusted as refused:
            log.warning("job %s is failed: %s", job.job_id, refused.reason)
            return Outcome(None, "the job's upload record is not valid; submit the file again")
        # Both parts of the name are this worker's own: a canonical UUID, a listed extension.
        audio = self._scratch / f"{job.job_id}.{upload.extension}"
        try:
            key = upload_object_key(self._objects, upload.upload_id, upload.extension)
            pinned = ObjectVersion(upload.size, upload.etag)
            self._storage(lambda: self._objects.download(key, audio, pinned, self._max_download))
            return Outcome(self._transcribe(job, spec, audio), None)
        except FileNotFoundError:
            return Outcome(None, "the uploaded file is no longer in the bucket")
        except ObjectRefused as exc:
            log.warning("job %s is failed: %s", job.job_id, exc)
            return Outcome(None, str(exc))
        except EngineError as exc:
            return Outcome(None, str(exc))
        except (Interrupted, *Unavailable):
            raise
        except Exception as exc:
            # A worker must outlive any one bad job; the traceback goes to the log only.
            log.exception("job %s failed unexpectedly", job.job_id)
            return Outcome(None, f"the engine failed unexpectedly: {type(exc).__name__}")
        finally:
            audio.unlink(missing_ok=True)

    def _transcribe(self, job: JobRecord, spec: str, audio: Path) -> Transcript:
        args = transcribe_args(WhisperInput.model_validate_json(job.params))
        should_stop = self._stop_check(job.job_id)
        gatherer = self._gatherer
        small = audio.stat().st_size <= BATCH_UPLOAD_LIMIT_BYTES
        if gatherer is not None and small and gatherer.takes(audio):
            return gatherer.transcribe(spec, job.params, audio, args, should_stop)
        if isinstance(self._engine, ResumableEngine):
            pieces = OwnedPieces(self._book, self._owner, self._outages)
            checkpoints = Checkpoints(pieces, job.job_id, declared_seconds(audio))
            done = self._retried(checkpoints.done)
            return self._engine.transcribe_from(
                spec, audio, args, should_stop, done, checkpoints.keep
            )
        return self._engine.transcribe(spec, audio, args, should_stop)

    def _stop_check(self, job_id: str) -> Callable[[], bool]:
        last = [0.0]
        cancelled = [False]

        def should_stop() -> bool:
            now = time.monotonic()
            if not cancelled[0] and now - last[0] >= CANCEL_CHECK_SECONDS:
                last[0] = now
                cancelled[0] = self._status(job_id) is JobStatus.CANCELLED
            return cancelled[0] or self._stopping.is_set()

        return should_stop

    def _status(self, job_id: str) -> JobStatus | None:
        try:
            return self._book.status(job_id)
        except Unavailable as problem:
            # Unknown for now: the job runs on, and the next check asks again.
            self._outages.failed(BROKER, problem.message)
            return None

    def _give_back(self, job_id: str) -> None:
        try:
            self._book.release(job_id, self._owner)
        except Unavailable:
            # The job stays ours until our liveness key expires; then it is taken over.
            log.warning("job %s could not be released; it is taken over later", job_id)

    def _retried(self, call: Callable[[], T]) -> T:
        return retrying(call, BROKER, self._outages, self._policy, self._stopping.wait)

    def _storage(self, call: Callable[[], T]) -> T:
        return retrying(call, STORAGE, self._outages, self._policy, self._stopping.wait)
