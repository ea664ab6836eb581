"""The Async API seen from the daemon: the HTTP client and the protocol it speaks.

:mod:`~dropscribe.api_client.client` makes the requests (the only module that imports
``requests``); :mod:`~dropscribe.api_client.protocol` parses answers and maps HTTP statuses onto
:mod:`dropscribe.core.errors`, without I/O. Callers import the public names from here.
"""

from dropscribe.api_client.client import ApiClient, Timeouts
from dropscribe.api_client.openai_client import OpenAIClient, OpenAIOptions
from dropscribe.api_client.protocol import (
    PollProgress,
    PollResult,
    RemoteStatus,
    Submission,
    error_for_status,
    parse_json_object,
    parse_poll,
    parse_retry_after,
    parse_status,
    parse_submission,
    parse_upload_url,
    same_origin,
    submit_url,
)
from dropscribe.api_client.rebased import RebasedClient, rebase

__all__ = [
    "ApiClient",
    "OpenAIClient",
    "OpenAIOptions",
    "PollProgress",
    "PollResult",
    "RebasedClient",
    "RemoteStatus",
    "Submission",
    "Timeouts",
    "error_for_status",
    "parse_json_object",
    "parse_poll",
    "parse_retry_after",
    "parse_status",
    "parse_submission",
    "parse_upload_url",
    "rebase",
    "same_origin",
    "submit_url",
]
