"""The cues of a transcript: its segments cut into pieces people can read as subtitles.

A batched transcript has one segment per ~30 s of speech; a cue should hold a sentence or two.
Each segment is cut into cues of at most ``max_seconds`` and ``max_lines`` lines of
``max_line_chars`` characters (:class:`CueLimits`), at the cuts that read best: a sentence end,
then clause punctuation, then a pause between words, then any word boundary; never inside a
word (:mod:`~dropscribe.outbox.timed_words`). Of all the ways to cut a segment within the
limits, the one kept costs least: each cue costs 1, plus its cut, plus the squared share of a
cue it leaves empty, plus DANGLING_COST if it ends in the middle of a sentence that started
inside it; so cues are few and even, and cut where a reader expects a break.

With word timings a cue spans its own words; without, the times are the estimate of
:func:`~dropscribe.outbox.timed_words.estimated_tokens`. A cue keeps its segment's speaker. The
cues of all segments come out in time order without overlapping (:func:`in_sequence`).

A single word longer than a line, or spoken for longer than ``max_seconds``, is a cue of its
own and breaks that limit alone; with estimated times such a cue is cut back to
``max_seconds`` instead, since its end was a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dropscribe.core.transcript import RemoteSegment
from dropscribe.outbox.cues import speaker_of
from dropscribe.outbox.line_wrap import LineFill, wrapped
from dropscribe.outbox.timed_words import SENTENCE_COST, Token, cut_cost, ends_sentence, tokens_of

#: Cost of one cue, against a cut's (see timed_words): fewer cues read better.
CUE_COST = 1.0

#: Cost of a cue that starts a sentence after another ends inside it, and is cut before that
#: sentence ends: more than the cue it saves, so a new sentence starts a cue of its own rather
#: than trail at the end of one ("... country. The quick brown").
DANGLING_COST = 2.0

#: Shortest time a cue stays on screen when the next one leaves room, in ms: a word or two is
#: read in about 0.8 s (subtitle guidelines give 5/6 s as the least).
SHORTEST_CUE_MS = 800


@dataclass(frozen=True)
class CueLimits:
    """How long a cue may last (seconds) and how much text it may hold: the ``output.subtitles``
    settings. The defaults are the usual subtitle guidelines' (7 s, two lines of 42)."""

    max_seconds: float = 7.0
    max_line_chars: int = 42
    max_lines: int = 2

    @property
    def max_ms(self) -> int:
        """Return ``max_seconds`` in whole milliseconds."""
        return round(self.max_seconds * 1000)


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``start`` and ``end`` in ms, its lines, and the speaker who says it."""

    start: int
    end: int
    lines: tuple[str, ...]
    speaker: str | None = None


#: The limits of a cue unless configured otherwise.
USUAL_LIMITS = CueLimits()

#: Given a speaker (None without one), return how many characters its label takes on a cue's
#: first line.
LabelWidth = Callable[[str | None], int]


def no_label(_speaker: str | None) -> int:
    """Return 0: a format whose speaker label takes no room in the text (WebVTT's voice)."""
    return 0


def layout(
    segments: Sequence[RemoteSegment], limits: CueLimits, label: LabelWidth = no_label
) -> list[Cue]:
    """Return the cues of ``segments`` within ``limits``, in time order and not overlapping;
    segments without text or without times give none."""
    cues = [cue for segment in segments for cue in segment_cues(segment, limits, label)]
    return in_sequence(sorted(cues, key=lambda cue: cue.start))


def segment_cues(segment: RemoteSegment, limits: CueLimits, label: LabelWidth) -> list[Cue]:
    """Return one segment's cues, cut as the module's docstring says."""
    tokens, estimated = tokens_of(segment)
    speaker = speaker_of(segment)
    reserve = label(speaker)
    cues = []
    for start, end in cuts(tokens, limits, reserve):
        piece = tokens[start:end]
        lines = wrapped(piece, limits.max_line_chars, limits.max_lines, reserve)
        last = piece[-1].end
        if estimated:
            last = min(last, piece[0].start + limits.max_ms)
        cues.append(Cue(piece[0].start, last, tuple(lines), speaker))
    return cues


def cuts(tokens: Sequence[Token], limits: CueLimits, reserve: int = 0) -> list[tuple[int, int]]:
    """Return the (start, end) token indexes of each cue of the cheapest cutting of ``tokens``
    within ``limits`` (a token alone is always allowed)."""
    count = len(tokens)
    capacity = max(1, limits.max_line_chars * limits.max_lines - reserve)
    best = [float("inf")] * (count + 1)
    back = [0] * (count + 1)
    best[0] = 0.0
    for start in range(count):
        fill = LineFill(limits.max_line_chars, limits.max_lines, reserve)
        chars = 0
        sentence_inside = False
        for end in range(start + 1, count + 1):
            token = tokens[end - 1]
            fits = fill.add(token)
            too_long = token.end - tokens[start].start > limits.max_ms
            if end > start + 1 and (not fits or too_long):
                break
            chars += (1 if token.spaced and end > start + 1 else 0) + len(token.text)
            empty = max(0.0, 1 - chars / capacity) ** 2
            cut = cut_cost(tokens, end - 1)
            dangling = DANGLING_COST if sentence_inside and cut > SENTENCE_COST else 0.0
            cost = best[start] + CUE_COST + empty + cut + dangling
            if cost < best[end]:
                best[end], back[end] = cost, start
            sentence_inside = sentence_inside or ends_sentence(token.text)
    pieces, end = [], count
    while end > 0:
        pieces.append((back[end], end))
        end = back[end]
    return pieces[::-1]


def in_sequence(cues: Sequence[Cue]) -> list[Cue]:
    """Given cues sorted by start, return them so that none overlaps another and each lasts:
    a cue that runs into the next ends where the next starts, unless that leaves it less than
    SHORTEST_CUE_MS (speakers talking at once: the next then starts later); a short cue is
    held to SHORTEST_CUE_MS where the next leaves room."""
    laid: list[Cue] = []
    for n, cue in enumerate(cues):
        start = max(cue.start, laid[-1].end) if laid else cue.start
        natural = max(cue.end, start + 1)
        room = cues[n + 1].start if n + 1 < len(cues) else natural + SHORTEST_CUE_MS
        if natural > room:
            end = max(room, min(natural, start + SHORTEST_CUE_MS))
        else:
            end = min(max(natural, start + SHORTEST_CUE_MS), room)
        laid.append(replace(cue, start=start, end=end))
    return laid
