"""The transcription service: a remote one reached over HTTP (``api``), or the in-process
server (``embedded``) when ``api.base_url`` is ``embedded``."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from dropscribe.config.schema.openai import OpenAI
from dropscribe.config.schema.section import FilePath, PositiveSeconds, Section, ordered, refuse

EMBEDDED = "embedded"

#: The two protocols: dropscribe's own four async steps, and OpenAI's one request.
Protocol = Literal["tiyaro", "openai"]

#: Keys of ``api`` that only the four-step protocol reads.
TIYARO_KEYS = ("async_path", "service_tier")


def protocol_mix(protocol: str, fields_set: set[str], where: str = "api") -> list[str]:
    """Return why a section setting ``fields_set`` mixes the two protocols (empty if not)."""
    if protocol == "openai":
        return [
            f"{where}.{key} belongs to protocol tiyaro; with protocol openai set "
            f"{where}.openai.model instead"
            for key in TIYARO_KEYS
            if key in fields_set
        ]
    if "openai" in fields_set:
        return [f"{where}.openai needs {where}.protocol: openai"]
    return []


class Api(Section):
    """Where the transcription service is and how to authenticate to it."""

    base_url: str = EMBEDDED
    protocol: Protocol = "tiyaro"
    async_path: str = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
    service_tier: Literal["cpuflex", "gpuflex"] = "cpuflex"
    api_key_env: str = "TIYARO_API_KEY"
    api_key_file: FilePath | None = None
    connect_timeout_seconds: PositiveSeconds = 5.0
    read_timeout_seconds: PositiveSeconds = 30.0
    call_deadline_seconds: PositiveSeconds = 120.0
    # Plain http:// carries the key, the presigned URLs and the audio in cleartext; it is
    # refused for anything but this machine unless set to true (e.g. on a trusted cable).
    allow_plain_http: bool = False
    openai: OpenAI = OpenAI()

    @model_validator(mode="after")
    def _one_protocol(self) -> Api:
        # What differs from its default counts as set, so that a file naming every key
        # (config.example.yaml) is no mix.
        changed = {k for k in (*TIYARO_KEYS, "openai") if getattr(self, k) != _DEFAULTS[k]}
        refuse(protocol_mix(self.protocol, changed))
        return self

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if value == EMBEDDED:
            return value
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be 'embedded' or an http(s):// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _cleartext_stays_local(self) -> Api:
        if (
            self.base_url.startswith("http://")
            and not self.allow_plain_http
            and not is_loopback_url(self.base_url)
        ):
            raise ValueError(
                "base_url: plain http:// to another machine sends the API key and the audio "
                "in cleartext; use https:// (serve --tls-cert, or a TLS reverse proxy) or set "
                "api.allow_plain_http: true"
            )
        return self

    @model_validator(mode="after")
    def _timeouts_fit_the_deadline(self) -> Api:
        pairs = (
            ("connect_timeout_seconds", "call_deadline_seconds"),
            ("read_timeout_seconds", "call_deadline_seconds"),
        )
        refuse(ordered(self, pairs))
        return self

    @field_validator("async_path")
    @classmethod
    def _async_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(
                "must start with '/', e.g. /v1/async/ent/tiyarofs/1/openai/whisper-tiny"
            )
        return value


_DEFAULTS = {
    name: field.default for name, field in Api.model_fields.items() if name in TIYARO_KEYS
} | {"openai": OpenAI()}


def is_loopback_url(url: str) -> bool:
    """Return True when the URL's host is this machine: localhost or a loopback address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Embedded(Section):
    """The in-process server used when ``api.base_url`` is ``embedded``."""

    model: Annotated[str, Field(min_length=1)] = "bundled"
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    # Longer recordings are refused (failed/, with the reason) before they are decoded, and
    # while decoding once they turn out to be: a guard against absurd inputs (a tiny file can
    # claim days of audio), not a memory budget, since the engine transcribes a recording a
    # few minutes at a time in the same memory whatever its length (see
    # engine.whisper.DEFAULT_MAX_AUDIO_HOURS); same default and ceiling as `serve`.
    max_audio_hours: Annotated[float, Field(gt=0, le=168, allow_inf_nan=False)] = 26.0
