"""Word error rate, the way the speech fixtures' README asks: lower-case, punctuation dropped."""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)")


def normalized_words(text: str) -> list[str]:
    """Return the words of ``text`` lower-cased, with punctuation removed (apostrophes kept)."""
    return _NOT_WORD.sub(" ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Return (substitutions + deletions + insertions) / reference words, after normalizing."""
    ref = normalized_words(reference)
    hyp = normalized_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return _edit_distance(ref, hyp) / len(ref)


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            substitution = previous[j - 1] + (ref_word != hyp_word)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]
