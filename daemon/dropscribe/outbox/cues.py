"""Cues: the timed pieces of text that SubRip and WebVTT files are made of.

What the .srt and .vtt renderers share, and the .txt too: timestamps written with the
separator of each format, a segment's speaker and its text. How a transcript is cut into cues
is :mod:`~dropscribe.outbox.cue_layout`.
"""

from __future__ import annotations

from dropscribe.core.transcript import RemoteSegment


def format_timestamp(seconds: float, sep: str) -> str:
    """Return ``seconds`` as ``HH:MM:SS<sep>mmm``, rounded to the millisecond (negative -> 0).

    Hours are not wrapped at 24; SRT uses ``sep=","``, WebVTT ``sep="."``.
    """
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def cue_span(start_ms: int, end_ms: int, sep: str) -> str:
    """Return a cue's ``start --> end`` from its times in ms, written with ``sep``."""
    return f"{format_timestamp(start_ms / 1000, sep)} --> {format_timestamp(end_ms / 1000, sep)}"


def speaker_of(segment: RemoteSegment) -> str | None:
    """Return a segment's speaker label on one line, or None without one."""
    speaker = segment.get("speaker")
    return " ".join(speaker.split()) or None if isinstance(speaker, str) else None


def cue_lines(segment: RemoteSegment) -> str:
    """Return a segment's text, its lines stripped, blank ones left out."""
    lines = str(segment.get("text") or "").splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())
