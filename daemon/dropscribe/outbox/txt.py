"""The .txt of a transcript: its text in paragraphs that follow the turns, or a line per segment.

A new paragraph starts where the speaker changes and where the speech pauses for
PARAGRAPH_PAUSE_SECONDS or more: between two segments, or, with word timings, between two words
of one segment (a batched segment holds up to 30 s of speech, turns and all). An incomplete
transcript starts with a line saying so (:mod:`~dropscribe.outbox.incomplete`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dropscribe.core.transcript import RemoteSegment, RemoteTranscript
from dropscribe.outbox.cues import cue_lines, speaker_of
from dropscribe.outbox.incomplete import txt_notice
from dropscribe.outbox.line_wrap import joined
from dropscribe.outbox.timed_words import Token, segment_span, to_ms, word_tokens

#: Silence, in seconds, that starts a new paragraph. Readers pause 0.2-1 s between sentences,
#: a new speaker or topic takes longer. Measured on bench/cues.py's meeting (turns 2.6 s apart,
#: as in issue 29, sentences 0.6 s apart within a turn), the word timings show 2.48-3.12 s at
#: a change of turn and 0.14-0.66 s between sentences: 2 s lies well between, with room for a
#: speaker who pauses longer between sentences, and for a turn a little quicker than these.
PARAGRAPH_PAUSE_SECONDS = 2.0
PARAGRAPH_PAUSE_MS = to_ms(PARAGRAPH_PAUSE_SECONDS)


@dataclass(frozen=True)
class Phrase:
    """Speech between two pauses of one segment: its text on one line, its times in ms
    (None when the segment has none) and its speaker."""

    text: str
    start: int | None
    end: int | None
    speaker: str | None = None


def render_txt(
    result: RemoteTranscript, line_per_segment: bool = False, json_name: str = "the .json"
) -> str:
    """Return the plain text of a result, ending with one newline (empty: an empty file).

    Paragraphs follow the turns (see the module's docstring); a labelled paragraph starts with
    its speaker, ``Speaker 1: ...``. With ``line_per_segment``, each segment is a line of its
    own instead. Without timed segments, and without speakers, it is the result's ``text``,
    else its segments' texts joined. An incomplete result starts with a line that says so and
    names ``json_name``, its .json.
    """
    body = _body(result, line_per_segment)
    notice = txt_notice(result, json_name)
    if notice is None:
        return body
    return f"{notice}\n\n{body}" if body else f"{notice}\n"


def _body(result: RemoteTranscript, line_per_segment: bool) -> str:
    segments = result.get("segments") or ()
    said = [phrase for segment in segments for phrase in phrases(segment)]
    if not said or (not has_speakers(segments) and any(p.start is None for p in said)):
        return _whole_text(result)
    if line_per_segment:
        lines = ((speaker_of(s), _one_line(s)) for s in segments)
        return "".join(f"{_with_speaker(who, text)}\n" for who, text in lines if text)
    return "\n\n".join(paragraphs(said)) + "\n"


def _whole_text(result: RemoteTranscript) -> str:
    text = result.get("text")
    if not isinstance(text, str) or not text.strip():
        cues = (cue_lines(seg) for seg in result.get("segments") or ())
        text = " ".join(cue for cue in cues if cue)
    text = text.strip()
    return text + "\n" if text else ""


def has_speakers(segments: Sequence[RemoteSegment]) -> bool:
    """Return True if the segments carry speaker labels (a diarized result)."""
    return any(isinstance(segment.get("speaker"), str) for segment in segments)


def _one_line(segment: RemoteSegment) -> str:
    return " ".join(cue_lines(segment).splitlines())


def _with_speaker(speaker: str | None, text: str) -> str:
    return f"{speaker}: {text}" if speaker else text


def phrases(segment: RemoteSegment) -> list[Phrase]:
    """Return a segment's phrases: the whole segment, or, when its word timings show pauses of
    PARAGRAPH_PAUSE_SECONDS or more, the words between them; none for a segment without
    text."""
    text = _one_line(segment)
    if not text:
        return []
    speaker, span = speaker_of(segment), segment_span(segment)
    if span is None:
        return [Phrase(text, None, None, speaker)]
    words = segment.get("words")
    tokens = word_tokens(words) if words else None
    groups = paused(tokens) if tokens else []
    if len(groups) < 2:
        return [Phrase(text, *span, speaker)]
    return [Phrase(joined(group), group[0].start, group[-1].end, speaker) for group in groups]


def paused(tokens: Sequence[Token]) -> list[list[Token]]:
    """Return the tokens in runs split where PARAGRAPH_PAUSE_MS or more of silence falls."""
    runs: list[list[Token]] = []
    for token in tokens:
        if not runs or token.start - runs[-1][-1].end >= PARAGRAPH_PAUSE_MS:
            runs.append([])
        runs[-1].append(token)
    return runs


def paragraphs(said: Sequence[Phrase]) -> list[str]:
    """Return the paragraphs of phrases in order: a new one where the speaker changes or a
    pause of PARAGRAPH_PAUSE_SECONDS or more falls, each starting with its speaker."""
    groups: list[list[Phrase]] = []
    for phrase in said:
        if not groups or _breaks(groups[-1][-1], phrase):
            groups.append([])
        groups[-1].append(phrase)
    return [_with_speaker(group[0].speaker, " ".join(p.text for p in group)) for group in groups]


def _breaks(before: Phrase, phrase: Phrase) -> bool:
    if phrase.speaker != before.speaker:
        return True
    if phrase.start is None or before.end is None:
        return False
    return phrase.start - before.end >= PARAGRAPH_PAUSE_MS
