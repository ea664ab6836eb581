"""The .srt of a transcript: SubRip, one numbered cue per segment with text."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment
from dropscribe.outbox.cues import cues_of


def render_srt(segments: Sequence[RemoteSegment]) -> str:
    """Return SubRip text for ``segments`` (``start``/``end`` in seconds, ``text``).

    Cues are numbered from 1; segments without text are skipped (and take no number); a
    labelled segment's text starts with its speaker, e.g. ``[Speaker 1]``.
    """
    cues = enumerate(cues_of(segments, ","), 1)
    blocks = [f"{n}\n{times}\n{_srt_speaker(who)}{text}\n" for n, (times, text, who) in cues]
    return "\n".join(blocks)


def _srt_speaker(speaker: str | None) -> str:
    return f"[{speaker}] " if speaker else ""
