"""The .vtt of a transcript: WebVTT, long segments cut into cues at word boundaries."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment, RemoteWord
from dropscribe.outbox.cues import cues_of

# Longest .vtt cue cut from a segment that has word timings, in seconds: subtitle guidelines
# keep a cue on screen for at most about 7 s, and a batched segment can run 30 s.
MAX_CUE_SECONDS = 7.0


def _vtt_escape(text: str) -> str:
    # WebVTT cue text must not contain "-->", and "&" and "<" start entities and tags there;
    # escaping them covers "-->" too ("--&gt;").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(segments: Sequence[RemoteSegment]) -> str:
    """Return WebVTT text for ``segments``: a ``WEBVTT`` header, then one cue per segment, or
    per stretch of at most MAX_CUE_SECONDS of a segment that carries word timings; a labelled
    segment's cues are voice spans, e.g. ``<v Speaker 1>``.

    Segments without text are skipped; cue text is escaped so it cannot end the cue early.
    """
    pieces = [piece for segment in segments for piece in cue_pieces(segment, MAX_CUE_SECONDS)]
    blocks = [
        f"{times}\n{_vtt_voice(who)}{_vtt_escape(text)}\n"
        for times, text, who in cues_of(pieces, ".")
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _vtt_voice(speaker: str | None) -> str:
    # A voice span's name ends at ">", and "&" or "<" would start a reference or a tag there.
    if not speaker:
        return ""
    name = "".join("_" if c in "<>&" else c for c in speaker)
    return f"<v {name}>"


def cue_pieces(segment: RemoteSegment, max_seconds: float) -> list[RemoteSegment]:
    """Given a segment, return it cut at word boundaries into pieces of at most
    ``max_seconds`` each (a single longer word stays whole); a segment without usable word
    timings, or short enough, is returned as it is."""
    words = segment.get("words")
    if not words or float(segment["end"]) - float(segment["start"]) <= max_seconds:
        return [segment]
    try:
        groups = word_groups(words, max_seconds)
    except (KeyError, TypeError, ValueError):
        return [segment]
    return [_piece(segment, group) for group in groups]


def word_groups(words: Sequence[RemoteWord], max_seconds: float) -> list[list[RemoteWord]]:
    """Return the words in consecutive groups, each spanning at most ``max_seconds`` from its
    first word's start to its last word's end (a longer single word is a group of its own)."""
    groups: list[list[RemoteWord]] = []
    for word in words:
        if not groups or float(word["end"]) - float(groups[-1][0]["start"]) > max_seconds:
            groups.append([])
        groups[-1].append(word)
    return groups


def _piece(segment: RemoteSegment, words: Sequence[RemoteWord]) -> RemoteSegment:
    return {
        **segment,
        "start": float(words[0]["start"]),
        "end": float(words[-1]["end"]),
        "text": "".join(str(word["word"]) for word in words),
        "words": list(words),
    }
