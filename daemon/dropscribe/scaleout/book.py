"""The shared job store of the scale-out mode: jobs, idempotency keys, uploads and counters in
Redis, which every front end and worker reads and writes.

Each change is one Lua script, so it is atomic across front ends and workers: two front ends
given the same Idempotency-Key create one job, and status moves are guarded the way the SQLite
store guards them in SQL (cancel, claim and finish cannot undo each other). Run Redis with
``appendonly yes`` (README "Scaling out"): with ``appendfsync everysec`` a crash of Redis loses at
most the last second.

A job belongs to the worker that claimed it while that worker's liveness key exists (each
worker process refreshes it; it expires OWNER_TTL_SECONDS after a SIGKILL). A message delivered
again for a job whose owner is gone takes it over and counts a crash; at MAX_CRASHES the job is
failed, so a recording that kills its worker cannot do so forever.

Finished and cancelled jobs, their idempotency keys and upload records expire after the
retention; unfinished ones never do. Redis errors leave as BrokerUnavailable (503, retryable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import TypeVar

import redis

from dropscribe.core.transcript import Transcript
from dropscribe.scaleout import book_scripts as scripts
from dropscribe.scaleout.outages import BrokerUnavailable
from dropscribe.server.job_status import JobStatus
from dropscribe.server.problems import ApiProblem
from dropscribe.server.records import Admission, Counters, JobRecord, Progress, UploadRecord

T = TypeVar("T")

#: Prefix of every key this store writes (the task queue uses its own namespace).
NAMESPACE = "dropscribe"

#: Seconds a worker's liveness key outlives its last refresh; a SIGKILLed worker's jobs may be
#: taken over this long after its death. Refreshed every third of it.
OWNER_TTL_SECONDS = 15

#: Worker deaths under one job after which that job is failed instead of run again.
MAX_CRASHES = 2

#: The answer to a second submit of one upload (the first job may be reading it).
UPLOAD_TAKEN_MESSAGE = "this upload was already submitted; request a new upload URL for a new file"

_FIELDS = (
    "route", "model", "upload_id", "params", "status", "accepted_at", "started_at",
    "completed_at", "result", "error",
)  # fmt: skip


class Claim(IntEnum):
    """What a worker's claim of a job found."""

    GONE = 0  # finished, cancelled or expired: nothing to run
    CLAIMED = 1  # the worker runs it now
    HELD = 2  # a live worker still runs it
    FAILED = 3  # taken over once too often: failed instead


def _key(*parts: str) -> str:
    return ":".join((NAMESPACE, *parts))


def job_key(job_id: str) -> str:
    """Return the Redis key of a job's hash."""
    return _key("job", job_id)


def pieces_key(job_id: str) -> str:
    """Return the Redis key of the hash of a running job's finished pieces (its checkpoints:
    ``server.checkpoints``), field ``<channel>:<index>``."""
    return _key("pieces", job_id)


def upload_key(upload_id: str) -> str:
    """Return the Redis key of an upload's record."""
    return _key("upload", upload_id)


def liveness_key(owner: str) -> str:
    """Return the Redis key that exists while the worker ``owner`` is alive."""
    return _key("alive", owner)


_COUNTERS = _key("counters")
_WAITING = _key("waiting")
_NO_KEY = _key("idempotency", "")


def job_fields(job: JobRecord, idem_key: str | None) -> dict[str, str]:
    """Return the hash fields of a new job (None values are left out)."""
    values: dict[str, object] = {
        "route": job.route, "model": job.model, "upload_id": job.upload_id,
        "params": job.params, "status": job.status.value, "accepted_at": job.accepted_at,
        "idem_key": idem_key,
    }  # fmt: skip
    return {name: str(value) for name, value in values.items() if value is not None}


def job_from_hash(job_id: str, fields: dict[str, str]) -> JobRecord:
    """Return the JobRecord a job hash holds."""

    def number(name: str) -> float | None:
        return float(fields[name]) if name in fields else None

    result = json.loads(fields["result"]) if "result" in fields else None
    done = number("progress_done")
    return JobRecord(
        job_id, fields["route"], fields["model"], fields["upload_id"], fields["params"],
        JobStatus(fields["status"]), float(fields["accepted_at"]), number("started_at"),
        number("completed_at"), result, fields.get("error"),
        None if done is None else Progress(done, number("progress_total")),
    )  # fmt: skip


class RedisJobBook:
    """Jobs, idempotency keys, uploads and counters in Redis; safe to share between threads."""

    def __init__(self, client: redis.Redis, retention_seconds: float) -> None:
        self._redis = client
        self._retention = max(1, int(retention_seconds))
        self._admit = client.register_script(scripts.ADMIT)
        self._claim = client.register_script(scripts.CLAIM)
        self._finish = client.register_script(scripts.FINISH)
        self._cancel = client.register_script(scripts.CANCEL)
        self._release = client.register_script(scripts.RELEASE)
        self._mark_pending = client.register_script(scripts.MARK_PENDING)
        self._keep_piece = client.register_script(scripts.KEEP_PIECE)

    @property
    def retention_seconds(self) -> int:
        """Return how long ended jobs and idle uploads are kept, in seconds."""
        return self._retention

    def ping(self) -> None:
        """Return once Redis answers. Raise BrokerUnavailable if it does not."""
        with _reachable():
            self._redis.ping()

    def issue_upload(self, upload_id: str, extension: str, now: float, ttl: float) -> None:
        """Remember an upload URL this service issued, for ``ttl`` seconds plus the retention."""
        with _reachable():
            key = upload_key(upload_id)
            self._redis.hset(key, mapping={"extension": extension, "issued_at": str(now)})
            self._redis.expire(key, int(ttl) + self._retention)

    def issued_extension(self, upload_id: str) -> str | None:
        """Return the extension an issued upload was signed for, or None if never issued."""
        with _reachable():
            value = self._redis.hget(upload_key(upload_id), "extension")
        return _text(value)

    def upload_fields(self, upload_id: str) -> dict[str, str]:
        """Return the fields of an upload's record as stored (empty if there is none); what
        they hold is not checked here (``untrusted.checked_upload`` does that)."""
        with _reachable():
            raw = self._redis.hgetall(upload_key(upload_id))
        return {_text(k) or "": _text(v) or "" for k, v in raw.items()}

    def upload_job(self, upload_id: str) -> str | None:
        """Return the id of the job that submitted this upload, or None."""
        with _reachable():
            return _text(self._redis.hget(upload_key(upload_id), "job_id"))

    def admit(
        self, job: JobRecord, key: str | None, fingerprint: str, upload: UploadRecord | None = None
    ) -> Admission:
        """Insert a new accepted job, or return the job an earlier use of ``key`` created, and
        pin the ``upload`` it names (its size and ETag) for the worker. Raise ApiProblem 409 if
        another job already submitted that upload."""
        idem = _key("idempotency", key) if key is not None else None
        fields = job_fields(job, idem)
        pairs = [item for pair in fields.items() for item in pair]
        keys = [
            job_key(job.job_id),
            _COUNTERS,
            _WAITING,
            idem or _NO_KEY,
            upload_key(job.upload_id),
        ]
        pin = [str(upload.size), upload.etag] if upload is not None else ["", ""]
        args = ["1" if idem else "0", fingerprint, job.job_id, job_key(""), *pin, *pairs]
        with _reachable():
            created, job_id, earlier_fingerprint = self._admit(keys=keys, args=args)
            if created == scripts.UPLOAD_TAKEN:
                raise ApiProblem(409, UPLOAD_TAKEN_MESSAGE)
            if created:
                return Admission(job, True)
            found = self.get(_text(job_id) or "")
        if found is None:
            raise BrokerUnavailable("the job of this Idempotency-Key vanished; submit again")
        return Admission(found, False, _text(earlier_fingerprint) == fingerprint)

    def get(self, job_id: str) -> JobRecord | None:
        """Return the job with this id, or None if there is none."""
        with _reachable():
            raw = self._redis.hgetall(job_key(job_id))
        fields = {_text(k) or "": _text(v) or "" for k, v in raw.items()}
        return job_from_hash(job_id, fields) if "status" in fields else None

    def status(self, job_id: str) -> JobStatus | None:
        """Return the job's status alone (cheap enough to ask between segments), or None."""
        with _reachable():
            value = _text(self._redis.hget(job_key(job_id), "status"))
        return JobStatus(value) if value else None

    def mark_pending(self, job_id: str) -> bool:
        """Move an accepted job to pending (it is in the queue); False if it was not accepted."""
        with _reachable():
            return bool(self._mark_pending(keys=[job_key(job_id)]))

    def claim(self, job_id: str, model: str, now: float, owner: str) -> Claim:
        """Make ``owner`` the runner of a waiting job (or of one whose owner died)."""
        error = f"the engine worker died {MAX_CRASHES} times while running this job; not retried"
        args = [job_id, model, repr(now), owner, liveness_key(""), str(MAX_CRASHES), error]
        with _reachable():
            return Claim(self._claim(keys=[job_key(job_id), _COUNTERS, _WAITING], args=args))

    def finish(
        self, job_id: str, owner: str, result: Transcript | None, error: str | None, now: float
    ) -> bool:
        """Record the end of a job ``owner`` runs; False if it was cancelled or taken over."""
        status = JobStatus.SUCCESS if error is None else JobStatus.FAILED
        payload = json.dumps(result) if result is not None else ""
        args = [status.value, repr(now), payload, error or "", owner, str(self._retention)]
        with _reachable():
            finished = bool(self._finish(keys=[job_key(job_id)], args=[*args, upload_key("")]))
            if finished:
                self._redis.delete(pieces_key(job_id))
            return finished

    def cancel(self, job_id: str, now: float) -> bool:
        """Cancel a job that has not finished; return False if it had already ended."""
        args = [job_id, repr(now), str(self._retention), upload_key("")]
        with _reachable():
            cancelled = bool(self._cancel(keys=[job_key(job_id), _WAITING], args=args))
            if cancelled:
                self._redis.delete(pieces_key(job_id))
            return cancelled

    def keep_piece(
        self, job_id: str, owner: str, channel: int, index: int, result: str, progress: Progress
    ) -> bool:
        """Keep a finished piece of a job ``owner`` runs, and the job's progress; return
        False, keeping nothing, if the job is no longer processing or no longer ``owner``'s."""
        total = "" if progress.total_seconds is None else repr(progress.total_seconds)
        args = [owner, f"{channel}:{index}", result, repr(progress.done_seconds), total]
        with _reachable():
            return bool(self._keep_piece(keys=[job_key(job_id), pieces_key(job_id)], args=args))

    def pieces(self, job_id: str) -> list[str]:
        """Return the JSON of the job's finished pieces, by channel and in order; fields that
        are not ``<channel>:<index>`` are left out (the pieces' own checks do the rest)."""
        with _reachable():
            raw = self._redis.hgetall(pieces_key(job_id))
        found: list[tuple[tuple[int, int], str]] = []
        for field, value in raw.items():
            channel, _, index = (_text(field) or "").partition(":")
            if channel.isdigit() and index.isdigit():
                found.append(((int(channel), int(index)), _text(value) or ""))
        return [text for _, text in sorted(found)]

    def forget_pieces(self, job_id: str) -> None:
        """Drop the job's kept pieces and progress (unusable ones: it starts over)."""
        with _reachable():
            self._redis.delete(pieces_key(job_id))
            self._redis.hdel(job_key(job_id), "progress_done", "progress_total")

    def release(self, job_id: str, owner: str) -> bool:
        """Put a job ``owner`` runs back to pending, for a worker that stops before its end."""
        with _reachable():
            return bool(self._release(keys=[job_key(job_id), _WAITING], args=[job_id, owner]))

    def keep_alive(self, owner: str) -> None:
        """Refresh the liveness key of the worker ``owner``."""
        with _reachable():
            self._redis.set(liveness_key(owner), "1", ex=OWNER_TTL_SECONDS)

    def counters(self) -> Counters:
        """Return the lifetime counters and the number of jobs waiting for a worker."""
        with _reachable():
            totals = self._redis.hgetall(_COUNTERS)
            queued = int(self._redis.scard(_WAITING))
        named = {_text(k): int(v) for k, v in totals.items()}
        return Counters(named.get("submissions", 0), named.get("engine_runs", 0), queued)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def _reachable() -> Iterator[None]:
    """Translate Redis's connection errors into BrokerUnavailable."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise BrokerUnavailable(type(exc).__name__) from exc


def connect(url: str) -> redis.Redis:
    """Return a Redis client for ``url`` whose calls fail fast when Redis is away."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
