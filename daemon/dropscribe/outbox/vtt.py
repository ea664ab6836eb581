"""The .vtt of a transcript: WebVTT, cues cut to the subtitle limits, speakers as voices."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment
from dropscribe.outbox.cue_layout import USUAL_LIMITS, Cue, CueLimits, layout
from dropscribe.outbox.cues import cue_span


def _vtt_escape(text: str) -> str:
    # WebVTT cue text must not contain "-->", and "&" and "<" start entities and tags there;
    # escaping them covers "-->" too ("--&gt;").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(
    segments: Sequence[RemoteSegment], limits: CueLimits = USUAL_LIMITS, first: Sequence[Cue] = ()
) -> str:
    """Return WebVTT text for ``segments``: a ``WEBVTT`` header, ``first`` (a notice), then
    the cues of :func:`~dropscribe.outbox.cue_layout.layout` within ``limits``; a labelled
    cue is a voice span, e.g. ``<v Speaker 1>``, which players do not show as text.

    Cue text is escaped so it cannot end the cue early.
    """
    cues = [*first, *layout(segments, limits)]
    blocks = [f"{cue_span(c.start, c.end, '.')}\n{_vtt_voice(c.speaker)}{_text(c)}\n" for c in cues]
    return "\n".join(["WEBVTT\n", *blocks])


def _text(cue: Cue) -> str:
    return "\n".join(_vtt_escape(line) for line in cue.lines)


def _vtt_voice(speaker: str | None) -> str:
    # A voice span's name ends at ">", and "&" or "<" would start a reference or a tag there.
    if not speaker:
        return ""
    name = "".join("_" if c in "<>&" else c for c in speaker)
    return f"<v {name}>"
