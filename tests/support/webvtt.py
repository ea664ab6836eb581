"""A strict reader of the WebVTT we write, for tests: it raises ValueError on anything the
WebVTT specification (W3C, "WebVTT: The Web Video Text Tracks Format") does not allow in a
file of plain cues with optional voice spans, and returns the cues it read."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME} --> {_TIME}$")
#: A voice span: <v Name>, the name any text without "<", ">", "&" or a line break.
_VOICE = re.compile(r"^<v(?:\.[\w-]+)* ([^<>&\n]+)>")
_ENTITY = re.compile(r"&(amp|lt|gt|nbsp|lrm|rlm);")


@dataclass(frozen=True)
class Cue:
    """One cue: its times in seconds, its voice (None without a span) and its text."""

    start: float
    end: float
    voice: str | None
    text: str


def seconds(hours: str | None, minutes: str, secs: str, millis: str) -> float:
    """Return a WebVTT timestamp's parts as seconds."""
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def parse(document: str) -> list[Cue]:
    """Return the cues of a WebVTT document. Raise ValueError if it is not valid."""
    blocks = document.split("\n\n")
    if not re.fullmatch(r"WEBVTT(?:[ \t][^\n]*)?\n?", blocks[0]):
        raise ValueError(f"bad header: {blocks[0]!r}")
    cues = [cue_of(block) for block in blocks[1:] if block.strip()]
    for before, after in itertools.pairwise(cues):
        if after.start < before.start:
            raise ValueError(f"cues out of order: {before} then {after}")
    return cues


def cue_of(block: str) -> Cue:
    """Return one cue block (timing line, then text lines). Raise ValueError if invalid."""
    lines = block.strip("\n").split("\n")
    timing = _TIMING.match(lines[0])
    if timing is None:
        raise ValueError(f"bad timing line: {lines[0]!r}")
    groups = timing.groups()
    start, end = seconds(*groups[:4]), seconds(*groups[4:])
    if end <= start:
        raise ValueError(f"cue ends before it starts: {lines[0]!r}")
    text = "\n".join(lines[1:])
    if not text.strip() or "-->" in text:
        raise ValueError(f"bad cue text: {text!r}")
    voice, body = voice_of(text)
    return Cue(start, end, voice, body)


def voice_of(text: str) -> tuple[str | None, str]:
    """Return the voice of a cue's text (None without a span) and the text without tags.
    Raise ValueError if a "<" or "&" starts no valid tag or character reference."""
    match = _VOICE.match(text)
    voice = match.group(1) if match else None
    body = text[match.end() :] if match else text
    body = body.removesuffix("</v>")
    if "<" in body or ">" in body:
        raise ValueError(f"unescaped tag character in cue text: {text!r}")
    if "&" in _ENTITY.sub("", body):
        raise ValueError(f"bare '&' in cue text: {text!r}")
    return voice, _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}.get(m[1], " "), body)
