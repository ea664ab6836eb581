"""The lines of a cue: its tokens laid into at most so many lines of at most so many characters.

Whether tokens fit is decided greedily, a token at a time (:class:`LineFill`): filling each line
as far as it goes gives the fewest lines, so it answers "do they fit?" exactly. How they are
then laid (:func:`wrapped`) balances the lines and prefers to end one at punctuation. A line may
start narrower than the others (``reserve``: room for a speaker label written before it). Only a
token longer than a line on its own ever makes a line too long: a word is never cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.outbox.timed_words import CLAUSE_ENDS, Token, ends_sentence

#: Cost of ending a line between two words rather than after punctuation, against the squared
#: share a line leaves empty: enough to move a break a word or two to a comma, not more.
LINE_WORD_COST = 0.2


def joined(tokens: Sequence[Token]) -> str:
    """Return tokens as one text: a space before each spaced one but the first."""
    return "".join(f"{' ' if t.spaced and n else ''}{t.text}" for n, t in enumerate(tokens))


class LineFill:
    """Tokens added one by one into lines of ``width`` characters, at most ``lines`` of them,
    the first ``reserve`` characters narrower; :meth:`add` says whether all still fit."""

    def __init__(self, width: int, lines: int, reserve: int = 0) -> None:
        self._width = width
        self._lines = lines
        self._reserve = reserve
        self._used = 0
        self._length = 0
        self._fits = True

    def add(self, token: Token) -> bool:
        """Add the next token; return True while every token added fits."""
        if not self._fits:
            return False
        size = len(token.text)
        longer = self._length + (1 if token.spaced else 0) + size
        if self._used and longer <= self._capacity(self._used - 1):
            self._length = longer
            return True
        self._used += 1
        self._length = size
        self._fits = self._used <= self._lines and size <= self._capacity(self._used - 1)
        return self._fits

    def _capacity(self, line: int) -> int:
        return self._width - (self._reserve if line == 0 else 0)


def wrapped(tokens: Sequence[Token], width: int, lines: int, reserve: int = 0) -> list[str]:
    """Return the lines of a cue's tokens: at most ``lines`` of at most ``width`` characters
    (the first ``reserve`` narrower), as even as they can be, a break after punctuation
    preferred. Tokens that fit in no such lines (a word longer than a line) are filled line by
    line instead, each too-long word on a line of its own."""
    offsets = _offsets(tokens)
    best: dict[tuple[int, int], tuple[float, int]] = {(0, 0): (0.0, 0)}
    for line in range(lines):
        capacity = max(1, width - (reserve if line == 0 else 0))
        for (start, used), (cost, _) in list(best.items()):
            if used != line:
                continue
            for end in range(start + 1, len(tokens) + 1):
                length = offsets[end - 1][1] - offsets[start][0]
                if length > capacity:
                    break
                total = cost + ((capacity - length) / capacity) ** 2 + _break_cost(tokens, end)
                if total < best.get((end, line + 1), (float("inf"), 0))[0]:
                    best[(end, line + 1)] = (total, start)
    ends = [(best[(len(tokens), n)][0], n) for n in range(1, lines + 1) if (len(tokens), n) in best]
    if not tokens or not ends:
        return filled(tokens, width, reserve)
    return _laid(tokens, best, min(ends)[1])


def _offsets(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Return where each token starts and ends in :func:`joined` text."""
    offsets, at = [], 0
    for n, token in enumerate(tokens):
        at += 1 if token.spaced and n else 0
        offsets.append((at, at + len(token.text)))
        at += len(token.text)
    return offsets


def _break_cost(tokens: Sequence[Token], end: int) -> float:
    if end >= len(tokens):
        return 0.0
    text = tokens[end - 1].text
    return 0.0 if ends_sentence(text) or text[-1] in CLAUSE_ENDS else LINE_WORD_COST


def _laid(
    tokens: Sequence[Token], best: dict[tuple[int, int], tuple[float, int]], count: int
) -> list[str]:
    laid, end = [], len(tokens)
    for line in range(count, 0, -1):
        start = best[(end, line)][1]
        laid.append(joined(tokens[start:end]))
        end = start
    return laid[::-1]


def filled(tokens: Sequence[Token], width: int, reserve: int = 0) -> list[str]:
    """Return tokens filled line by line, as many lines as it takes; a token longer than a
    line stands on a line of its own."""
    lines: list[list[Token]] = []
    length = 0
    for token in tokens:
        capacity = width - (reserve if len(lines) == 1 else 0)
        longer = length + (1 if token.spaced else 0) + len(token.text)
        if lines and longer <= capacity:
            lines[-1].append(token)
            length = longer
        else:
            lines.append([token])
            length = len(token.text)
    return [joined(line) for line in lines]
