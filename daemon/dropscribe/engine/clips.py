"""Recordings decoded to 16 kHz samples with their speech found: in pieces of a few minutes
as they are decoded when their job's turn comes, or whole, ahead of it, when they are short
enough to be batched with others.

Every way here refuses a recording longer than the server's limit, by its header before any
sample is decoded, or while decoding once it turns out to be (a header may understate), and
stops when its job is cancelled, between two frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dropscribe.engine.audio import (
    AudioProblem,
    DecodeStopped,
    TooLong,
    counted_planes,
    decode_within,
    never_stop,
    probe,
    refuse,
)
from dropscribe.engine.batching import SHORT_SECONDS, Clip
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.pieces import Cutter, Piece, Sizes, cut_planes
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.vad import SAMPLING_RATE, speech_spans

#: The error of an upload that decodes to nothing.
NO_SAMPLES = "the uploaded file contains no audio samples"


def recording_pieces(
    audio: Path,
    max_seconds: float,
    should_stop: StopCheck,
    sizes: Sizes = Sizes(),  # noqa: B008 (frozen, so one shared default is safe)
    resume: tuple[int, int] = (0, 0),
) -> Iterator[Piece]:
    """Yield the recording in pieces (``pieces``), decoded as they are needed, from the piece
    index and start sample ``resume`` on. Raise EngineError if it is not audio, holds none or
    is longer than ``max_seconds``; Interrupted when ``should_stop`` turns True."""
    try:
        facts = probe(audio)
        refuse(facts, max_seconds)
        index, start = resume
        cutter = Cutter(0, sizes, index, start)
        planes = counted_planes(audio, SAMPLING_RATE, max_seconds, should_stop, "mono")
        yielded = False
        for piece in cut_planes(planes, [cutter]):
            yielded = True
            yield piece
    except AudioProblem as exc:
        raise EngineError(str(exc)) from exc
    except DecodeStopped as exc:
        raise Interrupted() from exc
    if not yielded and resume == (0, 0):
        raise EngineError(NO_SAMPLES)


def short_clip(audio: Path, max_seconds: float) -> Clip | EngineError | None:
    """Return a short recording decoded to 16 kHz with its speech found, or why it cannot be
    transcribed; None when it holds more than SHORT_SECONDS of audio, by its header or once
    decoded (a header may understate), so that it is decoded on its own when its turn comes.
    A header that gives no duration (webm written as it was recorded) is decoded to find out.
    """
    try:
        facts = probe(audio)
        refuse(facts, max_seconds)
    except AudioProblem as exc:
        return EngineError(str(exc))
    if facts.duration_seconds is not None and facts.duration_seconds > SHORT_SECONDS:
        return None
    limit = min(SHORT_SECONDS, max_seconds)
    try:
        # Nothing stops it but its limit: work done ahead is dropped if its job is cancelled.
        samples = decode_within(audio, SAMPLING_RATE, limit, facts.duration_seconds, never_stop)
    except TooLong as exc:
        # Past the server's own limit it is refused; past the batching limit it waits its turn.
        return EngineError(str(exc)) if limit == max_seconds else None
    except AudioProblem as exc:
        return EngineError(str(exc))
    if samples.size == 0:
        return EngineError(NO_SAMPLES)
    return Clip(samples, speech_spans(samples))
