"""The pipeline: a claimed recording's way to a published transcript.

* :mod:`.steps`: one method per step (transfer, poll, publish); no policy;
* :mod:`.outcomes`: pure decisions on a failed step: retry, fail or pause;
* :mod:`.gates`: the pauses of all work (a refused key, an outage, a full disk), through the
  scheduler's hold;
* :mod:`.quality`: whether a transcript is complete (the daemon's side of the guard);
* :mod:`.lifecycle`: the one way a job fails, and the way ``retry`` sends it back;
* :mod:`.runner`: :class:`Pipeline`, which the scheduler calls with job ids.
"""

from dropscribe.pipeline.changes import file_digest
from dropscribe.pipeline.gates.auth import AuthGate
from dropscribe.pipeline.lifecycle import Lifecycle
from dropscribe.pipeline.ports import POLL, TRANSFER
from dropscribe.pipeline.profiles import StepsByProfile
from dropscribe.pipeline.runner import Pipeline
from dropscribe.pipeline.step_options import Clock, Options
from dropscribe.pipeline.steps import Steps

__all__ = [
    "POLL",
    "TRANSFER",
    "AuthGate",
    "Clock",
    "Lifecycle",
    "Options",
    "Pipeline",
    "Steps",
    "StepsByProfile",
    "file_digest",
]
