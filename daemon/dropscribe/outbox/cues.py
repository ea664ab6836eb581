"""Cues: the timed pieces of text that SubRip and WebVTT files are made of.

Shared by the .srt and .vtt renderers, and by the .txt, which joins the same texts: a cue's
time span, written with the separator of its format, its text, and its speaker.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def speaker_of(segment: RemoteSegment) -> str | None:
    """Return a segment's speaker label on one line, or None without one."""
    speaker = segment.get("speaker")
    return " ".join(speaker.split()) or None if isinstance(speaker, str) else None


def cue_lines(segment: RemoteSegment) -> str:
    """Return a segment's text as a cue holds it: its lines stripped, blank ones left out."""
    # A blank line ends a cue in both formats, so a cue's text never contains one.
    lines = str(segment.get("text") or "").splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())


def cue_times(segment: RemoteSegment, sep: str) -> str:
    """Return a segment's ``start --> end``, its timestamps written with ``sep``."""
    start = format_timestamp(float(segment["start"]), sep)
    return f"{start} --> {format_timestamp(float(segment['end']), sep)}"


def cues_of(segments: Sequence[RemoteSegment], sep: str) -> list[tuple[str, str, str | None]]:
    """Return (times, text, speaker) of each segment that has text, in order."""
    return [(cue_times(s, sep), text, speaker_of(s)) for s in segments if (text := cue_lines(s))]
