"""The task queue: Dramatiq on the same Redis, one queue per model, and the front end's dispatch.

A message names a job and the model spec it runs with; the job itself lives in the job book.
Each model spec has its own queue (``queue_for``), so a worker consumes only the queues of the
models it has loaded: that is the routing by model. Dramatiq keeps a delivered message in the
worker's acknowledgement set until the actor returns; when a worker stops heartbeating (it was
SIGKILLed, or its machine died), Redis maintenance puts its unacknowledged messages back on their
queue, and another worker takes the job over (book.Claim).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from dropscribe.scaleout.book import RedisJobBook
from dropscribe.scaleout.outages import BrokerUnavailable
from dropscribe.server.pool import PoolHealth

#: Name of the one actor: "transcribe this job with this model spec".
ACTOR_NAME = "dropscribe_transcribe"

#: Namespace of Dramatiq's keys in Redis (the job book uses ``dropscribe:``).
TASK_NAMESPACE = "dropscribe-tasks"

#: Milliseconds without a heartbeat after which a worker counts as dead and its unacknowledged
#: messages go back to their queue. A worker heartbeats every HEARTBEAT_SECONDS even while a
#: long job holds every thread (Dramatiq alone heartbeats only when it fetches).
HEARTBEAT_TIMEOUT_MS = 30_000
HEARTBEAT_SECONDS = 5.0

#: Chance, per million broker commands, that a command also runs the maintenance that requeues
#: dead workers' messages: 20%, so with idle consumers polling about once a second and every
#: worker's heartbeat, a dead worker's job is back in its queue seconds after the heartbeat
#: timeout. The maintenance is cheap while no worker is dead.
MAINTENANCE_CHANCE = 200_000

#: Retries of a job whose worker hit an outage, was stopped, or found the job still held by a
#: worker that is not yet known dead: from 1 s, doubling, at most a minute apart; 200 of them
#: cover more than three hours of outage.
MAX_RETRIES = 200
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

#: Longest readable part of a queue name; longer specs (folders) are shortened with a hash.
_MAX_QUEUE_SPEC = 48


def queue_for(spec: str) -> str:
    """Return the queue name of a model spec: readable, unique per spec, safe in Redis keys."""
    safe = _UNSAFE.sub("_", spec)
    if safe != spec or len(safe) > _MAX_QUEUE_SPEC:
        digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
        safe = f"{safe[-_MAX_QUEUE_SPEC:]}-{digest}"
    return f"transcribe.{safe}"


def task_broker(client: redis.Redis) -> RedisBroker:
    """Return a Dramatiq broker on ``client``, without the default time limit (a GPU job may
    run for an hour) and with the retry backoff above."""
    retries = Retries(
        max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS
    )
    # Dramatiq's Redis broker has no annotations on its constructor.
    return RedisBroker(  # type: ignore[no-untyped-call]
        client=client,
        namespace=TASK_NAMESPACE,
        middleware=[retries],
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )


def job_message(job_id: str, spec: str) -> dramatiq.Message[None]:
    """Return the message that asks a worker serving ``spec`` to run the job."""
    return dramatiq.Message(
        queue_name=queue_for(spec), actor_name=ACTOR_NAME, args=(job_id, spec), kwargs={},
        options={},
    )  # fmt: skip


def heartbeat(broker: RedisBroker, queue_name: str) -> None:
    """Tell the broker this worker is alive (any broker command records a heartbeat)."""
    broker.do_qsize(queue_name)


class QueueDispatch:
    """The front end's Dispatch: sends each accepted job to its model's queue."""

    def __init__(
        self,
        broker: RedisBroker,
        book: RedisJobBook,
        specs: Mapping[str, str],
        local_health: Callable[[], PoolHealth],
    ) -> None:
        self._broker = broker
        self._book = book
        self._specs = dict(specs)
        self._local = local_health

    def enqueue(self, job_id: str) -> None:
        """Queue the job for a worker serving its route's model; mark it pending."""
        job = self._book.get(job_id)
        if job is None:
            return
        try:
            self._broker.enqueue(job_message(job_id, self._specs[job.route]))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(type(exc).__name__) from exc
        self._book.mark_pending(job_id)

    def cancel(self, job_id: str) -> None:
        """Nothing to do here: workers see the cancelled status in the book between segments."""

    def health(self) -> PoolHealth:
        """Return the state of the engine workers this process runs (``--workers``)."""
        return self._local()
