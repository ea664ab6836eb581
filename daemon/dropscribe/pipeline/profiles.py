"""The steps of each folder profile: a job runs with the steps of the profile it was claimed
under (``Job.profile``), each built over that profile's effective settings (whisper input,
fingerprint, outbox formats, submit path). The set is replaced as a whole on reload; a step
in progress finishes with the steps it started with.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from dropscribe.core.jobs import Job
from dropscribe.pipeline.steps import Next, Steps


class StepsByProfile:
    """Routes each job to the steps of its profile; a job whose profile is no longer
    configured runs with the top level's (key None). Safe to share between threads."""

    def __init__(self, steps: Mapping[str | None, Steps]) -> None:
        """``steps`` must hold the top level's under None."""
        self._lock = threading.Lock()
        self._steps = dict(steps)

    def replace(self, steps: Mapping[str | None, Steps]) -> None:
        """Put new steps in force (after a reload)."""
        new = dict(steps)
        with self._lock:
            self._steps = new

    def of(self, job: Job) -> Steps:
        """Return the steps ``job`` runs with."""
        with self._lock:
            return self._steps.get(job.profile) or self._steps[None]

    def transfer(self, job: Job) -> Next | None:
        """See Steps.transfer."""
        return self.of(job).transfer(job)

    def resend_reason(self, job: Job) -> str:
        """See Steps.resend_reason."""
        return self.of(job).resend_reason(job)

    def poll(self, job: Job) -> Next | None:
        """See Steps.poll."""
        return self.of(job).poll(job)

    def resend(self, job: Job, reason: str) -> Next:
        """See Steps.resend."""
        return self.of(job).resend(job, reason)

    def publish(self, job: Job) -> None:
        """See Steps.publish."""
        self.of(job).publish(job)

    def publish_checked(self, job: Job) -> Next | None:
        """See Steps.publish_checked."""
        return self.of(job).publish_checked(job)
