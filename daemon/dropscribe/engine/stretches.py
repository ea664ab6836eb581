"""The stretches of speech a transcript missed, decoded again on their own and merged back.

A decoding can lose a stretch (a window the batched pipeline came back empty for, a sentence
the sequential loop skipped) or decode it doubtfully, while the rest of the recording is
fine. Rather than decode the whole recording again, each run of missed speech is cut out with
a little room around it (never reaching into a trusted segment's time, so no word is decoded
twice), decoded alone with the other strategy, and its segments put in where the old ones
missed, in time order. A stretch's new segments replace only the old ones there that were
not trusted, and only when they cover more of its speech (or the old ones said nothing).

Which stretches and where to cut are pure; :func:`redecoded` makes the calls into the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from faster_whisper import WhisperModel

from dropscribe.core.coverage import Span, is_doubtful, measure, overlap
from dropscribe.core.transcript import Segment
from dropscribe.engine.batching import Clip, shifted
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.strategies import Decoding, Strategy, decode
from dropscribe.engine.vad import SAMPLING_RATE

#: Seconds of silence kept on each side of a missed stretch, where there is that much before
#: the nearest other speech: Whisper hears the first and last words of a cut better with a
#: little room around them.
PAD_SECONDS = 1.0

#: Fewest seconds of missed speech worth decoding again: shorter runs are the slivers at the
#: edges of speech spans that complete transcripts leave too.
MIN_REDECODED_SECONDS = 1.0


def missed_runs(decoding: Decoding) -> list[Span]:
    """Return the runs of speech the decoding missed that are worth decoding again."""
    runs = decoding.coverage.stretches
    return [(start, end) for start, end, missed in runs if missed >= MIN_REDECODED_SECONDS]


def cut(run: Span, around: Sequence[Span], length: float, pad: float = PAD_SECONDS) -> Span:
    """Given a run of missed speech, what lies around it (the trusted segments' time ranges
    and the other runs) and the recording's length (seconds), return the stretch to decode:
    the run, widened by up to ``pad`` seconds on each side but never past the end of what
    lies before it nor the start of what lies after, so that no word a trusted segment holds,
    nor one another run decodes, is decoded twice."""
    start, end = run
    before = max((min(b, start) for a, b in around if a < start), default=0.0)
    after = min((max(a, end) for a, b in around if b > end), default=length)
    return (max(start - pad, before, 0.0), min(end + pad, after, length))


def neighbours(decoding: Decoding, runs: Sequence[Span]) -> list[Span]:
    """Return the time ranges of the decoding's trusted segments, and the runs."""
    trusted = [s for s in spoken(decoding.segments) if not is_doubtful(s)]
    return [(s["start"], s["end"]) for s in trusted] + list(runs)


def part(clip: Clip, stretch: Span) -> Clip:
    """Return the stretch of the recording as a recording of its own: its samples (a view)
    and its speech, in its own time."""
    start, end = stretch
    samples = clip.samples[int(start * SAMPLING_RATE) : int(end * SAMPLING_RATE)]
    speech = [(a - start, b - start) for a, b in overlap(clip.speech, [stretch])]
    return Clip(samples, speech)


def spoken(segments: Sequence[Segment]) -> list[Segment]:
    """Return the segments that hold any text."""
    return [s for s in segments if s["text"].strip()]


def within(segments: Sequence[Segment], stretch: Span) -> list[Segment]:
    """Return the segments whose middle falls inside the stretch."""
    start, end = stretch
    return [s for s in segments if start <= (s["start"] + s["end"]) / 2 < end]


def merged(
    segments: Sequence[Segment], speech: Sequence[Span], stretch: Span, new: Sequence[Segment]
) -> list[Segment]:
    """Given a transcript's segments, the recording's speech, a stretch decoded again and the
    new segments of it (in the recording's time), return the segments with the new ones put
    in, in time order and numbered from 1: in place of the old ones inside the stretch that
    were not trusted, when the new cover more of its speech, or when the old held no words.
    Otherwise the segments are returned as they were."""
    here = within(segments, stretch)
    doubted = {id(s) for s in here if is_doubtful(s) or not s["text"].strip()}
    trusted = [s for s in here if id(s) not in doubted]
    local = overlap(speech, [stretch])
    before = measure(local, trusted).covered_seconds
    after = measure(local, [*trusted, *new]).covered_seconds
    if not (after > before or (spoken(new) and not spoken(here))):
        return list(segments)
    together = sorted([s for s in segments if id(s) not in doubted] + list(new), key=by_time)
    return [{**s, "id": n} for n, s in enumerate(together, start=1)]


def by_time(segment: Segment) -> tuple[float, float]:
    """Return a segment's sort key: its start, then its end."""
    return (segment["start"], segment["end"])


def redecoded(
    model: WhisperModel,
    clip: Clip,
    decoding: Decoding,
    strategy: Strategy,
    args: TranscribeArgs,
    should_stop: StopCheck,
) -> Decoding:
    """Return the decoding with every run of speech it missed decoded again alone with
    ``strategy`` and merged in, its coverage measured anew. Raise EngineError if the decoder
    fails, Interrupted when ``should_stop`` turns True."""
    segments = decoding.segments
    runs = missed_runs(decoding)
    around = neighbours(decoding, runs)
    for run in runs:
        stretch = cut(run, around, clip.seconds)
        alone = part(clip, stretch)
        again = decode(strategy, model, alone.samples, alone.speech, args, should_stop)
        new = [shifted(s, -stretch[0]) for s in spoken(again.segments)]
        segments = merged(segments, clip.speech, stretch, new)
    return Decoding(
        decoding.strategy,
        segments,
        decoding.language,
        measure(clip.speech, segments),
        decoding.language_probability,
    )
