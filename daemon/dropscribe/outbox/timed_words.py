"""The timed words of a segment, that cues are cut from, and how good a cut after each is.

A segment with word timings (``words``, see :mod:`dropscribe.core.transcript`) gives its words
with their own times. A segment without them gives the words of its text, each with a share of
the segment's time span proportional to its characters (a space counted with the word it comes
before): an estimate, exact only for speech at an even pace without pauses, but the best the
text and the segment's two times tell.

A token is what a cue is never cut inside: a word, with the punctuation that touches it. Times
are whole milliseconds, as the subtitle formats write them, so a limit checked here holds in the
file too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from dropscribe.core.transcript import RemoteSegment, RemoteWord
from dropscribe.outbox.cues import cue_lines

# The look-alikes ruff warns of (RUF001) are the point here: typographic and CJK punctuation.
#: Characters that end a sentence (Latin and CJK), and those that may follow them ("end.").
SENTENCE_ENDS = frozenset(".?!…。！？")  # noqa: RUF001
CLOSERS = "\"')]}»”’」』"  # noqa: RUF001
#: Characters that end a clause: the next best place for a cut.
CLAUSE_ENDS = frozenset(",;:、，；：—–-")  # noqa: RUF001

#: Silence between two words, in milliseconds, that makes a cut there better than between any
#: two words: a speaker's pause between phrases is about a quarter second or more, while the
#: word timings of running speech touch or leave a few hundredths between words.
PAUSE_MS = 300

#: Cost of a cut after a token, by what ends there (lower is better): a sentence, a clause, a
#: pause, any word. A cue costs 1 of its own (see :mod:`~dropscribe.outbox.cue_layout`), so two
#: cues cut at a sentence end beat one cue cut twice at plain words.
SENTENCE_COST = 0.0
CLAUSE_COST = 2.0
PAUSE_COST = 3.0
WORD_COST = 6.0


@dataclass(frozen=True)
class Token:
    """A word and what touches it, from ``start`` to ``end`` (ms); ``spaced`` when a space
    stands between it and the token before it."""

    text: str
    start: int
    end: int
    spaced: bool = True


def to_ms(seconds: float) -> int:
    """Return seconds as whole milliseconds, rounded as the subtitle formats write them."""
    return max(0, round(seconds * 1000))


def segment_span(segment: RemoteSegment) -> tuple[int, int] | None:
    """Return a segment's (start, end) in ms, end never before start; None without them."""
    try:
        start, end = to_ms(float(segment["start"])), to_ms(float(segment["end"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return start, max(start, end)


def tokens_of(segment: RemoteSegment) -> tuple[list[Token], bool]:
    """Return a segment's tokens in order, and whether their times are estimated (True: from
    the text, see the module's docstring). A segment without start and end has none."""
    span = segment_span(segment)
    if span is None:
        return [], True
    words = segment.get("words")
    timed = word_tokens(words) if words else None
    if timed is not None:
        return timed, False
    return estimated_tokens(cue_lines(segment), *span), True


def word_tokens(words: Sequence[RemoteWord]) -> list[Token] | None:
    """Return the tokens of timed words, each starting no earlier than the one before ends;
    None if a word lacks its text or either time (the segment is then estimated)."""
    tokens: list[Token] = []
    for word in words:
        try:
            raw, start, end = str(word["word"]), to_ms(word["start"]), to_ms(word["end"])
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        text = " ".join(raw.split())
        if not text:
            continue
        start = max(start, tokens[-1].end) if tokens else start
        token = Token(text, start, max(start, end), spaced=raw[:1].isspace())
        if tokens and joins(tokens[-1], token):
            tokens[-1] = merged(tokens[-1], token)
        else:
            tokens.append(token)
    return tokens


def joins(before: Token, token: Token) -> bool:
    """Return True when ``token`` belongs to the word before it: punctuation alone, or a word
    piece that no space separates from it (``"don"`` + ``"'t"``), except between two CJK
    characters, which are words of their own."""
    if not any(c.isalnum() for c in token.text):
        return True
    return not token.spaced and not (is_wide(before.text[-1]) and is_wide(token.text[0]))


def merged(before: Token, token: Token) -> Token:
    """Return two tokens as one, spanning both."""
    text = f"{before.text}{' ' if token.spaced else ''}{token.text}"
    return Token(text, before.start, max(before.end, token.end), before.spaced)


def is_wide(char: str) -> bool:
    """Return True for a wide (CJK) character: text in such a script has no spaces, and a cut
    may fall between any two of them."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def text_pieces(text: str) -> list[tuple[str, bool]]:
    """Return the words of a text with whether a space comes before each: split at spaces,
    and between two wide characters; punctuation alone joins the word before it."""
    pieces: list[tuple[str, bool]] = []
    for word in text.split():
        spaced = True
        start = 0
        for n in range(1, len(word)):
            if is_wide(word[n - 1]) and is_wide(word[n]):
                pieces.append((word[start:n], spaced))
                start, spaced = n, False
        pieces.append((word[start:], spaced))
    joined: list[tuple[str, bool]] = []
    for piece, spaced in pieces:
        if joined and not any(c.isalnum() for c in piece):
            joined[-1] = (f"{joined[-1][0]}{' ' if spaced else ''}{piece}", joined[-1][1])
        else:
            joined.append((piece, spaced))
    return joined


def estimated_tokens(text: str, start: int, end: int) -> list[Token]:
    """Return the words of ``text`` spread over ``start``-``end`` (ms), each given a share of
    the span proportional to its characters, a space counted with the word after it."""
    pieces = text_pieces(text)
    weights = [len(piece) + (1 if spaced and n else 0) for n, (piece, spaced) in enumerate(pieces)]
    total = sum(weights) or 1
    tokens, done = [], 0
    for (piece, spaced), weight in zip(pieces, weights, strict=True):
        first = start + (end - start) * done // total
        done += weight
        tokens.append(Token(piece, first, start + (end - start) * done // total, spaced))
    return tokens


def ends_sentence(text: str) -> bool:
    """Return True when a token ends a sentence (``"end."``, ``"end?\""``)."""
    return text.rstrip(CLOSERS)[-1:] in SENTENCE_ENDS


def cut_cost(tokens: Sequence[Token], index: int) -> float:
    """Return the cost of a cut after ``tokens[index]``: what ends there, or the pause after
    it; the end of the tokens costs nothing."""
    if index + 1 >= len(tokens):
        return SENTENCE_COST
    text = tokens[index].text
    if ends_sentence(text):
        return SENTENCE_COST
    if text[-1] in CLAUSE_ENDS:
        return CLAUSE_COST
    if tokens[index + 1].start - tokens[index].end >= PAUSE_MS:
        return PAUSE_COST
    return WORD_COST
