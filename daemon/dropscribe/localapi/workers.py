"""The engine pool: a bounded set of worker threads taking jobs first in, first out.

Job ids travel through an in-memory queue; the truth lives in the store, so a job id that is
stale (cancelled, or already claimed) is simply skipped. A worker checks between segments
whether its job was cancelled or the pool is stopping, and gives up early: a cancelled job stays
cancelled, and a job abandoned for shutdown goes back to pending so the next start runs it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from .batch_jobs import MAX_BATCH_JOBS, BatchEngine, BatchRunner
from .engine import Engine, EngineError, Interrupted, Transcript
from .params import WhisperInput, transcribe_args
from .store import JobRecord, JobStore

log = logging.getLogger(__name__)

#: Seconds a worker waits on an empty queue before re-checking the stop flag.
IDLE_WAIT_SECONDS = 0.2

#: Seconds a worker waits for one more job to join its batch: a client submitting a folder
#: sends the next file within milliseconds, so a batch fills while they keep coming, and a
#: lone job starts at most this much later.
GATHER_STEP_SECONDS = 0.1


class EnginePool:
    """Worker threads that run queued jobs through the engine."""

    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        routes: Mapping[str, str],
        upload_path: Callable[[str, str], Path],
        workers: int,
        clock: Callable[[], float],
        on_finished: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._on_finished = on_finished
        self._engine = engine
        self._routes = dict(routes)
        self._upload_path = upload_path
        self._clock = clock
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._cancelled: set[str] = set()
        # Short recordings queued together share one batched call when the engine can do that.
        self._batches = (
            BatchRunner(
                store, engine, routes, upload_path, clock,
                self._stopping.is_set, self._cancelled.__contains__,
            )
            if isinstance(engine, BatchEngine)
            else None
        )  # fmt: skip
        self._threads = [
            threading.Thread(target=self._work, name=f"localapi-engine-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        """Queue the jobs an earlier run left unfinished, then start the workers."""
        for job_id in self._store.requeue_unfinished():
            self._queue.put(job_id)
        for thread in self._threads:
            thread.start()

    def enqueue(self, job_id: str) -> None:
        """Mark an accepted job pending and put it at the back of the queue."""
        self._store.mark_pending(job_id)
        self._queue.put(job_id)
        if self._batches is not None:
            self._batches.ahead(job_id)

    def cancel(self, job_id: str) -> None:
        """Ask a worker running this job to abandon it (the store already says cancelled)."""
        self._cancelled.add(job_id)

    def stop(self, timeout: float) -> None:
        """Stop the workers, abandoning a running job at its next segment; wait up to timeout."""
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        if self._batches is not None:
            self._batches.close()

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = self._queue.get(timeout=IDLE_WAIT_SECONDS)
            except queue.Empty:
                continue
            for batch in self._taken(job_id):
                if self._stopping.is_set():
                    break  # the jobs left stay pending in the store for the next start
                try:
                    self._run_batch(batch)
                finally:
                    self._cancelled.difference_update(batch)
                if self._on_finished is not None:
                    for done in batch:
                        self._on_finished(done)

    def _taken(self, first: str) -> list[list[str]]:
        """Return the jobs to run now, as batches: with a batching engine, the first job and
        whatever else is queued (up to a batch), the small uploads together, others alone."""
        if self._batches is None:
            return [[first]]
        taken = [first]
        while len(taken) < MAX_BATCH_JOBS:
            try:
                taken.append(self._queue.get(timeout=GATHER_STEP_SECONDS))
            except queue.Empty:
                break
        small = [job_id for job_id in taken if self._batches.batchable(job_id)]
        return (
            [small, *([job_id] for job_id in taken if job_id not in small)]
            if small
            else [[job_id] for job_id in taken]
        )

    def _run_batch(self, batch: list[str]) -> None:
        if len(batch) == 1 or self._batches is None:
            for job_id in batch:
                self._run(job_id)
        else:
            self._batches.run(batch)

    def _run(self, job_id: str) -> None:
        job = self._store.get(job_id)
        if job is None:
            return  # swept by retention while it waited
        spec = self._routes.get(job.route)
        label = job.model if spec is None else self._engine.label(spec)
        claimed = self._store.claim(job_id, label, self._clock())
        if claimed is None:
            return  # cancelled, or another worker has it
        try:
            if spec is None:
                # Only after a restart with a different model map.
                raise EngineError(f"this server no longer serves {job.route}")
            transcript = self._transcribe(claimed, spec)
        except Interrupted:
            if self._stopping.is_set():
                self._store.release(job_id)
            return
        except EngineError as exc:
            self._store.finish(job_id, None, str(exc), self._clock())
            return
        self._store.finish(job_id, transcript, None, self._clock())

    def _transcribe(self, job: JobRecord, spec: str) -> Transcript:
        upload = self._store.find_upload(job.upload_id)
        if upload is None:
            raise EngineError("the uploaded file is no longer on the server")
        args = transcribe_args(WhisperInput.model_validate_json(job.params))

        def should_stop() -> bool:
            return self._stopping.is_set() or job.job_id in self._cancelled

        try:
            return self._engine.transcribe(
                spec, self._upload_path(upload.upload_id, upload.extension), args, should_stop
            )
        except (EngineError, Interrupted):
            raise
        except Exception as exc:
            # A worker must outlive any one bad job; the traceback goes to the log, not the client.
            log.exception("engine crashed on job %s", job.job_id)
            raise EngineError(f"the engine failed unexpectedly: {type(exc).__name__}") from exc
