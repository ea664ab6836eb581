"""The engine pool: a bounded set of worker threads taking jobs first in, first out.

Job ids travel through an in-memory queue; the truth lives in the store, so a job id that is
stale (cancelled, or already claimed) is simply skipped. A worker checks between segments
whether its job was cancelled or the pool is stopping, and gives up early: a cancelled job stays
cancelled, and a job abandoned for shutdown goes back to pending so the next start runs it.

Nothing a job does may take a worker down: any exception from a job fails that job. Should a
worker thread die all the same, a supervisor restarts it; the job it held counts as a crash,
and a job that crashed its engine MAX_ENGINE_CRASHES times (here, or by killing the process) is
failed instead of being queued again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import WhisperInput, transcribe_args
from dropscribe.engine.protocol import Engine
from dropscribe.engine.stream import ResumableEngine
from dropscribe.server.batch_jobs import MAX_BATCH_JOBS, BatchEngine, BatchRunner
from dropscribe.server.checkpoints import Checkpoints, declared_seconds
from dropscribe.server.meter import EngineMeter
from dropscribe.server.records import JobRecord
from dropscribe.server.store import JobStore

log = logging.getLogger(__name__)

#: Seconds a worker waits on an empty queue before re-checking the stop flag.
IDLE_WAIT_SECONDS = 0.2

#: Seconds a worker waits for one more job to join its batch: a client submitting a folder
#: sends the next file within milliseconds, so a batch fills while they keep coming, and a
#: lone job starts at most this much later.
GATHER_STEP_SECONDS = 0.1
#: Put in the queue at stop, once per worker, so that an idle worker sees the stop at once.
WAKE = ""

#: Seconds between the supervisor's checks that every worker thread is alive.
SUPERVISE_SECONDS = 0.5

#: Engine deaths under one job after which that job is failed rather than run again.
MAX_ENGINE_CRASHES = 2


@dataclass(frozen=True)
class PoolHealth:
    """Worker threads configured and alive now, restarts of dead ones, and jobs they held."""

    configured: int
    alive: int
    restarts: int
    crashed_jobs: int


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
        meter: EngineMeter | None = None,
    ) -> None:
        """``meter`` records each engine run's time and audio (the /metrics)."""
        self._meter = meter or EngineMeter("unused_")
        self._store = store
        self._on_finished = on_finished
        self._engine = engine
        self._routes = dict(routes)
        self._upload_path = upload_path
        self._clock = clock
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._cancelled: set[str] = set()
        # What each worker slot is running, so the supervisor knows the jobs of a dead worker.
        self._current: list[list[str]] = [[] for _ in range(workers)]
        # Jobs that were in a batch whose worker died: each runs alone from then on, so that a
        # crash is blamed on the job that caused it.
        self._alone: set[str] = set()
        # Short recordings queued together share one batched call when the engine can do that.
        self._batches = (
            BatchRunner(
                store, engine, routes, upload_path, clock,
                self._stopping.is_set, self._cancelled.__contains__,
            )
            if isinstance(engine, BatchEngine)
            else None
        )  # fmt: skip
        self._threads = [self._worker_thread(n) for n in range(workers)]
        self._supervisor = threading.Thread(
            target=self._supervise, name="server-engine-supervisor", daemon=True
        )
        self._restarts = 0
        self._crashed_jobs = 0

    def _worker_thread(self, slot: int) -> threading.Thread:
        return threading.Thread(
            target=self._work, args=(slot,), name=f"server-engine-{slot}", daemon=True
        )

    def start(self) -> None:
        """Queue the jobs an earlier run left unfinished, then start the workers."""
        for job_id in self._store.requeue_unfinished(MAX_ENGINE_CRASHES, self._clock()):
            self._queue.put(job_id)
        for thread in self._threads:
            thread.start()
        self._supervisor.start()

    def health(self) -> PoolHealth:
        """Return how many workers run now, and how often one had to be restarted."""
        alive = sum(thread.is_alive() for thread in self._threads)
        return PoolHealth(len(self._threads), alive, self._restarts, self._crashed_jobs)

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
        for _ in self._threads:  # wake the idle workers now rather than at their next look
            self._queue.put(WAKE)
        # The supervisor first, so that it restarts no worker that is stopping.
        for thread in (self._supervisor, *self._threads):
            if thread.is_alive():
                thread.join(timeout)
        if self._batches is not None:
            self._batches.close()

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_SECONDS):
            for slot, thread in enumerate(self._threads):
                if not thread.is_alive() and not self._stopping.is_set():
                    self._revive(slot)

    def _revive(self, slot: int) -> None:
        held, self._current[slot] = self._current[slot], []
        self._restarts += 1
        log.error("engine worker %d died; restarting it (jobs %s)", slot, ", ".join(held))
        if len(held) == 1:
            self._crashed(held[0])
        else:
            # A batch: which of its jobs killed the worker is unknown, so none is blamed; each
            # runs alone next time, where a crash is its own.
            for job_id in held:
                if self._store.release(job_id):
                    self._alone.add(job_id)
                    self._queue.put(job_id)
        self._threads[slot] = self._worker_thread(slot)
        self._threads[slot].start()

    def _crashed(self, job_id: str) -> None:
        self._crashed_jobs += 1
        failed = self._store.record_crash(job_id, MAX_ENGINE_CRASHES, self._clock())
        self._cancelled.discard(job_id)
        if not failed:
            self._queue.put(job_id)
        self._finished(job_id)

    def _work(self, slot: int) -> None:
        try:
            self._serve(slot)
        except BaseException:
            # Only a bug in this loop or a BaseException from the engine gets here; the thread
            # ends and the supervisor restarts it. Logged here because threading's own hook
            # would print it without our logger's handlers.
            log.exception("engine worker %d failed", slot)

    def _serve(self, slot: int) -> None:
        while not self._stopping.is_set():
            try:
                job_id = self._queue.get(timeout=IDLE_WAIT_SECONDS)
            except queue.Empty:
                continue
            if job_id == WAKE:
                continue
            for batch in self._taken(job_id):
                if self._stopping.is_set():
                    break  # the jobs left stay pending in the store for the next start
                self._current[slot] = batch
                started = time.monotonic()
                self._run_guarded(batch)
                self._meter.ran(time.monotonic() - started, self._audio_seconds(batch))
                self._current[slot] = []
                self._cancelled.difference_update(batch)
                for done in batch:
                    self._finished(done)

    def queue_depth(self) -> int:
        """Return how many jobs wait in the workers' queue."""
        return self._queue.qsize()

    def _audio_seconds(self, batch: list[str]) -> float:
        """Return the declared length of the batch's audio (0 where unknown), read from the
        uploads' headers before they are removed."""
        total = 0.0
        for job_id in batch:
            job = self._store.get(job_id)
            upload = None if job is None else self._store.find_upload(job.upload_id)
            if upload is None:
                continue
            total += declared_seconds(self._upload_path(upload.upload_id, upload.extension)) or 0.0
        return total

    def _finished(self, job_id: str) -> None:
        if self._on_finished is not None:
            self._on_finished(job_id)

    def _run_guarded(self, batch: list[str]) -> None:
        try:
            self._run_batch(batch)
        except Exception as exc:
            # A worker must outlive any one bad job; the traceback goes to the log, not the client.
            log.exception("jobs %s failed unexpectedly", ", ".join(batch))
            message = f"the engine failed unexpectedly: {type(exc).__name__}"
            for job_id in batch:
                self._store.finish(job_id, None, message, self._clock())

    def _taken(self, first: str) -> list[list[str]]:
        """Return the jobs to run now, as batches: with a batching engine, the first job and
        whatever else is queued (up to a batch), the small uploads together, others alone."""
        if self._batches is None:
            return [[first]]
        self._batches.prepare(first)
        taken = [first]
        while len(taken) < MAX_BATCH_JOBS:
            try:
                job_id = self._queue.get(timeout=GATHER_STEP_SECONDS)
            except queue.Empty:
                break
            if job_id == WAKE:
                break
            taken.append(job_id)
        batches = self._batches
        small = [j for j in taken if j not in self._alone and batches.batchable(j)]
        return (
            [small, *([job_id] for job_id in taken if job_id not in small)]
            if small
            else [[job_id] for job_id in taken]
        )

    def _run_batch(self, batch: list[str]) -> None:
        if len(batch) == 1 or self._batches is None:
            for job_id in batch:
                self._alone.discard(job_id)
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

        audio = self._upload_path(upload.upload_id, upload.extension)
        if isinstance(self._engine, ResumableEngine):
            checkpoints = Checkpoints(self._store, job.job_id, declared_seconds(audio))
            return self._engine.transcribe_from(
                spec, audio, args, should_stop, checkpoints.done(), checkpoints.keep
            )
        return self._engine.transcribe(spec, audio, args, should_stop)
