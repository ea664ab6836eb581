"""The .srt of a transcript: SubRip, numbered cues cut to the subtitle limits."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment
from dropscribe.outbox.cue_layout import USUAL_LIMITS, Cue, CueLimits, layout
from dropscribe.outbox.cues import cue_span


def render_srt(
    segments: Sequence[RemoteSegment], limits: CueLimits = USUAL_LIMITS, first: Sequence[Cue] = ()
) -> str:
    """Return SubRip text for ``segments`` (``start``/``end`` in seconds, ``text``): ``first``
    (a notice), then the cues of :func:`~dropscribe.outbox.cue_layout.layout` within
    ``limits``, numbered from 1. A labelled cue starts with its speaker, e.g. ``[Speaker 1]``,
    which counts against the first line's characters."""
    cues = enumerate([*first, *layout(segments, limits, _label_width)], 1)
    return "\n".join(f"{n}\n{cue_span(c.start, c.end, ',')}\n{_text(c)}\n" for n, c in cues)


def _label(speaker: str | None) -> str:
    return f"[{speaker}] " if speaker else ""


def _label_width(speaker: str | None) -> int:
    return len(_label(speaker))


def _text(cue: Cue) -> str:
    return _label(cue.speaker) + "\n".join(cue.lines)
