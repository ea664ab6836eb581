"""The output formats, and which of them a job's result is rendered in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox.srt import render_srt
from dropscribe.outbox.transcript_json import render_json
from dropscribe.outbox.txt import render_txt
from dropscribe.outbox.vtt import render_vtt

FORMATS = ("txt", "json", "srt", "vtt")
# Written for every job, whatever the configuration: the json is the ownership record.
ALWAYS = ("json", "txt")
# Only written when the result carries timed segments.
TIMED = ("srt", "vtt")


def render_all(
    job_id: str,
    result: RemoteTranscript,
    provenance: Mapping[str, Any],
    formats: Sequence[str],
    txt_line_per_segment: bool = False,
) -> dict[str, str]:
    """Return the text of each file to publish, keyed by extension, json first."""
    files = {
        "json": render_json(job_id, result, provenance),
        "txt": render_txt(result, txt_line_per_segment),
    }
    segments = result.get("segments") or []
    if segments and "srt" in formats:
        files["srt"] = render_srt(segments)
    if segments and "vtt" in formats:
        files["vtt"] = render_vtt(segments)
    return files
