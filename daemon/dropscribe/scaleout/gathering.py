"""Batching in a worker process: small recordings that its threads run at the same time, with
the same model and parameters, go through the engine as one batched call (``transcribe_many``,
the engine's own batching).

A worker process runs ``--workers N`` jobs at once, one per Dramatiq thread. The first thread
to bring a small recording waits GATHER_SECONDS for others, then runs all that arrived as one
batch and hands each thread its own result. Each job keeps its own life: the batch stops only
when the worker stops or every job in it was cancelled, and a job cancelled meanwhile is simply
not finished by its thread (the book keeps it cancelled).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.server.batch_jobs import MAX_BATCH_JOBS, BatchEngine

log = logging.getLogger(__name__)

#: Seconds the first job of a batch waits for others: the threads of one worker take their
#: messages within a poll of each other, and a lone job starts at most this much later.
GATHER_SECONDS = 0.2

#: Seconds a waiting thread sleeps between checks of its batch (a wait has a timeout).
WAIT_STEP_SECONDS = 0.5


@dataclass
class _Request:
    key: tuple[str, str]
    audio: Path
    args: TranscribeArgs
    should_stop: StopCheck
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Transcript | EngineError | Interrupted | None = None


class Gatherer:
    """Runs the small recordings of concurrent threads through ``transcribe_many`` together."""

    def __init__(self, engine: BatchEngine, gather_seconds: float = GATHER_SECONDS) -> None:
        self._engine = engine
        self._gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._waiting: list[_Request] = []

    def takes(self, audio: Path) -> bool:
        """Return True when the recording is short enough to share a batch."""
        return self._engine.shares_batches(audio)

    def transcribe(
        self, spec: str, params: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return the transcript of ``audio``, decoded in a batch with the recordings of the
        same spec and parameters (``params``) that other threads bring meanwhile. Raise
        EngineError for this recording, or Interrupted when the batch was stopped."""
        request = _Request((spec, params), audio, args, should_stop)
        with self._lock:
            leads = not any(waiting.key == request.key for waiting in self._waiting)
            self._waiting.append(request)
        if leads:
            self._lead(request)
        while not request.done.wait(WAIT_STEP_SECONDS):
            pass
        outcome = request.outcome
        if outcome is None:
            raise EngineError("the batch this recording was in ended without a result")
        if isinstance(outcome, EngineError | Interrupted):
            raise outcome
        return outcome

    def _lead(self, first: _Request) -> None:
        time.sleep(self._gather_seconds)
        with self._lock:
            batch = [r for r in self._waiting if r.key == first.key][:MAX_BATCH_JOBS]
            self._waiting = [r for r in self._waiting if r not in batch]
        try:
            self._run(first.key[0], batch)
        finally:
            for request in batch:
                request.done.set()

    def _run(self, spec: str, batch: list[_Request]) -> None:
        def should_stop() -> bool:
            return all(request.should_stop() for request in batch)

        audios = [request.audio for request in batch]
        results: list[Transcript | EngineError | Interrupted]
        try:
            results = list(self._engine.transcribe_many(spec, audios, batch[0].args, should_stop))
        except Interrupted as exc:
            results = [exc for _ in batch]
        except Exception as exc:
            # One bad batch must not take the worker's threads with it; the log has the trace.
            log.exception("engine crashed on a batch of %d jobs", len(batch))
            error = EngineError(f"the engine failed unexpectedly: {type(exc).__name__}")
            results = [error for _ in batch]
        for request, result in zip(batch, results, strict=True):
            request.outcome = result
