"""The output formats, and which of them a job's result is rendered in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox.cue_layout import CueLimits
from dropscribe.outbox.incomplete import notice_cues
from dropscribe.outbox.srt import render_srt
from dropscribe.outbox.transcript_json import render_json
from dropscribe.outbox.txt import render_txt
from dropscribe.outbox.vtt import render_vtt

FORMATS = ("txt", "json", "srt", "vtt")
# Written for every job, whatever the configuration: the json is the ownership record.
ALWAYS = ("json", "txt")
# Only written when the result carries timed segments.
TIMED = ("srt", "vtt")


@dataclass(frozen=True)
class Rendering:
    """How the files are written: which formats, the .txt a line per segment or in
    paragraphs, and the limits of a subtitle cue."""

    formats: Sequence[str] = FORMATS
    txt_line_per_segment: bool = False
    subtitles: CueLimits = field(default_factory=CueLimits)


def render_all(
    job_id: str,
    result: RemoteTranscript,
    provenance: Mapping[str, Any],
    rendering: Rendering,
    json_name: str = "the .json",
) -> dict[str, str]:
    """Return the text of each file to publish, keyed by extension, json first; an incomplete
    transcript's .txt names its .json, ``json_name``."""
    files = {
        "json": render_json(job_id, result, provenance),
        "txt": render_txt(result, rendering.txt_line_per_segment, json_name),
    }
    segments = result.get("segments") or []
    limits = rendering.subtitles
    notice = notice_cues(result, limits)
    if segments and "srt" in rendering.formats:
        files["srt"] = render_srt(segments, limits, notice)
    if segments and "vtt" in rendering.formats:
        files["vtt"] = render_vtt(segments, limits, notice)
    return files
