"""The .txt of a transcript: its text in paragraphs, a line per segment, or a turn per speaker."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment, RemoteTranscript
from dropscribe.outbox.cues import cue_lines, speaker_of

# Silence between two segments, in seconds, that starts a new paragraph in the .txt: longer
# than the breath between two sentences, as long as a new speaker or topic usually takes.
PARAGRAPH_PAUSE_SECONDS = 2.0


def render_txt(result: RemoteTranscript, line_per_segment: bool = False) -> str:
    """Return the plain text of a result, ending with one newline (empty: an empty file).

    With speaker labels, each turn is a paragraph starting ``Speaker 1:`` (see
    :func:`render_turns`). Otherwise, with timed segments, a pause of PARAGRAPH_PAUSE_SECONDS
    or more starts a new paragraph (a blank line), or, with ``line_per_segment``, each segment
    is a line of its own. Without them, the result's ``text``, else its segments' texts
    joined.
    """
    segments = result.get("segments") or ()
    if has_speakers(segments):
        return render_turns(segments, line_per_segment)
    timed = timed_texts(segments)
    if timed:
        if line_per_segment:
            return "".join(f"{text}\n" for _, _, text in timed)
        return "\n\n".join(paragraphs(timed)) + "\n"
    text = result.get("text")
    if not isinstance(text, str) or not text.strip():
        cues = (cue_lines(seg) for seg in result.get("segments") or ())
        text = " ".join(cue for cue in cues if cue)
    text = text.strip()
    return text + "\n" if text else ""


def has_speakers(segments: Sequence[RemoteSegment]) -> bool:
    """Return True if the segments carry speaker labels (a diarized result)."""
    return any(isinstance(segment.get("speaker"), str) for segment in segments)


def turns(segments: Sequence[RemoteSegment]) -> list[tuple[str | None, list[str]]]:
    """Return (speaker, texts) for each run of consecutive segments with text by one speaker."""
    runs: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        text = " ".join(cue_lines(segment).splitlines())
        if not text:
            continue
        speaker = speaker_of(segment)
        if not runs or runs[-1][0] != speaker:
            runs.append((speaker, []))
        runs[-1][1].append(text)
    return runs


def _with_speaker(speaker: str | None, text: str) -> str:
    return f"{speaker}: {text}" if speaker else text


def render_turns(segments: Sequence[RemoteSegment], line_per_segment: bool) -> str:
    """Return the text of labelled segments: a paragraph per turn (a change of speaker),
    starting with its speaker, e.g. ``Speaker 1: ...``; with ``line_per_segment``, a line per
    segment, each starting with its speaker."""
    runs = turns(segments)
    if line_per_segment:
        return "".join(f"{_with_speaker(who, text)}\n" for who, texts in runs for text in texts)
    return "\n\n".join(_with_speaker(who, " ".join(texts)) for who, texts in runs) + "\n"


def timed_texts(segments: Sequence[RemoteSegment]) -> list[tuple[float, float, str]]:
    """Return (start, end, text on one line) of each segment with text, in order; an empty
    list if any such segment lacks a usable start or end."""
    timed = []
    for segment in segments:
        text = " ".join(cue_lines(segment).splitlines())
        if not text:
            continue
        try:
            timed.append((float(segment["start"]), float(segment["end"]), text))
        except (KeyError, TypeError, ValueError):
            return []
    return timed


def paragraphs(timed: Sequence[tuple[float, float, str]]) -> list[str]:
    """Given (start, end, text) segments, return paragraphs: the texts joined, split where
    the silence before a segment is PARAGRAPH_PAUSE_SECONDS or longer."""
    groups: list[list[str]] = []
    previous_end: float | None = None
    for start, end, text in timed:
        if previous_end is None or start - previous_end >= PARAGRAPH_PAUSE_SECONDS:
            groups.append([])
        groups[-1].append(text)
        previous_end = end
    return [" ".join(group) for group in groups]
