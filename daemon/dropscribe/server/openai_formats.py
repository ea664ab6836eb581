"""OpenAI's ``POST /v1/audio/transcriptions`` without HTTP: its form fields in, its answers out.

The form's fields become the engine's decoding options (``prompt`` is Whisper's
``initial_prompt``; asking for word timestamps turns ``word_timestamps`` on), and a finished
job's transcript becomes each of the five response formats OpenAI defines: ``json``
(``{"text"}``), ``text``, ``verbose_json`` (language, duration, segments, and words when
asked), ``srt`` and ``vtt``. The server side imports nothing of the daemon's outbox, so the
two subtitle formats are written here, from the segments, as OpenAI's service writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from pydantic import ValidationError

from dropscribe.core.transcript import Transcript
from dropscribe.engine.params import WhisperInput
from dropscribe.server.problems import ApiProblem
from dropscribe.server.uploads import ALLOWED_EXTENSIONS

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]

#: The response formats, in OpenAI's order.
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)

#: Granularities of ``timestamp_granularities[]``; OpenAI's default is segments only.
GRANULARITIES = ("segment", "word")

#: Extensions OpenAI accepts that name a container under another name.
_EXTENSION_ALIASES = {"mpeg": "mp3", "mpga": "mp3", "oga": "ogg"}

#: Media type of each answer that is not JSON.
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


@dataclass(frozen=True)
class TranscriptionAsk:
    """What one request asks for: decoding options, the answer's format, the granularities."""

    options: WhisperInput
    response_format: ResponseFormat
    granularities: tuple[str, ...]


def transcription_ask(
    language: str | None,
    prompt: str | None,
    temperature: float | None,
    response_format: str,
    granularities: Sequence[str],
) -> TranscriptionAsk:
    """Given the form's fields, return what the request asks for. Raise ApiProblem 400 for an
    unknown format or granularity, or words asked for in a format that has no place for them;
    422 for an option out of the engine's bounds, named."""
    if response_format not in RESPONSE_FORMATS:
        raise ApiProblem(
            400, f"response_format {response_format!r} is not one of {', '.join(RESPONSE_FORMATS)}"
        )
    unknown = sorted(set(granularities) - set(GRANULARITIES))
    if unknown:
        raise ApiProblem(400, f"timestamp_granularities {unknown} are not among {GRANULARITIES}")
    words = "word" in granularities
    if words and response_format != "verbose_json":
        raise ApiProblem(400, "timestamp_granularities need response_format verbose_json")
    try:
        options = WhisperInput(
            language=language or None,
            initial_prompt=prompt or None,
            temperature=temperature,
            word_timestamps=True if words else None,
        )
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApiProblem(422, f"invalid request: {fields}") from exc
    fmt = cast(ResponseFormat, response_format)
    return TranscriptionAsk(options, fmt, tuple(dict.fromkeys(granularities)))


def upload_extension(filename: str | None) -> str:
    """Return the stored extension of an uploaded file's name. Raise ApiProblem 400 if the
    name has none the engine reads."""
    suffix = (filename or "").rpartition(".")[2].lower() if "." in (filename or "") else ""
    extension = _EXTENSION_ALIASES.get(suffix, suffix)
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(ALLOWED_EXTENSIONS)
        raise ApiProblem(
            400, f"the file's name {filename!r} has no audio extension this server reads: {allowed}"
        )
    return extension


def transcription_body(result: Transcript, ask: TranscriptionAsk) -> str | dict[str, Any]:
    """Return the answer to ``ask`` for a finished job's transcript: a JSON object for the two
    JSON formats, text for the other three."""
    text = result["text"].strip()
    if ask.response_format == "json":
        return {"text": text}
    if ask.response_format == "text":
        return text + "\n"
    if ask.response_format == "srt":
        return subrip(result)
    if ask.response_format == "vtt":
        return webvtt(result)
    return verbose(result, text, ask.granularities)


def verbose(result: Transcript, text: str, granularities: Sequence[str]) -> dict[str, Any]:
    """Return OpenAI's verbose_json: task, language, duration, text, segments (and words)."""
    segments = result["segments"]
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": result["language"],
        # The engine's transcript does not carry the recording's length: the end of the last
        # segment is the nearest honest figure.
        "duration": max((segment["end"] for segment in segments), default=0.0),
        "text": text,
        "segments": [_segment(segment) for segment in segments],
    }
    if "word" in granularities:
        body["words"] = [
            {"word": word["word"].strip(), "start": word["start"], "end": word["end"]}
            for segment in segments
            for word in segment.get("words", [])
        ]
    return body


def _segment(segment: Any) -> dict[str, Any]:
    return {
        "id": segment["id"],
        "seek": segment.get("seek", 0),
        "start": segment["start"],
        "end": segment["end"],
        "text": segment["text"],
        "tokens": segment.get("tokens", []),
        "temperature": segment.get("temperature", 0.0),
        "avg_logprob": segment.get("avg_logprob", 0.0),
        "compression_ratio": segment.get("compression_ratio", 0.0),
        "no_speech_prob": segment.get("no_speech_prob", 0.0),
    }


def subrip(result: Transcript) -> str:
    """Return the transcript as SubRip cues, one per segment with text."""
    cues = [
        f"{number}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
        for number, (start, end, text) in enumerate(_cues(result), start=1)
    ]
    return "\n".join(cues)


def webvtt(result: Transcript) -> str:
    """Return the transcript as a WebVTT file, one cue per segment with text."""
    cues = [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n"
        for start, end, text in _cues(result)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def _cues(result: Transcript) -> list[tuple[float, float, str]]:
    return [
        (segment["start"], max(segment["end"], segment["start"]), segment["text"].strip())
        for segment in result["segments"]
        if segment["text"].strip()
    ]


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"
