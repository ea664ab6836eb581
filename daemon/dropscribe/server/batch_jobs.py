"""Running several queued jobs as one batch: claim each, decode them together, finish each.

Every job keeps its own life in the store: it is claimed (counting its engine run) before the
batch starts and finished with its own result or error afterwards. A job cancelled while its
batch runs is simply not finished (the store keeps it cancelled); when every job of a batch is
cancelled, or the pool stops, the batch is abandoned and, on stop, its jobs go back to pending.
A crash mid-batch leaves them processing, which the next start turns back into pending.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import TranscribeArgs, WhisperInput, transcribe_args
from dropscribe.engine.protocol import ModelLoader, StopCheck
from dropscribe.server.records import JobRecord
from dropscribe.server.store import JobStore

log = logging.getLogger(__name__)

#: Uploads larger than this (bytes) run alone without a look inside: about two minutes of 16 kHz
#: WAV or four of a 128 kb/s MP3, past which one recording has windows enough to fill its own
#: batches. A smaller upload can still hold long audio (half an hour of a 16 kb/s voice memo is
#: 3.6 MB); the engine reads that from its header and decodes it alone (SHORT_SECONDS).
BATCH_UPLOAD_LIMIT_BYTES = 4 << 20

#: Most jobs a worker takes from the queue for one batch: as many as are decoded ahead, so that
#: a folder of short recordings dropped at once is decoded in one batch, not two.
MAX_BATCH_JOBS = 32


@runtime_checkable
class BatchEngine(Protocol):
    """An engine that can decode several recordings in one batched call."""

    def label(self, spec: str) -> str:
        """Return the model name that responses report for this spec."""
        ...

    def transcribe_many(
        self, spec: str, audios: Sequence[Path], args: TranscribeArgs, should_stop: StopCheck
    ) -> list[Transcript | EngineError]:
        """Return each recording's transcript or error; raise Interrupted to abandon all."""
        ...

    def shares_batches(self, audio: Path) -> bool:
        """Return True when the recording is short enough to share a batch (a cheap look)."""
        ...

    def prefetch(self, audio: Path) -> None:
        """Start decoding a recording that will be transcribed soon."""
        ...

    def close(self) -> None:
        """Stop decoding ahead."""
        ...


@dataclass(frozen=True)
class Claimed:
    """A job this worker claimed, with the file and decoding arguments it runs with."""

    job: JobRecord
    spec: str
    audio: Path
    args: TranscribeArgs


def groups(claimed: Sequence[Claimed]) -> list[list[Claimed]]:
    """Return the claimed jobs grouped by model spec and decoding parameters, in order."""
    found: dict[tuple[str, str], list[Claimed]] = {}
    for item in claimed:
        found.setdefault((item.spec, item.job.params), []).append(item)
    return list(found.values())


class BatchRunner:
    """Runs a batch of job ids through a BatchEngine."""

    def __init__(
        self,
        store: JobStore,
        engine: BatchEngine,
        routes: Mapping[str, str],
        upload_path: Callable[[str, str], Path],
        clock: Callable[[], float],
        is_stopping: Callable[[], bool],
        is_cancelled: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._engine = engine
        self._routes = dict(routes)
        self._upload_path = upload_path
        self._clock = clock
        self._is_stopping = is_stopping
        self._is_cancelled = is_cancelled

    def batchable(self, job_id: str) -> bool:
        """Return True when the job's upload is small and short enough to share a batch."""
        audio = self._small_upload(job_id)
        return audio is not None and self._engine.shares_batches(audio)

    def prepare(self, job_id: str) -> None:
        """Load the model that the job will run with, before its batch is gathered: jobs that
        arrive while a model loads join the first batch instead of waiting for the next one.
        A model that cannot load is left for the batch to report, job by job."""
        job = self._store.get(job_id)
        spec = None if job is None else self._routes.get(job.route)
        if spec is None:
            return
        if isinstance(self._engine, ModelLoader):
            with contextlib.suppress(EngineError):
                self._engine.model(spec)

    def ahead(self, job_id: str) -> None:
        """Have the engine decode a queued job's small upload while it works on others."""
        audio = self._small_upload(job_id)
        if audio is not None:
            self._engine.prefetch(audio)

    def close(self) -> None:
        """Stop the engine's decoding ahead."""
        self._engine.close()

    def _small_upload(self, job_id: str) -> Path | None:
        job = self._store.get(job_id)
        upload = None if job is None else self._store.find_upload(job.upload_id)
        if upload is None or upload.size > BATCH_UPLOAD_LIMIT_BYTES:
            return None
        return self._upload_path(upload.upload_id, upload.extension)

    def run(self, job_ids: Sequence[str]) -> None:
        """Claim the jobs, run them in batches of like parameters, finish each."""
        claimed = [item for job_id in job_ids if (item := self._claim(job_id)) is not None]
        for group in groups(claimed):
            self._run_group(group)

    def _claim(self, job_id: str) -> Claimed | None:
        job = self._store.get(job_id)
        if job is None:
            return None  # swept by retention while it waited
        spec = self._routes.get(job.route)
        label = job.model if spec is None else self._engine.label(spec)
        if self._store.claim(job_id, label, self._clock()) is None:
            return None  # cancelled, or another worker has it
        upload = self._store.find_upload(job.upload_id)
        problem = (
            f"this server no longer serves {job.route}" if spec is None
            else "the uploaded file is no longer on the server" if upload is None
            else None
        )  # fmt: skip
        if problem is not None or spec is None or upload is None:
            self._store.finish(job_id, None, problem, self._clock())
            return None
        args = transcribe_args(WhisperInput.model_validate_json(job.params))
        return Claimed(job, spec, self._upload_path(upload.upload_id, upload.extension), args)

    def _run_group(self, group: list[Claimed]) -> None:
        ids = [item.job.job_id for item in group]

        def should_stop() -> bool:
            return self._is_stopping() or all(self._is_cancelled(i) for i in ids)

        try:
            results = self._engine.transcribe_many(
                group[0].spec, [item.audio for item in group], group[0].args, should_stop
            )
        except Interrupted:
            if self._is_stopping():
                for job_id in ids:
                    self._store.release(job_id)
            return
        except Exception as exc:
            # A worker must outlive any one bad batch; the traceback goes to the log.
            log.exception("engine crashed on a batch of %d jobs", len(ids))
            error = f"the engine failed unexpectedly: {type(exc).__name__}"
            results = [EngineError(error) for _ in ids]
        for job_id, result in zip(ids, results, strict=True):
            self._finish(job_id, result)

    def _finish(self, job_id: str, result: Transcript | EngineError) -> None:
        # finish() changes nothing for a job cancelled meanwhile: it stays cancelled.
        if isinstance(result, EngineError):
            self._store.finish(job_id, None, str(result), self._clock())
        else:
            self._store.finish(job_id, result, None, self._clock())
