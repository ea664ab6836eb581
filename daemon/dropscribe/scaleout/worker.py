"""The engine workers of one process: Dramatiq worker threads sharing one engine.

One process loads each of its models once (the engine keeps them) and runs ``threads`` jobs at
a time from the queues of those models only. Beside the Dramatiq threads it keeps two
background threads: the heartbeat (the broker's, which says the process is alive even while
every thread is deep in a long job, and the job book's liveness key), which also probes the
bucket; and the bucket sweeper.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from dropscribe.engine.protocol import Engine
from dropscribe.scaleout.book import OWNER_TTL_SECONDS, RedisJobBook
from dropscribe.scaleout.expiry import BucketSweeper
from dropscribe.scaleout.gathering import Gatherer
from dropscribe.scaleout.job_runner import JobRunner
from dropscribe.scaleout.objects import ObjectStore
from dropscribe.scaleout.outages import BROKER, STORAGE, Outages, Unavailable
from dropscribe.scaleout.tasks import ACTOR_NAME, HEARTBEAT_SECONDS, heartbeat, queue_for
from dropscribe.server.batch_jobs import BatchEngine
from dropscribe.server.options import DEFAULT_MAX_UPLOAD_BYTES
from dropscribe.server.pool import PoolHealth

log = logging.getLogger(__name__)

#: Milliseconds an idle Dramatiq consumer waits between polls at most.
CONSUMER_TIMEOUT_MS = 1000

#: Prefix of every metric name on a worker's /metrics.
METRIC_PREFIX = "dropscribe_worker_"


class WorkerNode:
    """Engine worker threads taking jobs of the given model specs from the queue."""

    def __init__(
        self,
        broker: RedisBroker,
        book: RedisJobBook,
        objects: ObjectStore,
        engine: Engine,
        specs: Sequence[str],
        threads: int,
        clock: Callable[[], float] = time.time,
        max_download_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        """``max_download_bytes``: no larger upload is downloaded (the front ends' limit)."""
        self._broker = broker
        self._book = book
        self._objects = objects
        self._specs = list(dict.fromkeys(specs))
        self._threads = threads
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self.outages = Outages(clock)
        self._stopping = threading.Event()
        self._scratch = tempfile.TemporaryDirectory(prefix="dropscribe-worker-")
        # With one thread no two jobs ever run at once, so there is nothing to batch.
        gatherer = Gatherer(engine) if isinstance(engine, BatchEngine) and threads > 1 else None
        self._runner = JobRunner(
            book, objects, engine, self.owner, Path(self._scratch.name), self.outages,
            self._stopping, clock=clock, gatherer=gatherer, specs=self._specs,
            max_download_bytes=max_download_bytes,
        )  # fmt: skip
        self._jobs_done = 0
        self._count_lock = threading.Lock()
        self._sweeper = BucketSweeper(book, objects, self.outages, clock)
        self._beat = threading.Thread(target=self._heartbeats, name="worker-heartbeat", daemon=True)
        self._worker = self._dramatiq_worker()

    def _dramatiq_worker(self) -> dramatiq.Worker:
        queues = [queue_for(spec) for spec in self._specs]
        runner = self._runner

        def transcribe(job_id: object, spec: object) -> None:
            runner.run(job_id, spec)
            with self._count_lock:
                self._jobs_done += 1

        dramatiq.Actor(
            transcribe, broker=self._broker, actor_name=ACTOR_NAME, queue_name=queues[0],
            priority=0, options={},
        )  # fmt: skip
        for queue_name in queues:
            self._broker.declare_queue(queue_name)
        worker = dramatiq.Worker(
            self._broker,
            queues=set(queues),
            worker_threads=self._threads,
            worker_timeout=CONSUMER_TIMEOUT_MS,
        )
        # Take no more jobs than there are threads: a job prefetched behind a long one would
        # wait for it while another worker sits idle.
        worker.queue_prefetch = self._threads
        return worker

    @property
    def queues(self) -> list[str]:
        """Return the queues this node consumes, one per model spec."""
        return [queue_for(spec) for spec in self._specs]

    def start(self) -> None:
        """Start the heartbeat, the Dramatiq threads and the bucket sweeper."""
        self._beat_once()
        self._beat.start()
        self._worker.start()
        self._sweeper.start()

    def stop(self, timeout: float) -> None:
        """Stop taking jobs; a running job is abandoned at its next segment and queued again."""
        # The stop flag first, so running jobs end promptly and are released; then Dramatiq's
        # threads, which wait for them; the heartbeat last, so the broker keeps this process
        # alive (and its messages its own) until every job is handed back.
        self._stopping.set()
        self._worker.stop(timeout=int(timeout * 1000))
        self._sweeper.stop(timeout)
        if self._beat.is_alive():
            self._beat.join(timeout)
        self._scratch.cleanup()

    def pool_health(self) -> PoolHealth:
        """Return the Dramatiq threads configured and alive."""
        alive = sum(thread.is_alive() for thread in self._worker.workers)
        return PoolHealth(self._threads, alive, 0, 0)

    def health(self) -> dict[str, Any]:
        """Return what /healthz shows: degraded while a dependency is down or a thread dead."""
        pool = self.pool_health()
        ok = self.outages.all_reachable() and pool.alive == pool.configured
        states = self.outages.states()
        return {
            "status": "ok" if ok else "degraded",
            "owner": self.owner,
            "queues": self.queues,
            "threads": {"configured": pool.configured, "alive": pool.alive},
            "jobs_done": self._jobs_done,
            "dependencies": {name: state.as_dict() for name, state in states.items()},
        }

    def metrics(self) -> str:
        """Return the same figures in the Prometheus text exposition format."""
        pool = self.pool_health()
        samples: list[tuple[str, str, str, float]] = [
            ("threads_configured", "gauge", "Engine worker threads configured.", pool.configured),
            ("threads_alive", "gauge", "Engine worker threads alive now.", pool.alive),
            ("jobs_done_total", "counter", "Job deliveries this process completed.",
             self._jobs_done),
        ]  # fmt: skip
        for name, state in self.outages.states().items():
            samples.append(
                (f"{name}_up", "gauge", f"1 while the {name} answers, 0 while it is down.",
                 int(state.down_since is None))
            )  # fmt: skip
            samples.append(
                (f"{name}_failures_total", "counter", f"Failed calls to the {name}.",
                 state.failures)
            )  # fmt: skip
        return "".join(_metric(METRIC_PREFIX + n, kind, text, v) for n, kind, text, v in samples)

    def _heartbeats(self) -> None:
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            self._beat_once()

    def _beat_once(self) -> None:
        checks: tuple[tuple[str, Callable[[], None]], ...] = (
            (BROKER, lambda: self._book.keep_alive(self.owner)),
            (BROKER, lambda: heartbeat(self._broker, self.queues[0])),
            (STORAGE, self._objects.check_bucket),
        )
        for name, check in checks:
            try:
                check()
            except Unavailable as problem:
                self.outages.failed(name, problem.message)
            except Exception as exc:
                # Dramatiq's own heartbeat raises redis errors untranslated.
                self.outages.failed(name, type(exc).__name__)
            else:
                self.outages.recovered(name)


def _metric(name: str, kind: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value:g}\n"


#: The liveness key must outlive several heartbeats, or a slow beat would look like a death.
assert OWNER_TTL_SECONDS >= 3 * HEARTBEAT_SECONDS
