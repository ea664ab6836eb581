"""Who hears of finished, failed and refused recordings: the notify section and its
webhooks. Their secrets are read by :mod:`dropscribe.config.credentials`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from dropscribe.config.schema.section import FilePath, PositiveSeconds, Section, ordered, refuse
from dropscribe.core.announcements import Topic


class Webhook(Section):
    """One receiver of signed POSTs (Standard Webhooks)."""

    url: str
    events: tuple[Topic, ...] = (Topic.JOB_PUBLISHED, Topic.JOB_FAILED, Topic.FILE_REJECTED)
    secret_env: str | None = None
    secret_file: FilePath | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s):// URL with a host")
        return value

    @model_validator(mode="after")
    def _one_secret_source(self) -> Webhook:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError(
                "set exactly one of secret_env and secret_file (a whsec_<base64> secret)"
            )
        return self


class Notify(Section):
    """Who hears of finished, failed and refused recordings, and how hard we try to tell them."""

    webhooks: tuple[Webhook, ...] = ()
    apprise: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    # A delivery is retried with growing, jittered delays until it is this old (hours).
    give_up_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 24.0
    first_retry_seconds: PositiveSeconds = 5.0
    max_retry_seconds: PositiveSeconds = 3600.0
    # How long one delivery attempt may take in all (connect, send, the answer's status line
    # and headers) before it counts as failed (seconds).
    timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _retry_in_order(self) -> Notify:
        refuse(ordered(self, (("first_retry_seconds", "max_retry_seconds"),)))
        return self
