"""faster-whisper's segments and words as the transcript's JSON shape (openai-whisper's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dropscribe.core.transcript import Segment, Word
from dropscribe.engine.errors import Interrupted
from dropscribe.engine.protocol import StopCheck


def segment_view(segment: Any) -> Segment:
    """Given a faster-whisper Segment, return it in openai-whisper's JSON shape, with its
    ``words`` when word timestamps were asked for."""
    view: Segment = {
        "id": segment.id,
        "seek": segment.seek,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }
    if segment.words is not None:
        view["words"] = [word_view(word, segment.start, segment.end) for word in segment.words]
    return view


def word_view(word: Any, low: float, high: float) -> Word:
    """Given a faster-whisper Word and its segment's start and end, return ``{start, end,
    word, probability}``, times in milliseconds kept inside the segment (faster-whisper sets
    a segment's edges from its words, so only rounding can put one a hair outside)."""
    return {
        "start": within(float(word.start), low, high),
        "end": within(float(word.end), low, high),
        "word": str(word.word),
        "probability": round(float(word.probability), 4),
    }


def within(seconds: float, low: float, high: float) -> float:
    """Return ``seconds`` rounded to the millisecond and kept between ``low`` and ``high``."""
    return min(max(round(seconds, 3), float(low)), float(high))


def collect_segments(segments: Iterable[Any], should_stop: StopCheck) -> list[Segment]:
    """Drain the lazy segment generator, checking between segments whether to give up."""
    views = []
    for segment in segments:
        if should_stop():
            raise Interrupted()
        views.append(segment_view(segment))
    return views
