"""The speech engine: faster-whisper models, loaded once each, behind a small Protocol.

The workers depend only on the Engine protocol (``protocol``), so unit tests hand them a fake.
The real WhisperEngine keeps one WhisperModel per model spec (loaded on first use, under a
lock, shared by every worker) and translates decoder failures into EngineError with a message
a person can act on. Audio is probed and decoded frame by frame by ``audio`` (PyAV, as
faster-whisper uses), so a file longer than the server's limit is refused before it is
decoded; mp3, wav, flac, ogg/opus, m4a/aac, webm and mp4 all work with no ffmpeg binary. A
recording longer than a short clip is cut into pieces of a few minutes as it is decoded and
transcribed piece by piece (``pieces``, ``stream``), so memory does not grow with its length.

How a recording is decoded lives beside it: ``clips`` (its samples and speech), ``strategies``
(batched or sequential), ``completeness`` (the second try of a short transcript), ``channels``
(a call recording, channel by channel) and ``loading`` (the model onto a device). The names
the command line and the benchmarks import from here (the defaults, EngineError, decoded,
device_settings, model_location) are re-exported from those modules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from faster_whisper import WhisperModel

from dropscribe.core.coverage import DEFAULT_MAX_GAP_SECONDS
from dropscribe.core.transcript import Transcript
from dropscribe.engine.audio import AudioProblem, probe
from dropscribe.engine.batching import SHORT_SECONDS, Clip
from dropscribe.engine.channels import SPLIT_CHANNELS, split_or_mixed
from dropscribe.engine.clips import recording_pieces, short_clip
from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE, CoverageGuard
from dropscribe.engine.errors import EngineError
from dropscribe.engine.languages import assumed_english, language_refusal
from dropscribe.engine.loading import load_model
from dropscribe.engine.models import BUNDLED_MODEL, NAMED, info
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.pieces import Piece, Sizes, whole_piece
from dropscribe.engine.prefetch import Prefetcher
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.strategies import Decoding, Strategy, decode_together
from dropscribe.engine.stream import (
    PieceResult,
    PieceSink,
    Resumption,
    joined,
    resume_points,
    transcribe_pieces,
)

log = logging.getLogger(__name__)

#: What responses call the bundled model.
BUNDLED_LABEL = "tiny.en"

#: Default longest audio accepted, in hours: a guard against absurd inputs, not a memory
#: budget. Recordings are transcribed a few minutes at a time, so memory is the same for any
#: length; what a longer one costs is time (about 2 s of one 2-core machine per audio minute
#: with tiny.en: 26 h take under an hour). A day of a dictaphone, with room for a header that
#: rounds up, gets through; a file that claims more is a mistake or a decompression bomb.
DEFAULT_MAX_AUDIO_HOURS = 26.0


class WhisperEngine:
    """The real engine: faster-whisper models keyed by spec, each loaded once.

    ``workers`` is how many jobs may run at once: each gets ``cores // workers`` threads.
    A transcript covering less than ``min_coverage`` of the speech, or leaving more than
    ``max_gap_seconds`` of it in a row uncovered, has what it missed decoded again with the
    other strategy (``completeness``). A recording longer than a short clip is cut into
    pieces of ``sizes`` (``pieces``), each judged and re-decoded on its own.
    """

    def __init__(
        self,
        workers: int = 1,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
        first: Strategy = Strategy.BATCHED,
        max_audio_hours: float = DEFAULT_MAX_AUDIO_HOURS,
        max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS,
        sizes: Sizes = Sizes(),  # noqa: B008 (frozen, so one shared default is safe)
    ) -> None:
        self._sizes = sizes
        self._models: dict[str, WhisperModel] = {}
        self._loading = threading.Lock()
        self._workers = workers
        self._guard = CoverageGuard(first, min_coverage, max_gap_seconds)
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
        found = info(spec)
        fetching = found.kind == NAMED and not found.offline
        if fetching:
            log.info("fetching model %s once into the Hugging Face cache", spec)
        model = load_model(spec, self._workers)
        if fetching:
            log.info("model %s fetched; later starts load it from the cache", spec)
        return model

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return the transcript of the audio with its coverage, or raise EngineError."""
        return self.transcribe_from(spec, audio, args, should_stop, (), None)

    def transcribe_from(
        self,
        spec: str,
        audio: Path,
        args: TranscribeArgs,
        should_stop: StopCheck,
        done: Sequence[PieceResult],
        on_piece: PieceSink | None,
    ) -> Transcript:
        """Return the transcript of the audio as transcribe does, going on after the pieces
        ``done`` instead of from its start, and calling ``on_piece`` with each piece once it
        is decoded (the seam for checkpoints and progress: ``stream``)."""
        model = self.model(spec)
        multilingual = model.model.is_multilingual
        refusal = language_refusal(multilingual, self.label(spec), args)
        if refusal is not None:
            raise refusal
        transcript = self._decoded(model, audio, args, should_stop, done, on_piece)
        return assumed_english(multilingual, args, transcript)

    def _decoded(
        self,
        model: WhisperModel,
        audio: Path,
        args: TranscribeArgs,
        should_stop: StopCheck,
        done: Sequence[PieceResult],
        on_piece: PieceSink | None,
    ) -> Transcript:
        clip = self._prefetched.take(audio)
        if isinstance(clip, EngineError):
            raise clip
        if args.get(SPLIT_CHANNELS):
            return split_or_mixed(
                self._guard,
                model,
                audio,
                lambda mixed: self._mixed(model, audio, clip, mixed, should_stop, done, on_piece),
                args,
                should_stop,
                self._max_seconds,
                Resumption(self._sizes, done, on_piece),
            )
        return self._mixed(model, audio, clip, args, should_stop, done, on_piece)

    def _mixed(
        self,
        model: WhisperModel,
        audio: Path,
        clip: Clip | None,
        args: TranscribeArgs,
        should_stop: StopCheck,
        done: Sequence[PieceResult] = (),
        on_piece: PieceSink | None = None,
    ) -> Transcript:
        """Return the transcript of the recording mixed: a short one decoded ahead is its
        one piece; a longer one is cut into pieces as it is decoded."""
        pieces: Iterable[Piece]
        if clip is not None:
            pieces = [] if done else [whole_piece(clip)]
        else:
            resume = resume_points(done).get(0, (0, 0))
            pieces = recording_pieces(audio, self._max_seconds, should_stop, self._sizes, resume)
        results = transcribe_pieces(
            self._guard, model, pieces, args, should_stop, done=done, on_piece=on_piece
        )
        return joined(results, self._guard)

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
        multilingual = model.model.is_multilingual
        refusal = language_refusal(multilingual, self.label(spec), args)
        if refusal is not None:
            return [EngineError(str(refusal)) for _ in audios]
        results = self._many(spec, model, audios, args, should_stop)
        return [
            r if isinstance(r, EngineError) else assumed_english(multilingual, args, r)
            for r in results
        ]

    def _many(
        self,
        spec: str,
        model: WhisperModel,
        audios: Sequence[Path],
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> list[Transcript | EngineError]:
        detects = not args.get("language") and model.model.is_multilingual
        if args.get(SPLIT_CHANNELS) or detects:
            # Recordings decoded together share one language: a multilingual model detects
            # each recording's own only when it decodes it alone.
            return [self._each(spec, audio, args, should_stop) for audio in audios]
        clips = [self._prefetched.take(audio) for audio in audios]
        good = [clip for clip in clips if isinstance(clip, Clip)]
        decodings = iter(decode_together(model, good, args, should_stop))
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
        return self._guard.settled(model, clip, next(decodings), args, should_stop)

    def _alone(
        self, model: WhisperModel, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript | EngineError:
        """Return the transcript of a recording too long to share a batch, decoded now."""
        try:
            return self._mixed(model, audio, None, args, should_stop)
        except EngineError as exc:
            return exc

    def _each(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript | EngineError:
        try:
            return self.transcribe(spec, audio, args, should_stop)
        except EngineError as exc:
            return exc
