"""OpenAI's transcription request without I/O: the form a recording is sent with, and what
each response format's answer means as a transcript.

The daemon's decoding options become the form fields OpenAI defines (``language``,
``prompt`` for Whisper's initial prompt, ``temperature``; word timestamps ask for
``timestamp_granularities[]=word``); options OpenAI has no field for (beam size and the
like) are not sent. An answer becomes a RemoteTranscript as a poll's result does: verbose_json
keeps its segments and language, and its top-level ``words`` go into the segments they lie in
(where the outbox and the speaker labels look for them); json and text give the text alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dropscribe.core.errors import PermanentApiError, TransientApiError
from dropscribe.core.transcript import RemoteSegment, RemoteTranscript, RemoteWord
from dropscribe.core.transcript_fields import remote_transcript

#: The formats asked for, most useful first: a server that refuses one is asked the next.
FALLBACK_FORMATS = ("verbose_json", "json", "text")

#: HTTP statuses with which a server may refuse a response format it does not write.
_FORMAT_REFUSALS = (400, 404, 415, 422)

STEP = "transcribe"


def form_fields(
    params: Mapping[str, Any],
    response_format: str,
    model_field: str,
    model: str,
    extra: Mapping[str, str],
) -> list[tuple[str, str]]:
    """Return the form fields (besides the file) of one transcription request."""
    fields = [(model_field, model), ("response_format", response_format)]
    if params.get("language"):
        fields.append(("language", str(params["language"])))
    if params.get("initial_prompt"):
        fields.append(("prompt", str(params["initial_prompt"])))
    if params.get("temperature") is not None:
        fields.append(("temperature", f"{float(params['temperature']):g}"))
    if params.get("word_timestamps") and response_format == "verbose_json":
        fields += [("timestamp_granularities[]", "segment"), ("timestamp_granularities[]", "word")]
    return fields + list(extra.items())


def formats_from(first: str) -> tuple[str, ...]:
    """Return the formats to try, in order, starting with ``first``."""
    return FALLBACK_FORMATS[FALLBACK_FORMATS.index(first) :]


def refuses_format(exc: PermanentApiError) -> bool:
    """Return True when a refusal is of the response format asked for (try the next one)."""
    detail = str(exc).lower()
    return exc.status in _FORMAT_REFUSALS and ("format" in detail or "verbose" in detail)


def parse_answer(body: bytes, content_type: str, response_format: str) -> RemoteTranscript:
    """Given a transcription answer, return it as a transcript. Raise PermanentApiError for
    an HTML page (no transcription endpoint there), TransientApiError for a cut-off or
    malformed body."""
    text = body.decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html")
    ):
        raise PermanentApiError(
            f"{STEP}: the server answered an HTML page, not a transcript: is api.base_url with "
            "api.openai.path an OpenAI-compatible transcription endpoint?",
            step=STEP,
        )
    if response_format == "text":
        return {"text": text.strip(), "segments": []}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TransientApiError(f"{STEP}: the answer is not valid JSON", step=STEP) from exc
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise TransientApiError(f"{STEP}: the answer carries no text", step=STEP)
    result = remote_transcript({k: v for k, v in value.items() if k != "words"})
    result.setdefault("segments", [])
    words = value.get("words")
    if isinstance(words, list) and result["segments"]:
        result["segments"] = with_words(result["segments"], words)
    return result


def with_words(segments: Sequence[RemoteSegment], words: Sequence[Any]) -> list[RemoteSegment]:
    """Return the segments with each timed word put in the segment it starts in (the last
    one that starts at or before it), unless the segments carry their own words."""
    if any("words" in segment for segment in segments):
        return list(segments)
    placed: list[RemoteSegment] = [dict(segment) for segment in segments]  # type: ignore[misc]
    for word in words:
        timed = _word(word)
        if timed is None:
            continue
        home = next(
            (s for s in reversed(placed) if s.get("start", 0.0) <= timed["start"]), placed[0]
        )
        home.setdefault("words", []).append(timed)
    return placed


def _word(value: Any) -> RemoteWord | None:
    if not isinstance(value, dict):
        return None
    start, end, word = value.get("start"), value.get("end"), value.get("word")
    if not (isinstance(start, int | float) and isinstance(end, int | float)):
        return None
    if not isinstance(word, str):
        return None
    # Whisper's words carry their leading space; OpenAI's do not: the outbox joins as Whisper.
    return {"word": word if word.startswith(" ") else " " + word, "start": float(start),
            "end": float(end)}  # fmt: skip
