"""The OpenAI-compatible backend (``api.protocol: openai``): where the transcription endpoint
is, what its form says, and the server's limits. Every OpenAI-style server (OpenAI's own,
Groq, speaches, LocalAI, open-asr-server, faster-whisper-server, vLLM, ``dropscribe serve``)
answers ``POST /v1/audio/transcriptions``; they differ in the model name, in a form field or
two and in the formats they answer, which is what these keys set."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dropscribe.config.schema.section import PositiveSeconds, Section

#: OpenAI's own upload limit, in bytes ("25 MB"): a recording over it is sent in pieces.
OPENAI_MAX_UPLOAD_BYTES = 25_000_000

#: Smallest upload limit: a piece is at least 20 s of 16 kHz 16-bit mono WAV, and up to a
#: lookahead longer (676 kB).
MIN_UPLOAD_BYTES = 700_000

#: Form fields the backend writes itself; ``fields`` may not set them.
RESERVED_FIELDS = ("file", "response_format", "language", "prompt", "temperature",
                   "timestamp_granularities[]")  # fmt: skip

FormName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\[\]-]+$")]


class OpenAI(Section):
    """How to call an OpenAI-compatible transcription endpoint."""

    path: str = "/v1/audio/transcriptions"
    model: Annotated[str, Field(min_length=1, max_length=200)] = "whisper-1"
    #: The form field naming the model: ``model`` for OpenAI, ``model_name`` for
    #: faster-whisper-server 0.0.3.
    model_field: FormName = "model"
    #: The format asked for first; a server that refuses it is asked for json, then text.
    response_format: Literal["verbose_json", "json", "text"] = "verbose_json"
    #: The largest upload the server takes; a longer recording is cut at pauses into pieces
    #: under it, each sent on its own, and the transcripts joined.
    max_upload_bytes: Annotated[int, Field(ge=MIN_UPLOAD_BYTES)] = OPENAI_MAX_UPLOAD_BYTES
    #: How long one request may take: the server answers only once it has transcribed.
    request_timeout_seconds: PositiveSeconds = 900.0
    #: Extra form fields sent as they are (e.g. a server's own options).
    fields: dict[FormName, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /v1/audio/transcriptions")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & set(RESERVED_FIELDS))
        if taken:
            raise ValueError(f"{taken} are written by the backend itself; set whisper.* instead")
        return value
