"""The two ways a recording is decoded, batched and sequential, each giving its segments and
how much of the speech they cover.

Batched decoding runs faster-whisper's BatchedInferencePipeline over speech windows, for one
recording or several laid end to end (``batching``); sequential decoding is Whisper's own loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from faster_whisper import BatchedInferencePipeline, WhisperModel

from dropscribe.core.coverage import Coverage, Span, measure
from dropscribe.core.transcript import Segment
from dropscribe.engine.batching import Clip, laid_audio, laid_windows, offsets, split
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.segments import collect_segments


class Strategy(StrEnum):
    """How a recording is decoded."""

    #: Speech windows found by VAD, decoded together in batches (faster-whisper's
    #: BatchedInferencePipeline). Fast, and it cannot skip a window.
    BATCHED = "batched"
    #: Whisper's own sequential loop over 30 s windows, with temperature fallback.
    SEQUENTIAL = "sequential"


#: Windows decoded in one batch: CPU gains little past 8 and the memory grows with it; a GPU
#: keeps gaining up to its memory, 16 windows of tiny/small fit any card with 4 GiB.
CPU_BATCH = 8
CUDA_BATCH = 16


def other(strategy: Strategy) -> Strategy:
    """Return the strategy that is not ``strategy``."""
    return Strategy.SEQUENTIAL if strategy is Strategy.BATCHED else Strategy.BATCHED


def batch_size(device: str) -> int:
    """Return how many windows go through the model at once on this device."""
    return CUDA_BATCH if device == "cuda" else CPU_BATCH


@dataclass(frozen=True)
class Decoding:
    """One strategy's transcript of a recording and how much of its speech that covers."""

    strategy: Strategy
    segments: list[Segment]
    language: str
    coverage: Coverage
    #: How sure the model is of the language: 1.0 when it was given, None with no speech.
    language_probability: float | None = None


def decode(
    strategy: Strategy,
    model: WhisperModel,
    samples: Any,
    speech: list[Span],
    args: TranscribeArgs,
    should_stop: StopCheck,
) -> Decoding:
    """Return one recording's samples decoded with ``strategy``, its coverage measured on its
    ``speech``. Raise EngineError if the decoder fails, Interrupted when ``should_stop``
    turns True."""
    if not speech:
        # Nothing to decode: Whisper would invent words for silence, tone or hum.
        return Decoding(strategy, [], str(args.get("language") or "en"), measure([], []))
    try:
        if strategy is Strategy.BATCHED:
            segments, info = chunked(model, samples, args)
        else:
            segments, info = model.transcribe(samples, **args)
        views = collect_segments(segments, should_stop)
    except (ValueError, RuntimeError) as exc:
        raise EngineError(f"transcription failed: {exc}") from exc
    return Decoding(strategy, views, info.language, measure(speech, views), probability_of(info))


def decode_together(
    model: WhisperModel, clips: list[Clip], args: TranscribeArgs, should_stop: StopCheck
) -> list[Decoding]:
    """Return the batched decoding of each recording, all of their windows decoded in one
    batched call. Raise EngineError if the decoder fails, Interrupted when ``should_stop``
    turns True."""
    starts = offsets([clip.seconds for clip in clips])
    laid = laid_windows(clips, starts)
    language, probability = str(args.get("language") or "en"), None
    views: list[Segment] = []
    if laid:
        try:
            segments, info = batched(model, laid_audio(clips), laid, args)
            views = collect_segments(segments, should_stop)
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"transcription failed: {exc}") from exc
        language, probability = info.language, probability_of(info)
    return [
        Decoding(Strategy.BATCHED, part, language, measure(clip.speech, part), probability)
        for clip, part in zip(clips, split(views, starts), strict=True)
    ]


def probability_of(info: Any) -> float:
    """Return faster-whisper's language probability, rounded (1.0 when the language was set)."""
    return round(float(info.language_probability), 4)


def chunked(model: WhisperModel, samples: Any, args: TranscribeArgs) -> Any:
    """Start faster-whisper's batched pipeline with its own VAD chunking (up to 30 s of speech
    a chunk, the pauses cut out, one segment a chunk); return its lazy segments and info.
    Decoding without timestamps keeps tiny.en's word error rate at the sequential loop's (with
    timestamps it rose from 8.6 % to 15 % on a five-minute reading)."""
    pipeline = BatchedInferencePipeline(model)
    return pipeline.transcribe(samples, batch_size=batch_size(model.model.device), **args)


def batched(model: WhisperModel, samples: Any, chunks: list[Span], args: TranscribeArgs) -> Any:
    """Start faster-whisper's batched pipeline over these windows; return its lazy segments
    and info. Timestamps stay on so each segment says which words it holds."""
    clips = [{"start": start, "end": end} for start, end in chunks]
    pipeline = BatchedInferencePipeline(model)
    return pipeline.transcribe(
        samples,
        clip_timestamps=clips,
        batch_size=batch_size(model.model.device),
        without_timestamps=False,
        **args,
    )
