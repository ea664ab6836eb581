"""The speech engine: faster-whisper models, loaded once each, behind a small Protocol.

The workers depend only on the Engine protocol, so unit tests hand them a fake. The real
WhisperEngine keeps one WhisperModel per model spec (loaded on first use, under a lock, shared
by every worker) and translates decoder failures into EngineError with a message a person can
act on. Audio is probed and decoded in bounded chunks by ``audio`` (PyAV, as faster-whisper
uses), so a file longer than the server's limit is refused before it can take the memory; mp3,
wav, flac, ogg/opus, m4a/aac, webm and mp4 all work with no ffmpeg binary.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import ctranslate2
from faster_whisper import BatchedInferencePipeline, WhisperModel

from dropscribe.core.coverage import Coverage, Span, measure
from dropscribe.engine.audio import (
    AudioProblem,
    DecodeStopped,
    TooLong,
    decode_bounded,
    decode_within,
    never_stop,
    probe,
    refuse,
)
from dropscribe.engine.batching import SHORT_SECONDS, Clip, laid_audio, laid_windows, offsets, split
from dropscribe.engine.channels import (
    PROBLEM,
    SPLIT_CHANNELS,
    NotACallRecording,
    channel_samples,
    interleaved,
)
from dropscribe.engine.encoder import PieceEncodingModel
from dropscribe.engine.models import BUNDLED_MODEL as BUNDLED_MODEL
from dropscribe.engine.models import NAMED, bundled_folder, info
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.prefetch import Prefetcher
from dropscribe.engine.vad import SAMPLING_RATE, speech_spans

log = logging.getLogger(__name__)

#: What responses call the bundled model.
BUNDLED_LABEL = "tiny.en"

#: Default longest audio accepted, in hours. faster-whisper's transcribe computes the whole
#: recording's spectrogram in one pass, which peaks at about 51 MiB per minute of audio
#: (measured: +467 MiB for 10 min, +1.5 GiB for 30 min), so one hour costs about 3 GiB on top
#: of the model: what fits the units' MemoryMax=4G with one worker. Raise both together.
DEFAULT_MAX_AUDIO_HOURS = 1.0

Transcript = dict[str, Any]
StopCheck = Callable[[], bool]

#: The error of an upload that decodes to nothing.
NO_SAMPLES = "the uploaded file contains no audio samples"


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


@runtime_checkable
class ModelLoader(Protocol):
    """An engine that can load a model ahead of the first job (the real WhisperEngine can)."""

    def model(self, spec: str) -> object:
        """Return the loaded model for a spec. Raise EngineError if it cannot be loaded."""
        ...


def model_location(spec: str) -> str:
    """Given a model spec, return what WhisperModel loads: a folder path or a model name.

    Raise ModelError if the bundled model's files are not the pinned ones."""
    if spec == BUNDLED_MODEL:
        return str(bundled_folder())
    return spec


def device_settings() -> tuple[str, str]:
    """Return (device, compute type): float16 on a CUDA GPU when one is visible, else int8 CPU."""
    if ctranslate2.get_cuda_device_count() > 0:
        return "cuda", "float16"
    return "cpu", "int8"


def segment_view(segment: Any) -> dict[str, Any]:
    """Given a faster-whisper Segment, return it in openai-whisper's JSON shape, with its
    ``words`` when word timestamps were asked for."""
    view = {
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


def word_view(word: Any, low: float, high: float) -> dict[str, Any]:
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


def collect_segments(segments: Iterable[Any], should_stop: StopCheck) -> list[dict[str, Any]]:
    """Drain the lazy segment generator, checking between segments whether to give up."""
    views = []
    for segment in segments:
        if should_stop():
            raise Interrupted()
        views.append(segment_view(segment))
    return views


class Strategy(StrEnum):
    """How a recording is decoded."""

    #: Speech windows found by VAD, decoded together in batches (faster-whisper's
    #: BatchedInferencePipeline). Fast, and it cannot skip a window.
    BATCHED = "batched"
    #: Whisper's own sequential loop over 30 s windows, with temperature fallback.
    SEQUENTIAL = "sequential"


#: Share of the speech a transcript must cover before the engine stops trying: below it, the
#: other strategy runs once. Complete transcripts of the fixtures cover 0.996 to 1.0 of the
#: speech (VAD padding and timestamp rounding leave slivers); one dropped 3 s sentence in the
#: half-minute OSR recording covers 0.90-0.92, which must not pass.
DEFAULT_MIN_COVERAGE = 0.95

#: Windows decoded in one batch: CPU gains little past 8 and the memory grows with it; a GPU
#: keeps gaining up to its memory, 16 windows of tiny/small fit any card with 4 GiB.
CPU_BATCH = 8
CUDA_BATCH = 16


def machine_cores() -> int:
    """Return the CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def engine_threads(workers: int, cores: int) -> int:
    """Return CTranslate2 threads per worker so that workers x threads never exceeds cores."""
    return max(1, cores // max(1, workers))


def batch_size(device: str) -> int:
    """Return how many windows go through the model at once on this device."""
    return CUDA_BATCH if device == "cuda" else CPU_BATCH


@dataclass(frozen=True)
class Decoding:
    """One strategy's transcript of a recording and how much of its speech that covers."""

    strategy: Strategy
    segments: list[dict[str, Any]]
    language: str
    coverage: Coverage
    #: How sure the model is of the language: 1.0 when it was given, None with no speech.
    language_probability: float | None = None


def transcript_of(decoding: Decoding, min_coverage: float, tried: list[Strategy]) -> Transcript:
    """Return the Whisper-shaped transcript plus what the engine knows about its coverage."""
    coverage = decoding.coverage
    text = "".join(view["text"] for view in decoding.segments).strip()
    return {
        "text": text,
        "segments": decoding.segments,
        "language": decoding.language,
        "language_probability": decoding.language_probability,
        "no_speech": coverage.no_speech,
        "complete": coverage.ratio >= min_coverage,
        "coverage": coverage.as_dict(),
        "strategy": decoding.strategy.value,
        "strategies_tried": [s.value for s in tried],
    }


def other(strategy: Strategy) -> Strategy:
    """Return the strategy that is not ``strategy``."""
    return Strategy.SEQUENTIAL if strategy is Strategy.BATCHED else Strategy.BATCHED


class WhisperEngine:
    """The real engine: faster-whisper models keyed by spec, each loaded once.

    ``workers`` is how many jobs may run at once: each gets ``cores // workers`` threads.
    A transcript covering less than ``min_coverage`` of the speech is decoded once more with
    the other strategy, and the better of the two is kept.
    """

    def __init__(
        self,
        workers: int = 1,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
        first: Strategy = Strategy.BATCHED,
        max_audio_hours: float = DEFAULT_MAX_AUDIO_HOURS,
    ) -> None:
        self._models: dict[str, WhisperModel] = {}
        self._loading = threading.Lock()
        self._workers = workers
        self._min_coverage = min_coverage
        self._first = first
        max_seconds = max_audio_hours * 3600
        self._max_seconds = max_seconds
        # Only short recordings are decoded ahead and batched, so that what they hold in
        # memory together stays small; a longer one is decoded when its turn comes.
        self._prefetched: Prefetcher[Clip | EngineError | None] = Prefetcher(
            lambda audio: short_clip(audio, max_seconds)
        )

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
        threads = engine_threads(self._workers, machine_cores())
        found = info(spec)
        fetching = found.kind == NAMED and not found.offline
        if fetching:
            log.info("fetching model %s once into the Hugging Face cache", spec)
        try:
            model = PieceEncodingModel(
                model_location(spec),
                device=device,
                compute_type=compute_type,
                cpu_threads=threads,
                num_workers=self._workers,
            )
        except Exception as exc:  # hub, disk and CTranslate2 errors all mean "cannot load"
            raise EngineError(f"could not load model {spec!r}: {exc}") from exc
        if fetching:
            log.info("model %s fetched; later starts load it from the cache", spec)
        return model

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return the transcript of the audio with its coverage, or raise EngineError."""
        model = self.model(spec)
        clip = self._prefetched.take(audio) or self._whole(audio, should_stop)
        return self._of_clip(model, audio, clip, args, should_stop)

    def _of_clip(
        self,
        model: WhisperModel,
        audio: Path,
        clip: Clip | EngineError,
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Transcript:
        if isinstance(clip, EngineError):
            raise clip
        if args.get(SPLIT_CHANNELS):
            return self._split_or_mixed(model, audio, clip, args, should_stop)
        first = self._decode(self._first, model, clip.samples, clip.speech, args, should_stop)
        return self._settled(model, clip, first, args, should_stop)

    def _whole(self, audio: Path, should_stop: StopCheck) -> Clip | EngineError:
        """Return the whole recording decoded, up to the server's limit, or why it cannot be.
        Raise Interrupted when ``should_stop`` turns True while decoding."""
        try:
            samples = decoded(audio, SAMPLING_RATE, self._max_seconds, should_stop)
        except EngineError as exc:
            return exc
        return Clip(samples, speech_spans(samples))

    def shares_batches(self, audio: Path) -> bool:
        """Return False when the recording's header says it holds more than SHORT_SECONDS of
        audio: such a recording runs as a job of its own, published and cancelled on its own.
        One whose header understates is found out while decoding, and runs alone in its batch.
        """
        try:
            facts = probe(audio)
        except AudioProblem:
            return True  # its batch reports the problem, job by job
        return facts.duration_seconds is None or facts.duration_seconds <= SHORT_SECONDS

    def prefetch(self, audio: Path) -> None:
        """Decode and resample the recording in the background, ahead of its transcription."""
        self._prefetched.ahead(audio)

    def close(self) -> None:
        """Stop decoding ahead."""
        self._prefetched.close()

    def transcribe_many(
        self, spec: str, audios: Sequence[Path], args: TranscribeArgs, should_stop: StopCheck
    ) -> list[Transcript | EngineError]:
        """Return the transcript of each recording, or the EngineError that stopped it: the
        windows of all of them go through one batched call; a recording whose transcript
        falls short of the coverage is decoded once more on its own, sequentially.

        Raise Interrupted when ``should_stop`` turns True before the end.
        """
        model = self.model(spec)
        detects = not args.get("language") and model.model.is_multilingual
        if args.get(SPLIT_CHANNELS) or detects:
            # Recordings decoded together share one language: a multilingual model detects
            # each recording's own only when it decodes it alone.
            return [self._each(spec, audio, args, should_stop) for audio in audios]
        clips = [self._prefetched.take(audio) for audio in audios]
        good = [clip for clip in clips if isinstance(clip, Clip)]
        decodings = iter(self._together(model, good, args, should_stop))
        shared = [self._shared(model, clip, decodings, args, should_stop) for clip in clips]
        # The short recordings' samples are not needed while the long ones run one by one.
        del clips, good
        return [
            self._alone(model, audio, args, should_stop) if result is None else result
            for audio, result in zip(audios, shared, strict=True)
        ]

    def _shared(
        self,
        model: WhisperModel,
        clip: Clip | EngineError | None,
        decodings: Iterator[Decoding],
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Transcript | EngineError | None:
        """Return a batched recording's transcript or error; None for one too long to share."""
        if clip is None or isinstance(clip, EngineError):
            return clip
        return self._settled(model, clip, next(decodings), args, should_stop)

    def _alone(
        self, model: WhisperModel, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript | EngineError:
        """Return the transcript of a recording too long to share a batch, decoded now."""
        try:
            return self._of_clip(model, audio, self._whole(audio, should_stop), args, should_stop)
        except EngineError as exc:
            return exc

    def _each(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript | EngineError:
        try:
            return self.transcribe(spec, audio, args, should_stop)
        except EngineError as exc:
            return exc

    def _split_or_mixed(
        self,
        model: WhisperModel,
        audio: Path,
        clip: Clip,
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Transcript:
        """Return the per-channel transcript of a call recording; a recording without two
        different channels is transcribed mixed, and the transcript says why."""
        try:
            return self._by_channel(model, audio, args, should_stop)
        except NotACallRecording as exc:
            mixed = without_split(args)
            first = self._decode(self._first, model, clip.samples, clip.speech, mixed, should_stop)
            return {**self._settled(model, clip, first, mixed, should_stop), PROBLEM: str(exc)}

    def _by_channel(
        self, model: WhisperModel, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return the transcripts of the two channels, each decoded alone, interleaved."""
        rest = without_split(args)
        try:
            channels = channel_samples(audio, SAMPLING_RATE, self._max_seconds)
        except NotACallRecording:
            raise
        except AudioProblem as exc:
            raise EngineError(str(exc)) from exc
        transcripts = []
        for samples in channels:
            clip = Clip(samples, speech_spans(samples))
            first = self._decode(self._first, model, clip.samples, clip.speech, rest, should_stop)
            transcripts.append(self._settled(model, clip, first, rest, should_stop))
        return interleaved(transcripts)

    def _together(
        self, model: WhisperModel, clips: list[Clip], args: TranscribeArgs, should_stop: StopCheck
    ) -> list[Decoding]:
        starts = offsets([clip.seconds for clip in clips])
        laid = laid_windows(clips, starts)
        language, probability = str(args.get("language") or "en"), None
        views: list[dict[str, Any]] = []
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

    def _settled(
        self,
        model: WhisperModel,
        clip: Clip,
        first: Decoding,
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Transcript:
        tried = [first.strategy]
        best = first
        if best.coverage.ratio < self._min_coverage:
            tried.append(other(first.strategy))
            again = self._decode(tried[-1], model, clip.samples, clip.speech, args, should_stop)
            best = max(best, again, key=lambda d: d.coverage.ratio)
        return transcript_of(best, self._min_coverage, tried)

    def _decode(
        self,
        strategy: Strategy,
        model: WhisperModel,
        samples: Any,
        speech: list[Span],
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Decoding:
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
        return Decoding(
            strategy, views, info.language, measure(speech, views), probability_of(info)
        )


def probability_of(info: Any) -> float:
    """Return faster-whisper's language probability, rounded (1.0 when the language was set)."""
    return round(float(info.language_probability), 4)


def without_split(args: TranscribeArgs) -> TranscribeArgs:
    """Return the arguments without split_channels, which faster-whisper does not know."""
    return {name: value for name, value in args.items() if name != SPLIT_CHANNELS}


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
        raise EngineError(NO_SAMPLES)
    return samples
