"""A strict reader of the SubRip we write, for tests and benchmarks: it raises ValueError on a
block that is not ``number``, ``start --> end`` and text lines, and returns the cues it read."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$"
)


@dataclass(frozen=True)
class Cue:
    """One cue: its number, its times in seconds and its text lines."""

    number: int
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """Return the cue's lines joined by spaces."""
        return " ".join(self.lines)


def _seconds(hours: str, minutes: str, secs: str, millis: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def parse(document: str) -> list[Cue]:
    """Return the cues of a SubRip document, numbered from 1 in order. Raise ValueError if
    it is not valid."""
    cues = [cue_of(block) for block in document.split("\n\n") if block.strip()]
    for n, cue in enumerate(cues, 1):
        if cue.number != n:
            raise ValueError(f"cue {n} is numbered {cue.number}")
    return cues


def cue_of(block: str) -> Cue:
    """Return one cue block. Raise ValueError if it is invalid."""
    lines = block.strip("\n").split("\n")
    if len(lines) < 3 or not lines[0].isdigit():
        raise ValueError(f"bad cue block: {block!r}")
    timing = _TIMING.match(lines[1])
    if timing is None:
        raise ValueError(f"bad timing line: {lines[1]!r}")
    groups = timing.groups()
    start, end = _seconds(*groups[:4]), _seconds(*groups[4:])
    if end <= start:
        raise ValueError(f"cue ends before it starts: {lines[1]!r}")
    if any(not line.strip() for line in lines[2:]):
        raise ValueError(f"blank text line in {block!r}")
    return Cue(int(lines[0]), start, end, tuple(lines[2:]))
