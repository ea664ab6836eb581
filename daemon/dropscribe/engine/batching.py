"""Several short recordings through one batched encode and generate.

Short recordings fill few of a batch's windows each, so running them one by one leaves the
batch mostly empty. Here their audio is laid end to end with a second of silence between them,
each one's speech windows are shifted to where it now lies, and one batched pipeline call
decodes every window; the segments then go back to the recording whose window they came from,
with their times shifted back. Coverage is measured per recording, on its own speech.

The layout and the splitting are pure; the engine makes the one call into the model.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from dropscribe.core.coverage import Span
from dropscribe.core.transcript import Segment, Word
from dropscribe.engine.vad import SAMPLING_RATE, WINDOW_SECONDS, windows

#: Silence laid between two recordings, in seconds: Whisper sees the end of each one as a
#: pause long enough to end its segment there.
GAP_SECONDS = 1.5

#: Recordings at most this long (in seconds of audio) are decoded ahead and batched with others;
#: a longer one has windows enough to fill batches by itself. With the 32 jobs a batch takes at
#: most, a batch holds at most 32 minutes of samples (123 MB), and as much again laid end to end;
#: each engine worker holds its own batch, and up to 32 more recordings wait decoded ahead.
SHORT_SECONDS = 60.0

#: Seconds a segment may reach into the recording laid next to its own before it counts as
#: holding words of both. Whisper's timestamps drift in a window shared by several short
#: recordings: a segment of one recording's own words ended 0.08 s into the next one, past
#: the 1.5 s of silence between them; one that also held the next one's first words reached
#: 0.56 s into it, and a decoder that ran two recordings into one segment, all of the next.
STRADDLE_SECONDS = 0.25

#: What has a start and an end to shift: a segment or a word.
Timed = TypeVar("Timed", Segment, Word)


@dataclass(frozen=True)
class Clip:
    """One decoded recording: its samples and where VAD found speech in them."""

    samples: Any
    speech: list[Span]

    @property
    def seconds(self) -> float:
        """Return the recording's length in seconds."""
        return float(len(self.samples)) / SAMPLING_RATE


def offsets(lengths: Sequence[float], gap: float = GAP_SECONDS) -> list[float]:
    """Given recording lengths in seconds, return where each starts when laid end to end."""
    starts, at = [], 0.0
    for length in lengths:
        starts.append(at)
        at += length + gap
    return starts


def laid_windows(clips: Sequence[Clip], starts: Sequence[float]) -> list[Span]:
    """Return decoding windows over every recording's speech, shifted to where the recording
    lies. Whole recordings share a window while they fit in one (each window costs a full
    encoder pass however little speech it holds); a recording is never cut between two
    windows unless it is longer than one, so a window edge never falls inside a short one."""
    packed: list[Span] = []
    for clip, start in zip(clips, starts, strict=True):
        own = [(start + a, start + b) for a, b in windows(clip.speech)]
        if len(own) == 1 and packed and own[0][1] - packed[-1][0] <= WINDOW_SECONDS:
            packed[-1] = (packed[-1][0], own[0][1])
        else:
            packed.extend(own)
    return packed


def owner(time: float, starts: Sequence[float]) -> int:
    """Return the index of the recording that the laid-out time falls in."""
    return max(0, bisect.bisect_right(starts, time) - 1)


def shifted(segment: Segment, by: float) -> Segment:
    """Return the segment (and its words, if it has them) with times moved back by ``by``
    seconds."""
    moved: Segment = {**_moved(segment, by), "seek": 0}
    if "words" in segment:
        moved["words"] = [_moved(word, by) for word in segment["words"]]
    return moved


def _moved(timed: Timed, by: float) -> Timed:
    moved = timed.copy()
    moved["start"] = max(0.0, round(timed["start"] - by, 3))
    moved["end"] = max(0.0, round(timed["end"] - by, 3))
    return moved


def straddles(segment: Segment, starts: Sequence[float], reach: float = STRADDLE_SECONDS) -> bool:
    """Return True when the segment runs from one recording well into another: its text
    holds words of both, and belongs to neither alone."""
    return owner(segment["start"] + reach, starts) != owner(segment["end"] - reach, starts)


def split(segments: Sequence[Segment], starts: Sequence[float]) -> list[list[Segment]]:
    """Return the segments of each recording, in its own time, renumbered from 1. A segment
    that straddles two recordings goes to neither: each of them is then short of its speech,
    and the engine decodes it again alone."""
    parts: list[list[Segment]] = [[] for _ in starts]
    for segment in segments:
        if straddles(segment, starts):
            continue
        # By the middle: a segment's start is rounded to the millisecond and may fall a hair
        # before the recording it opens.
        index = owner((segment["start"] + segment["end"]) / 2, starts)
        parts[index].append(shifted(segment, starts[index]))
    for part in parts:
        for n, segment in enumerate(part, start=1):
            segment["id"] = n
    return parts


def laid_audio(clips: Sequence[Clip], gap: float = GAP_SECONDS) -> Any:
    """Return the recordings' samples end to end with ``gap`` seconds of silence between."""
    silence = np.zeros(int(gap * SAMPLING_RATE), dtype=np.float32)
    pieces: list[Any] = []
    for clip in clips:
        pieces.extend([clip.samples, silence])
    return np.concatenate(pieces[:-1]) if pieces else silence
