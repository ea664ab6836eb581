"""The last step of a job: a succeeded result labelled with its speakers, checked for
completeness, written to the outbox with its provenance, the recording moved to done/ and the
job marked published."""

from __future__ import annotations

from typing import Any

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.core.jobs import Job, JobState, advance, audit_fields, output_stem, step_times
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.pipeline import quality as completeness
from dropscribe.pipeline.ports import Audit, Custodian, Publisher, Store
from dropscribe.pipeline.step_options import Clock, Options


class Publication:
    """Publishes succeeded jobs; the steps hand it each one."""

    def __init__(
        self,
        store: Store,
        outbox: Publisher,
        custody: Custodian,
        log: Audit,
        options: Options,
        clock: Clock,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._custody = custody
        self._log = log
        self._opt = options
        self._clock = clock

    def publish(self, job: Job) -> None:
        """Label the speakers, write the outputs, move the recording to done/, mark the job
        published."""
        result = self._with_speakers(job, self._store.result(job.id) or {})
        if completeness.is_incomplete(result):
            self._log.warning(
                Event.TRANSCRIPT_INCOMPLETE, **audit_fields(job), **completeness.shortfall(result)
            )
            if self._opt.quality.fail_incomplete:
                raise errors.IncompleteTranscript(completeness.describe_shortfall(result))
        outputs = self._outbox.publish(
            output_stem(job.source), job.id, result, self._provenance(job)
        )
        moved = self._complete_source(job)
        now = self._clock.time()
        job = advance(
            job,
            JobState.PUBLISHED,
            now,
            outputs=tuple(str(p) for p in outputs),
            next_due=0.0,
            done_path=moved,
        )
        self._store.save(job)
        common = audit_fields(job)
        self._log.info(Event.JOB_PUBLISHED, outputs=list(job.outputs), **common)
        self._log.info(
            Event.JOB_SUMMARY,
            outcome="published",
            model=job.model,
            size=job.size,
            duration_seconds=round(now - job.steps.get("claimed", now), 3),
            **common,
        )

    def _with_speakers(self, job: Job, result: RemoteTranscript) -> RemoteTranscript:
        """Return the result with speaker labels, labelling it once: the labelled result is
        saved before anything is published, so publishing again after a crash neither
        diarizes again nor asks the service again. A failed diarization is saved too."""
        labeller = self._opt.speakers
        if labeller is None or "diarization" in result or not result.get("segments"):
            return result
        fields = audit_fields(job)
        self._log.info(Event.DIARIZE_STARTED, **fields, method=labeller.method)
        started = self._clock.time()
        labelled = labeller.label(result, self._custody.processing_path(job.source))
        self._store.save(job, labelled)
        diarization = labelled.get("diarization")
        error = None if diarization is None else diarization.get("error")
        if error is not None:
            self._log.warning(Event.DIARIZE_FAILED, **fields, method=labeller.method, error=error)
            return labelled
        self._log.info(
            Event.DIARIZE_DONE,
            **fields,
            method=labeller.method,
            speakers=len(labelled.get("speakers", [])),
            duration_seconds=round(self._clock.time() - started, 3),
        )
        return labelled

    def _complete_source(self, job: Job) -> str | None:
        try:
            moved = self._custody.complete(job.source, delete=self._opt.delete_after_success)
        except FileNotFoundError:
            # A crash after the move and before the state was saved: it is already done.
            return job.done_path
        return None if moved is None else str(moved)

    def _provenance(self, job: Job) -> dict[str, Any]:
        return {
            "source": job.source,
            "size": job.size,
            "sha256": job.sha256,
            "request_id": job.request_id,
            "model": job.model,
            "service_tier": self._opt.service_tier,
            "input": dict(self._opt.whisper_input),
            "steps": step_times(job.steps),
            "reused_from_job": job.result_of,
            "profile": job.profile,
            "superseded_request_ids": list(job.superseded),
        }
