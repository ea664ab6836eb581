"""The engine's side of the completeness guard: a transcript that covers too little of the
speech, or leaves a run of it unheard for longer than a few seconds, has what it missed
decoded again with the other strategy (``stretches``); a recording of a batch whose share of
the batch's decoding falls short or is doubtful is decoded again alone. The transcript says
how much it covers, where it misses speech and what was tried.

The daemon's side (``dropscribe.pipeline.quality``) judges results that carry no coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

from faster_whisper import WhisperModel

from dropscribe.core.coverage import DEFAULT_MAX_GAP_SECONDS
from dropscribe.core.transcript import Transcript
from dropscribe.engine.batching import Clip
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.strategies import Decoding, Strategy, decode, other
from dropscribe.engine.stretches import redecoded

#: Share of the speech a transcript must cover before the engine stops trying: below it, the
#: other strategy runs once. Complete transcripts of the fixtures cover 0.996 to 1.0 of the
#: speech (VAD padding and timestamp rounding leave slivers); one dropped 3 s sentence in the
#: half-minute OSR recording covers 0.90-0.92, which must not pass.
DEFAULT_MIN_COVERAGE = 0.95


@dataclass(frozen=True)
class CoverageGuard:
    """Which strategy decodes a recording first, the share of its speech a transcript must
    cover and the most seconds of it in a row a transcript may leave uncovered, before the
    other strategy is not tried."""

    first: Strategy
    min_coverage: float
    max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS

    def transcript(
        self, model: WhisperModel, clip: Clip, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return the transcript of a recording decoded on its own, what it missed decoded
        again if it falls short."""
        decoding, tried = self.alone(model, clip, args, should_stop)
        return self.transcript_of(decoding, tried)

    def settled(
        self,
        model: WhisperModel,
        clip: Clip,
        shared: Decoding,
        args: TranscribeArgs,
        should_stop: StopCheck,
    ) -> Transcript:
        """Given a recording's share of a batch's decoding, return its transcript: that share
        when it is complete and nothing of it doubtful; else the recording decoded alone, as
        if it had come by itself, unless the share is still the better of the two. A
        recording's windows in a batch are judged by the mean log-probability of windows it
        shares with others, and its segments found by times the batch's decoder can shift, so
        an empty, doubtful or short share says little about the recording itself."""
        if self.is_met(shared) and not shared.coverage.doubtful:
            return self.transcript_of(shared, [shared.strategy])
        decoding, tried = self.alone(model, clip, args, should_stop)
        best = decoding if self.rank(decoding) >= self.rank(shared) else shared
        return self.transcript_of(best, [shared.strategy, *tried])

    def alone(
        self, model: WhisperModel, clip: Clip, args: TranscribeArgs, should_stop: StopCheck
    ) -> tuple[Decoding, list[Strategy]]:
        """Return a recording decoded alone with the first strategy, with the stretches it
        missed decoded again with the other when it falls short, and the strategies used."""
        first = decode(self.first, model, clip.samples, clip.speech, args, should_stop)
        if self.is_met(first):
            return first, [first.strategy]
        again = other(first.strategy)
        return redecoded(model, clip, first, again, args, should_stop), [first.strategy, again]

    def is_met(self, decoding: Decoding) -> bool:
        """Return True when the decoding covers enough of the speech and misses no run of it
        longer than the guard allows."""
        return decoding.coverage.is_complete(self.min_coverage, self.max_gap_seconds)

    def rank(self, decoding: Decoding) -> tuple[bool, float, float, bool]:
        """Return how good a decoding is, for comparing two of one recording: complete ones
        first, then by the share covered, then by the shorter longest gap, then those with
        any words (doubtful words say more than none)."""
        coverage = decoding.coverage
        words = any(s["text"].strip() for s in decoding.segments)
        return (self.is_met(decoding), coverage.ratio, -coverage.longest_gap, words)

    def transcript_of(self, decoding: Decoding, tried: list[Strategy]) -> Transcript:
        """Return the Whisper-shaped transcript plus what the engine knows about its
        coverage."""
        coverage = decoding.coverage
        text = "".join(view["text"] for view in decoding.segments).strip()
        return {
            "text": text,
            "segments": decoding.segments,
            "language": decoding.language,
            "language_probability": decoding.language_probability,
            "no_speech": coverage.no_speech,
            "complete": self.is_met(decoding),
            "coverage": coverage.as_dict(self.max_gap_seconds),
            "strategy": decoding.strategy.value,
            "strategies_tried": [s.value for s in tried],
        }
