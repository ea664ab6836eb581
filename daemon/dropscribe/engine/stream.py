"""A recording transcribed piece by piece (``pieces``), in memory that does not grow with its
length, and the pieces' results joined into one transcript on the recording's clock.

Each piece is decoded on its own by the completeness guard (its first strategy, and the other
when it covers too little of the piece's speech); its segments and words are moved to where
the piece lies in the recording. The joined transcript's coverage is measured over the whole
recording's speech, as if it had been decoded whole.

Without a language given, the first piece with speech detects it and every later piece is
decoded in it, as Whisper decodes a whole recording in the language of its first 30 s.

Checkpoints: a PieceResult holds everything the join needs (place, segments, speech, strategy,
language), and nothing else, so it can be stored as it comes (``on_piece``). To resume a
recording after a crash, pass the stored results as ``done``: the pieces are cut from where
the last done one ended in its channel (``resume_points``) and counted on from it, and the join
uses the done results as if they had just been decoded (the cuts are the same as in an
uninterrupted run: ``pieces``). The results of one channel must be its first pieces, in order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from faster_whisper import WhisperModel

from dropscribe.core.coverage import Span, measure
from dropscribe.core.transcript import Segment, Transcript, Word
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.pieces import Piece, Sizes
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.strategies import Decoding, Strategy
from dropscribe.engine.vad import SAMPLING_RATE


@dataclass(frozen=True)
class PieceResult:
    """One finished piece: where it lies (seconds in the recording, and the sample it starts
    at), its segments and speech on the recording's clock, and how it was decoded."""

    channel: int
    index: int
    start_sample: int
    end_sample: int
    segments: list[Segment]
    speech: list[Span]
    strategy: Strategy
    tried: list[Strategy]
    language: str
    language_probability: float | None

    @property
    def start(self) -> float:
        """Return where the piece starts in the recording, in seconds."""
        return self.start_sample / SAMPLING_RATE

    @property
    def end(self) -> float:
        """Return where the piece ends in the recording, in seconds."""
        return self.end_sample / SAMPLING_RATE

    def as_json(self) -> str:
        """Return the result as JSON text, to keep as a checkpoint (``from_json`` reads it)."""
        return json.dumps(
            {
                "channel": self.channel,
                "index": self.index,
                "start_sample": self.start_sample,
                "end_sample": self.end_sample,
                "segments": self.segments,
                "speech": self.speech,
                "strategy": self.strategy.value,
                "tried": [s.value for s in self.tried],
                "language": self.language,
                "language_probability": self.language_probability,
            }
        )


def from_json(text: str) -> PieceResult:
    """Return the result kept as ``as_json`` wrote it. Raise ValueError (json's included),
    KeyError or TypeError if the text is not one."""
    raw: dict[str, Any] = json.loads(text)
    probability = raw["language_probability"]
    return PieceResult(
        channel=int(raw["channel"]),
        index=int(raw["index"]),
        start_sample=int(raw["start_sample"]),
        end_sample=int(raw["end_sample"]),
        segments=list(raw["segments"]),
        speech=[(float(a), float(b)) for a, b in raw["speech"]],
        strategy=Strategy(raw["strategy"]),
        tried=[Strategy(s) for s in raw["tried"]],
        language=str(raw["language"]),
        language_probability=None if probability is None else float(probability),
    )


def in_order(results: Sequence[PieceResult]) -> bool:
    """Return True when each channel's results are its first pieces, each starting where the
    one before it ended: what resuming after them needs."""
    ends: dict[int, tuple[int, int]] = {}
    for result in results:
        index, end = ends.get(result.channel, (0, 0))
        if (result.index, result.start_sample) != (index, end):
            return False
        ends[result.channel] = (index + 1, result.end_sample)
    return True


#: Called with each piece as soon as it is decoded: where a checkpoint or progress goes.
PieceSink = Callable[[PieceResult], None]


@dataclass(frozen=True)
class Resumption:
    """How a recording's pieces are cut, the results of those already done (to go on after)
    and where each new one goes once decoded."""

    sizes: Sizes = field(default_factory=Sizes)
    done: Sequence[PieceResult] = field(default_factory=tuple)
    on_piece: PieceSink | None = None


def resume_points(done: Sequence[PieceResult]) -> dict[int, tuple[int, int]]:
    """Given the results already done, return for each channel the index and the start sample
    of its next piece."""
    points: dict[int, tuple[int, int]] = {}
    for result in done:
        points[result.channel] = (result.index + 1, result.end_sample)
    return points


def moved(segment: Segment, by: float) -> Segment:
    """Return the segment (and its words) moved ``by`` seconds later, times rounded to the
    millisecond; ``seek`` (in 10 ms frames) moved with it."""
    shifted: Segment = {
        **segment,
        "start": round(segment["start"] + by, 3),
        "end": round(segment["end"] + by, 3),
    }
    if "seek" in segment:
        shifted["seek"] = segment["seek"] + round(by * 100)
    if "words" in segment:
        shifted["words"] = [moved_word(word, by) for word in segment["words"]]
    return shifted


def moved_word(word: Word, by: float) -> Word:
    """Return the word moved ``by`` seconds later."""
    return {**word, "start": round(word["start"] + by, 3), "end": round(word["end"] + by, 3)}


def piece_result(piece: Piece, decoding: Decoding, tried: list[Strategy]) -> PieceResult:
    """Return a decoded piece's result, moved to the recording's clock."""
    at = piece.start
    return PieceResult(
        channel=piece.channel,
        index=piece.index,
        start_sample=piece.start_sample,
        end_sample=piece.start_sample + len(piece.samples),
        segments=[moved(segment, at) for segment in decoding.segments],
        speech=[(round(a + at, 3), round(b + at, 3)) for a, b in piece.speech],
        strategy=decoding.strategy,
        tried=tried,
        language=decoding.language,
        language_probability=decoding.language_probability,
    )


def detected(results: Iterable[PieceResult], channel: int) -> PieceResult | None:
    """Return the channel's first result that holds speech (whose language was detected)."""
    return next((r for r in results if r.channel == channel and r.speech), None)


def piece_args(
    args: TranscribeArgs, results: Sequence[PieceResult], channel: int
) -> TranscribeArgs:
    """Return the arguments of the channel's next piece: the language its first piece with
    speech found, when none was given."""
    first = detected(results, channel)
    if args.get("language") or first is None:
        return args
    return {**args, "language": first.language}


def transcribe_pieces(
    guard: CoverageGuard,
    model: WhisperModel,
    pieces: Iterable[Piece],
    args: TranscribeArgs,
    should_stop: StopCheck,
    done: Sequence[PieceResult] = (),
    on_piece: PieceSink | None = None,
) -> list[PieceResult]:
    """Return the results of the pieces done before and of each piece decoded now, in order.

    Raise EngineError if the decoder fails, Interrupted when ``should_stop`` turns True.
    """
    results = list(done)
    for piece in pieces:
        decoding, tried = guard.alone(
            model, piece.clip(), piece_args(args, results, piece.channel), should_stop
        )
        result = piece_result(piece, decoding, tried)
        results.append(result)
        if on_piece is not None:
            on_piece(result)
    return results


def kept_strategy(results: Sequence[PieceResult]) -> Strategy:
    """Return the strategy most pieces kept (the first one's on a tie)."""
    counts = Counter(result.strategy for result in results)
    return max(counts, key=lambda strategy: counts[strategy])


def tried_in_all(results: Sequence[PieceResult]) -> list[Strategy]:
    """Return every strategy any piece tried, in the order they were first tried."""
    return list(dict.fromkeys(s for result in results for s in result.tried))


def joined(results: Sequence[PieceResult], guard: CoverageGuard) -> Transcript:
    """Given one channel's piece results in order, return its transcript: their segments
    renumbered from 1, the coverage measured over all of their speech."""
    segments: list[Segment] = [
        {**segment, "id": n}
        for n, segment in enumerate((s for r in results for s in r.segments), start=1)
    ]
    speech = [span for result in results for span in result.speech]
    first = detected(results, results[0].channel) or results[0]
    decoding = Decoding(
        kept_strategy(results),
        segments,
        first.language,
        measure(speech, segments),
        first.language_probability,
    )
    return guard.transcript_of(decoding, tried_in_all(results))


@runtime_checkable
class ResumableEngine(Protocol):
    """An engine that transcribes a long recording in pieces, reports each one as it is done
    and can go on after the pieces done before (the real WhisperEngine can)."""

    def transcribe_from(
        self,
        spec: str,
        audio: Path,
        args: TranscribeArgs,
        should_stop: StopCheck,
        done: Sequence[PieceResult],
        on_piece: PieceSink | None,
    ) -> Transcript:
        """Return the transcript as ``Engine.transcribe`` does, going on after ``done`` and
        calling ``on_piece`` with each piece once it is decoded."""
        ...
