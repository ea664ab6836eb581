"""What the steps of a job are given: the settings they need and the clock they read."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dropscribe.core.backoff import PollPolicy, RetryPolicy
from dropscribe.pipeline import quality as completeness
from dropscribe.pipeline.ports import Labeller


@dataclass(frozen=True)
class Options:
    """What the steps need from the settings."""

    whisper_input: Mapping[str, Any]
    fingerprint: str
    service_tier: str
    retry: RetryPolicy
    poll: PollPolicy
    delete_after_success: bool = False
    quality: completeness.QualityPolicy = field(default_factory=completeness.QualityPolicy)
    #: Finds the speech in a recording whose result carries no coverage (a remote service's).
    speech: completeness.SpeechFinder | None = None
    #: Puts speaker labels on a result before it is published; None: no diarization.
    speakers: Labeller | None = None
    #: The limits a refusal of the service may name (``max_audio_hours``), each with the
    #: setting of this daemon that lifts it (``embedded.max_audio_hours``); see refusals.
    limit_settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clock:
    """Wall-clock time (stored with each job) and the random source of jitter, passed in so
    that tests pin both. Waiting itself is the scheduler's, on the monotonic clock."""

    time: Callable[[], float] = time.time
    random: Callable[[], float] = random.random
