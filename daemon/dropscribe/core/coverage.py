"""How much of a recording's speech a transcript covers: pure interval arithmetic.

Speech spans come from voice activity detection; a transcript covers a stretch of speech when
a trusted segment's time range overlaps it. A transcript is complete when it covers enough of
the speech (a share) and leaves no stretch of it unheard for longer than a few seconds (a gap):
a share alone cannot see 30 s missing from two hours. A segment is not trusted when its decoding was
confidently wrong: a very low mean token log-probability (speech in a language the model does
not know comes out as fluent nonsense) or a high compression ratio (the same words repeated).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dropscribe.core.transcript import CoverageReport, RemoteSegment, Segment

Span = tuple[float, float]

#: A word as tokens count it ("I'm" is two, "4,000" two), and a mark that is a token of its own.
WORD = re.compile(r"[^\W\d_]+|\d+")
MARK = re.compile(r"[^\w\s]")

#: Mean token log-probability below which a segment is not trusted. Measured with the bundled
#: tiny.en (both strategies, 2026-12): English decodes at -0.05 to -0.15 a chunk on the real
#: fixtures, but espeak-ng's British and Caribbean voices reading ordinary sentences go down to
#: -0.60 a batched chunk and -0.75 a sequential segment, with their words mostly right ("A small
#: bakery on the corner sells fresh red plus us and apple pie": -0.49 to -0.53). Speech in a
#: language the model does not know, decoded without repetition, sits at -1.05 to -1.34
#: (espeak-ng German, Spanish, French, Italian, Polish, Portuguese, Dutch, Swedish). The
#: threshold lies halfway, about 0.15 from each side.
DOUBTFUL_LOGPROB = -0.9

#: Below this log-probability a segment is doubtful when its text also repeats itself or is
#: made of pieces of words. Foreign speech that tiny.en is surer of than DOUBTFUL_LOGPROB comes
#: out either as a loop on one phrase ("I'm not sure if I'm going to do it": -0.88 at a
#: compression ratio of 2.33) or spelled out as sounds ("sufraffinplishin, sufataiin": the
#: German reading of multilingual.mp3, -0.85), while English under -0.5 compresses to 1.15 at
#: most and takes at most 1.29 tokens a word, punctuation included.
UNSURE_LOGPROB = -0.5

#: Compression ratio over which a segment decoded under UNSURE_LOGPROB is doubtful.
UNSURE_COMPRESSION = 2.0

#: Text tokens a word over which a segment decoded under UNSURE_LOGPROB is doubtful (German
#: spelled out as sounds: 1.7 to 3.3 in segments of three words or more).
UNSURE_TOKENS_PER_WORD = 1.5

#: Fewest words a segment needs for its tokens a word to be judged.
MIN_JUDGED_WORDS = 3

#: Token ids from this one on are Whisper's special and timestamp tokens, not text.
FIRST_SPECIAL_TOKEN = 50256

#: gzip compression ratio above which a segment's text is repetition (Whisper's own threshold).
DOUBTFUL_COMPRESSION = 2.4

#: Repetition counts as doubtful only when decoded at a log-probability below this: speech that
#: really repeats one phrasing decodes confidently (-0.05 to -0.09 a chunk, compression ratio
#: 2.7 to 3.6 on a reading of one sentence pattern), a decoder stuck in a loop does not (German
#: through tiny.en: -0.41 to -0.44 at a compression ratio of 2.9).
REPETITION_LOGPROB = -0.3

#: Compression ratio past which a segment is a decoding loop whatever its log-probability: real
#: repeated phrasing reaches 3.6 on a 30 s chunk of one sentence pattern, while tiny.en looping
#: over speech it cannot understand ("I'm not sure if I'm going to do it, I'm not sure ...",
#: "Thank you so much for watching ...") reached 11.0 to 16.8 at log-probabilities of -0.17
#: to -0.28, confident enough to pass REPETITION_LOGPROB (espeak-ng's Spanish, French, Italian,
#: Polish and Portuguese, decoded with timestamps beside an English recording).
LOOP_COMPRESSION = 6.0

#: Seconds a segment's range is widened on each side: the VAD pads speech by 0.4 s and Whisper
#: rounds timestamps, so a complete transcript still leaves slivers at span edges.
SEGMENT_SLACK_SECONDS = 0.4

#: Most seconds of speech one transcribed word accounts for. People speak 2-3 words a second
#: (0.33-0.5 s a word); a segment claiming 20 s for 4 words was cut short, so it is credited only
#: from its start for 1.5 s a word, three times the slowest ordinary pace.
MAX_SECONDS_PER_WORD = 1.5

#: Shortest uncovered stretch that is listed, in seconds (shorter ones are edge slivers).
MIN_LISTED_GAP_SECONDS = 0.5

#: Most seconds of speech in a row a complete transcript may leave uncovered. Complete
#: transcripts leave at most 0.11 s in a row (the fixtures, the 20 clips of the throughput
#: benchmark and its five-minute readings, each strategy and batched together); real speech
#: adds what Whisper rightly leaves out: a laugh, a cough, a filler or a word of crosstalk,
#: one or two seconds. A missed sentence is 2-5 s of speech and a missed exchange far more
#: (26.5 s and 40 s were reported on recordings of 1-2 hours whose share passed): 4 s is
#: above the first and below all but the shortest sentences, whose loss the share still
#: sees on a short recording.
DEFAULT_MAX_GAP_SECONDS = 4.0

#: A run of uncovered speech: (start, end, seconds of speech missed inside it), times in
#: seconds; its pauses are not counted.
Stretch = tuple[float, float, float]


@dataclass(frozen=True)
class Coverage:
    """Speech seconds found, seconds of them covered by trusted segments, and what is not."""

    speech_seconds: float
    covered_seconds: float
    uncovered: tuple[Span, ...]
    doubtful: tuple[Span, ...]
    #: The runs of uncovered speech with no covered speech between their pieces.
    stretches: tuple[Stretch, ...] = ()

    @property
    def no_speech(self) -> bool:
        """Return True when the recording holds no speech at all."""
        return self.speech_seconds == 0

    @property
    def ratio(self) -> float:
        """Return the covered share of the speech (1.0 when there is no speech)."""
        return 1.0 if self.no_speech else self.covered_seconds / self.speech_seconds

    @property
    def longest_gap(self) -> float:
        """Return the most seconds of speech missed in one run (0.0 when none is)."""
        return max((missed for _, _, missed in self.stretches), default=0.0)

    def gaps(self, max_gap: float) -> list[Span]:
        """Return the runs of uncovered speech that miss more than ``max_gap`` seconds."""
        return [(start, end) for start, end, missed in self.stretches if missed > max_gap]

    def is_complete(self, min_coverage: float, max_gap: float) -> bool:
        """Return True when the coverage reaches ``min_coverage`` and no run of uncovered
        speech misses more than ``max_gap`` seconds."""
        return self.ratio >= min_coverage and self.longest_gap <= max_gap

    def as_dict(self, max_gap: float = DEFAULT_MAX_GAP_SECONDS) -> CoverageReport:
        """Return the coverage in the transcript's JSON shape, its gaps those over
        ``max_gap`` seconds."""
        return {
            "speech_seconds": round(self.speech_seconds, 2),
            "covered_seconds": round(self.covered_seconds, 2),
            "ratio": round(self.ratio, 4),
            "uncovered": [[round(a, 2), round(b, 2)] for a, b in self.uncovered],
            "doubtful": [[round(a, 2), round(b, 2)] for a, b in self.doubtful],
            "gaps": [[round(a, 2), round(b, 2)] for a, b in self.gaps(max_gap)],
            "longest_gap_seconds": round(self.longest_gap, 2),
            "max_gap_seconds": max_gap,
        }


def report_is_complete(report: CoverageReport, min_coverage: float, max_gap: float) -> bool:
    """Given a coverage report (perhaps from an older engine, without gap figures), return
    True when it reaches ``min_coverage`` and misses no more than ``max_gap`` seconds of
    speech in a row."""
    ratio = float(report.get("ratio", 1.0))
    return ratio >= min_coverage and float(report.get("longest_gap_seconds", 0.0)) <= max_gap


def is_doubtful(segment: Segment | RemoteSegment) -> bool:
    """Return True when a segment's decoding looks confidently wrong."""
    logprob = number(segment.get("avg_logprob"))
    ratio = number(segment.get("compression_ratio"))
    if ratio is not None and ratio > LOOP_COMPRESSION:
        return True
    if logprob is None or ratio is None:
        return logprob is not None and logprob < DOUBTFUL_LOGPROB
    return (
        logprob < DOUBTFUL_LOGPROB
        or (ratio > DOUBTFUL_COMPRESSION and logprob < REPETITION_LOGPROB)
        or (logprob < UNSURE_LOGPROB and (ratio > UNSURE_COMPRESSION or spelled_out(segment)))
    )


def spelled_out(segment: Segment | RemoteSegment) -> bool:
    """Return True when a segment's words are made of more tokens than English words are:
    speech the model cannot understand written down as the sounds it heard."""
    tokens = segment.get("tokens")
    text = str(segment.get("text", ""))
    words = len(WORD.findall(text))
    if not isinstance(tokens, list) or words < MIN_JUDGED_WORDS:
        return False
    pieces = sum(1 for t in tokens if isinstance(t, int) and t < FIRST_SPECIAL_TOKEN)
    return (pieces - len(MARK.findall(text))) / words > UNSURE_TOKENS_PER_WORD


def number(value: object) -> float | None:
    """Return the value as a float when it is a number (a remote result may leave it out)."""
    return float(value) if isinstance(value, int | float) else None


def union(spans: Iterable[Span]) -> list[Span]:
    """Return the spans merged into disjoint, ordered spans."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Return the intersection of two sets of disjoint, ordered spans, in one pass over both
    (a recording of hours has thousands of spans and of segments)."""
    found: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            found.append((start, end))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return union(found)


def minus(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Return the parts of the disjoint, ordered spans ``a`` that no span of the disjoint,
    ordered ``b`` touches, in one pass over both."""
    left: list[Span] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        cursor, k = start, j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cursor:
                left.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < end:
            left.append((cursor, end))
    return left


def seconds(spans: Iterable[Span]) -> float:
    """Return the total length of disjoint spans."""
    return sum(end - start for start, end in spans)


def runs(missing: Sequence[Span], covered: Sequence[Span]) -> list[Stretch]:
    """Given the uncovered and the covered parts of the speech (each disjoint and ordered),
    return the uncovered parts joined into runs: two pieces with no covered speech between
    them are one run, which misses the speech of both."""
    pieces = sorted([(a, b, True) for a, b in missing] + [(a, b, False) for a, b in covered])
    found: list[Stretch] = []
    joined = False
    for start, end, uncovered in pieces:
        if not uncovered:
            joined = False
        elif joined:
            first, _, missed = found[-1]
            found[-1] = (first, end, missed + end - start)
        else:
            found.append((start, end, end - start))
            joined = True
    return found


def segment_span(segment: Segment | RemoteSegment) -> Span:
    """Return the stretch a segment accounts for: its time range, no longer than its words can
    fill, widened by the slack on each side."""
    start, end = float(segment["start"]), float(segment["end"])
    words = len(str(segment.get("text", "")).split())
    end = min(end, start + words * MAX_SECONDS_PER_WORD)
    return (max(0.0, start - SEGMENT_SLACK_SECONDS), end + SEGMENT_SLACK_SECONDS)


def measure(speech: Sequence[Span], segments: Sequence[Segment | RemoteSegment]) -> Coverage:
    """Given the speech spans and a transcript's segments, return how much speech it covers."""
    spoken = [s for s in segments if str(s.get("text", "")).strip()]
    trusted = union(segment_span(s) for s in spoken if not is_doubtful(s))
    doubtful = union((float(s["start"]), float(s["end"])) for s in spoken if is_doubtful(s))
    speech = union(speech)
    missing = minus(speech, trusted)
    covered = overlap(speech, trusted)
    return Coverage(
        speech_seconds=seconds(speech),
        covered_seconds=seconds(covered),
        uncovered=tuple(s for s in missing if s[1] - s[0] >= MIN_LISTED_GAP_SECONDS),
        doubtful=tuple(doubtful),
        stretches=tuple(runs(missing, covered)),
    )
