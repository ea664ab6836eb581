"""A client whose stored URLs are pointed at the embedded server's current address.

The embedded server listens on a new ephemeral port at every start, while the state file keeps
the upload and poll URLs it handed out before; their paths and signatures stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dropscribe.api_client.client import ApiClient
from dropscribe.api_client.protocol import PollResult, Submission


def rebase(url: str, base_url: str) -> str:
    """Return ``url`` with its scheme and authority replaced by ``base_url``'s."""
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end >= 0 else -1
    return base_url.rstrip("/") + url[path_start:] if path_start >= 0 else url


class RebasedClient:
    """An ApiClient whose upload, submit and poll URLs go to ``base_url``."""

    def __init__(self, client: ApiClient, base_url: str) -> None:
        self._client = client
        self._base = base_url

    def get_upload_url(self, extension: str) -> str:
        """See ApiClient.get_upload_url."""
        return self._client.get_upload_url(extension)

    def upload(self, url: str, path: Path) -> None:
        """See ApiClient.upload."""
        self._client.upload(rebase(url, self._base), path)

    def submit(
        self, upload_url: str, params: Mapping[str, Any], idempotency_key: str
    ) -> Submission:
        """See ApiClient.submit."""
        return self._client.submit(rebase(upload_url, self._base), params, idempotency_key)

    def poll(self, poll_url: str) -> PollResult:
        """See ApiClient.poll."""
        return self._client.poll(rebase(poll_url, self._base))
