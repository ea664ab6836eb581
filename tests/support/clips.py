"""A recording decoded whole into a Clip, for tests that hand the engine's parts one clip."""

from __future__ import annotations

from pathlib import Path

from dropscribe.engine.audio import decode_bounded, never_stop
from dropscribe.engine.batching import Clip
from dropscribe.engine.vad import SAMPLING_RATE, speech_spans


def whole_clip(path: Path, max_seconds: float = 3600.0) -> Clip:
    """Return the whole recording as 16 kHz samples with its speech found."""
    samples = decode_bounded(path, SAMPLING_RATE, max_seconds, never_stop)
    return Clip(samples, speech_spans(samples))
