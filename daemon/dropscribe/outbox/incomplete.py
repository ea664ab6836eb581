"""The mark of an incomplete transcript, where people read it.

The completeness verdict (``complete: false``, with the ``coverage`` that says how much speech
is missing) is in the .json, which people seldom open; a transcript that misses speech must not
pass for a complete one in the .txt or the subtitles. So the .txt starts with a line saying so,
and the .srt and the .vtt with a cue saying so, shown from 0 to NOTICE_SECONDS.

A cue rather than a WebVTT NOTE: players never show a NOTE, and a cue reads just as well in a
text editor; one mark, the same in both subtitle formats. The cue may overlap the first words
of the recording (both formats allow cues at the same time; players stack them), so no time
of the transcript's own cues is moved. A complete transcript, or one whose completeness was
never judged, gets no mark.
"""

from __future__ import annotations

from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox.cue_layout import Cue, CueLimits
from dropscribe.outbox.line_wrap import wrapped
from dropscribe.outbox.timed_words import Token, text_pieces, to_ms

#: How long the incomplete cue is shown from the start, in seconds: long enough to read its
#: two lines (about 70 characters) at a usual subtitle reading speed.
NOTICE_SECONDS = 3.0


def is_incomplete(result: RemoteTranscript) -> bool:
    """Return True when the result was judged incomplete."""
    return result.get("complete") is False


def missing_seconds(result: RemoteTranscript) -> float | None:
    """Return how many seconds of speech the transcript leaves out, or None if not known."""
    coverage = result.get("coverage")
    if coverage is None:
        return None
    try:
        missing = float(coverage["speech_seconds"]) - float(coverage["covered_seconds"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, missing)


def _amount(result: RemoteTranscript) -> str:
    seconds = missing_seconds(result)
    if seconds is None:
        return "some speech"
    shown = f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"
    return f"{shown} s of speech"


def txt_notice(result: RemoteTranscript, json_name: str) -> str | None:
    """Return the first line of an incomplete transcript's .txt, naming its .json; None for
    a complete one."""
    if not is_incomplete(result):
        return None
    return (
        f"[dropscribe: this transcript is incomplete: {_amount(result)} not transcribed, "
        f"see {json_name}]"
    )


def cue_notice(result: RemoteTranscript) -> str | None:
    """Return the text of an incomplete transcript's first subtitle cue; None for a complete
    one. It is short (the .json is named by kind, not by name) so it fits two lines."""
    if not is_incomplete(result):
        return None
    return f"[dropscribe: incomplete transcript, {_amount(result)} missing, see the .json]"


def notice_cues(result: RemoteTranscript, limits: CueLimits) -> list[Cue]:
    """Return the cue that marks an incomplete transcript, from 0 to NOTICE_SECONDS, its text
    in lines of the limits' width; none for a complete one."""
    text = cue_notice(result)
    if text is None:
        return []
    tokens = [Token(piece, 0, 0, spaced) for piece, spaced in text_pieces(text)]
    lines = wrapped(tokens, limits.max_line_chars, limits.max_lines)
    return [Cue(0, to_ms(NOTICE_SECONDS), tuple(lines))]
