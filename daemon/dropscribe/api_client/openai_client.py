"""The client of an OpenAI-compatible transcription endpoint: one request per recording.

A synchronous request has no job to poll and no idempotency key: if the daemon stops while
a request is in flight, the recording is sent again when it starts (at least once, where the
four-step protocol promises once). The request goes through the same HTTP client as the
four steps (:class:`~dropscribe.api_client.client.ApiClient`): the same errors, redaction,
metrics and key reload.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropscribe.api_client.client import ApiClient
from dropscribe.api_client.openai_protocol import (
    form_fields,
    formats_from,
    parse_answer,
    refuses_format,
)
from dropscribe.core.errors import PermanentApiError
from dropscribe.core.transcript import RemoteTranscript


@dataclass(frozen=True)
class OpenAIOptions:
    """The endpoint's path, the model and how it is named, the format asked first, the
    request's time limit in seconds, and extra form fields."""

    path: str
    model: str
    model_field: str
    response_format: str
    timeout_seconds: float
    fields: Mapping[str, str] = field(default_factory=dict)


class OpenAIClient:
    """Sends recordings to ``POST {base_url}{path}``; safe to share between worker threads."""

    def __init__(self, http: ApiClient, base_url: str, options: OpenAIOptions) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + options.path
        self._options = options
        self._lock = threading.Lock()
        # A server that refused a format once is asked for the next one from then on.
        self._format = options.response_format

    @property
    def model(self) -> str:
        """Return the model name the requests ask for."""
        return self._options.model

    def transcribe(self, recording: Path, params: Mapping[str, Any]) -> RemoteTranscript:
        """Send the recording and return its transcript. Raise the ApiError the answer
        means; a format the server refuses is asked again in the next one."""
        *first, last = formats_from(self._format)
        for response_format, after in zip(first, [*first[1:], last], strict=True):
            try:
                return self._ask(recording, params, response_format)
            except PermanentApiError as exc:
                if not refuses_format(exc):
                    raise
                with self._lock:
                    self._format = after
        return self._ask(recording, params, last)

    def _ask(
        self, recording: Path, params: Mapping[str, Any], response_format: str
    ) -> RemoteTranscript:
        opt = self._options
        fields = form_fields(params, response_format, opt.model_field, opt.model, opt.fields)
        body, content_type = self._http.post_form(self._url, fields, recording, opt.timeout_seconds)
        return parse_answer(body, content_type, response_format)
