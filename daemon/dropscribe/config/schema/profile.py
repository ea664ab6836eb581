"""A folder profile's section: the keys of the top level a profile may set for the recordings
under one folder of the inbox, which profile a recording runs with, and the model path of a
profile's own model. How a profile's keys combine with the top level's is
:func:`dropscribe.config.schema.settings.effective`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, field_validator

from dropscribe.config.schema.diarization import DiarizeKeys
from dropscribe.config.schema.openai import OpenAI
from dropscribe.config.schema.receivers import Webhook
from dropscribe.config.schema.section import Section
from dropscribe.config.schema.service import Api, Protocol
from dropscribe.config.schema.transcription import Output, Whisper


class ProfileApi(Section):
    """The keys of ``api`` a profile may set."""

    async_path: str | None = None
    service_tier: Literal["cpuflex", "gpuflex"] | None = None
    protocol: Protocol | None = None
    openai: OpenAI | None = None

    @field_validator("async_path")
    @classmethod
    def _async_path(cls, value: str | None) -> str | None:
        return None if value is None else Api._async_path(value)


class ProfileEmbedded(Section):
    """The keys of ``embedded`` a profile may set: the model its recordings are transcribed
    with (the embedded server serves it on the profile's own model path)."""

    model: Annotated[str, Field(min_length=1)] | None = None


#: The model path (the last part of ``api.async_path``) of a profile's own embedded model is
#: this prefix and the profile's name.
PROFILE_ROUTE_PREFIX = "profile-"
PROFILE_ASYNC_PATH_BASE = "/v1/async/ent/tiyarofs/1/openai/"


def profile_route(name: str) -> str:
    """Return the model path the embedded server serves a profile's own model on."""
    return PROFILE_ROUTE_PREFIX + name


class ProfileNotify(Section):
    """The receivers a profile adds to the top level's, for its recordings."""

    webhooks: tuple[Webhook, ...] = ()
    apprise: tuple[Annotated[str, Field(min_length=1)], ...] = ()


PROFILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Profile(Section):
    """Settings for the recordings under one folder of the inbox, key by key over the top
    level's: only the keys a profile sets count (``model_fields_set`` of each section)."""

    name: Annotated[str, Field(pattern=PROFILE_NAME)]
    folder: str
    whisper: Whisper = Whisper()
    api: ProfileApi = ProfileApi()
    output: Output = Output()
    notify: ProfileNotify = ProfileNotify()
    embedded: ProfileEmbedded = ProfileEmbedded()
    diarize: DiarizeKeys = DiarizeKeys()

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return profile_folder(value)


def profile_folder(value: str) -> str:
    """Return a profile's folder in its one spelling (``a/b``). Raise ValueError if it is not
    a folder inside the inbox."""
    path = PurePosixPath(value.strip())
    if path.is_absolute():
        raise ValueError("must be relative to the inbox (e.g. de, or team/de), not absolute")
    if ".." in path.parts:
        raise ValueError("must stay inside the inbox ('..' leads outside it)")
    if not path.parts:
        raise ValueError("must name a folder under the inbox (the inbox itself is the top level)")
    return path.as_posix()


def profile_for(profiles: Sequence[Profile], source: str) -> Profile | None:
    """Given the profiles and a recording's path relative to the inbox, return the profile
    whose folder holds it (the longest such folder), or None for the top level."""
    parts = PurePosixPath(source).parts[:-1]
    best: Profile | None = None
    for profile in profiles:
        folder = PurePosixPath(profile.folder).parts
        if parts[: len(folder)] == folder and (
            best is None or len(folder) > len(PurePosixPath(best.folder).parts)
        ):
            best = profile
    return best
