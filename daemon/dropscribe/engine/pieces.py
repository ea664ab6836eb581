"""A recording cut into pieces of a few minutes, at pauses, as it is decoded, so that what is
held in memory does not grow with the recording's length.

Samples are fed to a Cutter as they come out of the decoder. Once it holds a piece's length and
a little more (the lookahead), it finds where the speech is (Silero VAD), cuts in the widest
pause of the last stretch before the piece's length (the search window) and hands out the piece
before the cut with its speech; what follows the cut is kept and starts the next piece. A cut
lies in silence, so no word is split between two pieces and none is decoded twice, and the
pieces laid end to end are the recording, sample for sample.

A piece's cut depends only on the samples from the previous cut on, so pieces are the same
whether a recording is cut from its start or from a cut found earlier: a Cutter made with
``first_index`` and ``start_sample`` of a finished piece skips the samples before it and goes
on with the same pieces an uninterrupted run would have, which is what resuming from a
checkpoint needs (``stream``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dropscribe.core.coverage import Span
from dropscribe.engine.audio import Samples
from dropscribe.engine.batching import Clip
from dropscribe.engine.vad import SAMPLING_RATE, speech_spans

#: Longest piece, in seconds, before its cut: 3 minutes is 11.5 MB of samples, and the
#: sequential loop's spectrogram of it about 150 MB (51 MiB a minute), whatever the
#: recording's length; a batch of eight 20-30 s windows is filled a few times in a piece.
PIECE_SECONDS = 180.0

#: Shortest and longest piece a server may be set to: shorter, pauses to cut in grow rare
#: (and a checkpoint is written every few seconds); longer, memory grows (51 MiB a minute).
MIN_PIECE_SECONDS = 20.0
MAX_PIECE_SECONDS = 1800.0

#: The cut lies in the last this many seconds before the piece's length: room to find a pause
#: (the VAD cuts speech into spans of at most 20 s, so a stretch this long holds several).
SEARCH_SECONDS = 30.0

#: Audio held past the piece's length before it is cut, so the VAD sees what follows the
#: search window and a pause there is known to be one.
LOOKAHEAD_SECONDS = 10.0

#: A pause at least this long (seconds between two spans, which the VAD pads by 0.4 s each)
#: is silence to cut in; shorter, the quietest of the candidates is chosen.
CLEAR_PAUSE_SECONDS = 0.2

#: Half the width, in seconds, of the stretch whose loudness judges a cut.
LOUDNESS_HALF_SECONDS = 0.1

#: Finds the speech in 16 kHz samples, as spans in seconds from their start.
SpeechFinder = Callable[[Samples], list[Span]]


@dataclass(frozen=True)
class Sizes:
    """How a recording is cut, in seconds: the piece, its search window and the lookahead."""

    piece: float = PIECE_SECONDS
    search: float = SEARCH_SECONDS
    lookahead: float = LOOKAHEAD_SECONDS

    @classmethod
    def of_piece(cls, seconds: float) -> Sizes:
        """Return the sizes for pieces of ``seconds``, the search window and lookahead in the
        default proportions (a sixth and an eighteenth of the piece)."""
        return cls(seconds, seconds * SEARCH_SECONDS / PIECE_SECONDS,
                   seconds * LOOKAHEAD_SECONDS / PIECE_SECONDS)  # fmt: skip


@dataclass(frozen=True)
class Piece:
    """One piece of a recording: where it lies, its samples and the speech found in them.

    ``channel`` is 0 for a recording decoded mixed, 1 or 2 for a channel of a call recording;
    ``index`` counts the pieces of that channel from 0. ``speech`` is in the piece's own time.
    """

    channel: int
    index: int
    start_sample: int
    samples: Samples
    speech: list[Span]

    @property
    def start(self) -> float:
        """Return where the piece starts in the recording, in seconds."""
        return self.start_sample / SAMPLING_RATE

    @property
    def end(self) -> float:
        """Return where the piece ends in the recording, in seconds."""
        return (self.start_sample + len(self.samples)) / SAMPLING_RATE

    def clip(self) -> Clip:
        """Return the piece as a clip to decode, in its own time."""
        return Clip(self.samples, self.speech)


def whole_piece(clip: Clip, channel: int = 0) -> Piece:
    """Return a short recording decoded whole as its one piece."""
    return Piece(channel, 0, 0, clip.samples, clip.speech)


def loudness(samples: Samples, at: int) -> float:
    """Return the mean square of the samples within LOUDNESS_HALF_SECONDS of sample ``at``."""
    half = int(LOUDNESS_HALF_SECONDS * SAMPLING_RATE)
    around = samples[max(0, at - half) : at + half]
    return float(np.mean(np.square(around))) if len(around) else 0.0


def pauses(spans: Sequence[Span], length: float) -> list[Span]:
    """Return the stretches without speech between the spans: before the first, between two
    (of no length where the VAD split at a short pause) and after the last, up to ``length``."""
    edges = [0.0, *(t for span in spans for t in span), length]
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]


def cut_sample(spans: Sequence[Span], samples: Samples, sizes: Sizes) -> int:
    """Given the speech spans of a buffer of samples, return the sample to cut it at: in the
    widest pause that reaches into the search window (its middle, or its part in the window
    nearest the middle); among short pauses, the quietest; with none, the quietest point of
    the window (speech without a pause for SEARCH_SECONDS is cut where it is softest)."""
    low, high = sizes.piece - sizes.search, sizes.piece
    candidates = [
        (end - start, min(max((start + end) / 2, low), high))
        for start, end in pauses(spans, len(samples) / SAMPLING_RATE)
        if end >= low and start <= high
    ]
    clear = [c for c in candidates if c[0] >= CLEAR_PAUSE_SECONDS]
    if clear:
        return int(max(clear)[1] * SAMPLING_RATE)
    points = [int(at * SAMPLING_RATE) for _, at in candidates] or list(
        range(int(low * SAMPLING_RATE), int(high * SAMPLING_RATE), SAMPLING_RATE // 50)
    )
    return min(points, key=lambda at: loudness(samples, at))


def before(spans: Sequence[Span], cut: float) -> list[Span]:
    """Return the parts of the spans before ``cut`` seconds."""
    return [(start, min(end, cut)) for start, end in spans if start < cut]


class Cutter:
    """Cuts one channel's samples, fed in any sizes, into pieces (see the module's text).

    Samples before ``start_sample`` are skipped and pieces are counted from ``first_index``:
    the place and number of a piece already done, to go on after it.
    """

    def __init__(
        self,
        channel: int = 0,
        sizes: Sizes = Sizes(),
        first_index: int = 0,
        start_sample: int = 0,
        find_speech: SpeechFinder = speech_spans,
    ) -> None:
        self._channel = channel
        self._sizes = sizes
        self._find_speech = find_speech
        self._buffer: Samples = np.empty(
            int((sizes.piece + sizes.lookahead) * SAMPLING_RATE), np.float32
        )
        self._held = 0
        self._index = first_index
        self._start = start_sample
        self._skip = start_sample

    def feed(self, chunk: Samples) -> Iterator[Piece]:
        """Take the next samples; yield each piece they complete."""
        skipped = min(self._skip, len(chunk))
        chunk, self._skip = chunk[skipped:], self._skip - skipped
        while len(chunk):
            taken = min(len(chunk), len(self._buffer) - self._held)
            self._buffer[self._held : self._held + taken] = chunk[:taken]
            self._held, chunk = self._held + taken, chunk[taken:]
            if self._held == len(self._buffer):
                yield self._cut()

    def finish(self) -> Iterator[Piece]:
        """Yield the last piece: what is held once the samples have ended (if any)."""
        if self._held:
            held = self._buffer[: self._held]
            yield self._piece(held.copy(), self._find_speech(held))
            self._held = 0

    def _cut(self) -> Piece:
        spans = self._find_speech(self._buffer)
        cut = cut_sample(spans, self._buffer, self._sizes)
        piece = self._piece(self._buffer[:cut].copy(), before(spans, cut / SAMPLING_RATE))
        rest = self._held - cut
        self._buffer[:rest] = self._buffer[cut : self._held]
        self._held = rest
        return piece

    def _piece(self, samples: Samples, speech: list[Span]) -> Piece:
        piece = Piece(self._channel, self._index, self._start, samples, speech)
        self._index += 1
        self._start += len(samples)
        return piece


def cut_planes(planes: Iterator[Samples], cutters: Sequence[Cutter]) -> Iterator[Piece]:
    """Given decoded frames (one row per channel) and one Cutter per row, yield every
    channel's pieces in the order they are completed."""
    for frame in planes:
        for cutter, row in zip(cutters, frame, strict=True):
            yield from cutter.feed(row)
    for cutter in cutters:
        yield from cutter.finish()
