"""The Tiyaro sample's four requests, written with ``requests`` as the seed writes them.

Tests drive the embedded server through these so the protocol is exercised as a real client
uses it, over real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

#: The model path the seed's sample uses.
WHISPER_LARGE_PATH = "/v1/async/ent/tiyarofs/1/openai/whisper-large?serviceTier=gpuflex"

#: Seconds between polls; short, because the local engine finishes in seconds.
POLL_INTERVAL_SECONDS = 0.1

#: Seconds any single HTTP request may take.
REQUEST_TIMEOUT_SECONDS = 30.0

FINAL_STATUSES = frozenset({"success", "failed", "cancelled"})


def whisper_input() -> dict[str, Any]:
    """Return the seed's whisper_input() parameters, verbatim."""
    return {
        "no_speech_threshold": 0.6,
        "patience": 1,
        "suppress_tokens": "-1",
        "compression_ratio_threshold": 2.4,
        "language": "en",
        "temperature_increment_on_fallback": 0.2,
        "length_penalty": None,
        "logprob_threshold": -1,
        "condition_on_previous_text": True,
        "initial_prompt": None,
        "task": "transcribe",
        "temperature": 0,
        "beam_size": 5,
        "best_of": 5,
    }


def headers(token: str) -> dict[str, str]:
    """Return the sample's request headers for a bearer token."""
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def get_upload_url(base_url: str, token: str, extension: str) -> str:
    """Step 1: return a presigned PUT URL for a file with this extension."""
    resp = requests.post(
        f"{base_url}/v1/input/upload-url?extension={extension}",
        json={},
        headers=headers(token),
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert resp.status_code == 201, resp.text
    url: str = resp.json()["uploadUrl"]["PUT"]
    return url


def upload(upload_url: str, audio: Path) -> None:
    """Step 2: PUT the file to the presigned URL."""
    with audio.open("rb") as body:
        resp = requests.put(upload_url, data=body, timeout=REQUEST_TIMEOUT_SECONDS)
    assert resp.status_code == 200, resp.text


def submit(
    base_url: str,
    token: str,
    upload_url: str,
    path: str = WHISPER_LARGE_PATH,
    changes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Step 3: submit the async request, the sample's parameters with ``changes`` over them;
    return the ``response`` object of the 202."""
    payload = {"input": {**whisper_input(), **(changes or {})}, "URL": upload_url}
    resp = requests.post(
        base_url + path, headers=headers(token), json=payload, timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert resp.status_code == 202, resp.text
    response: dict[str, Any] = resp.json()["response"]
    return response


def wait_until_final(poll_url: str, token: str, timeout: float = 120.0) -> dict[str, Any]:
    """Step 4: poll until the job succeeds, fails or is cancelled; return the last poll body."""
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(poll_url, headers=headers(token), timeout=REQUEST_TIMEOUT_SECONDS)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in FINAL_STATUSES:
            return body
        assert time.monotonic() < deadline, f"job still {body['status']} after {timeout}s"
        time.sleep(POLL_INTERVAL_SECONDS)


def transcribe(
    base_url: str, token: str, audio: Path, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run all four steps for one file (the sample's parameters with ``changes`` over them);
    return the final poll body."""
    upload_url = get_upload_url(base_url, token, audio.suffix.lstrip("."))
    upload(upload_url, audio)
    response = submit(base_url, token, upload_url, changes=changes)
    return wait_until_final(response["urls"]["GET"], token)
