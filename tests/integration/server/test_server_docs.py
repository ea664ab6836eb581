"""The API documentation: /openapi.json, /docs and /redoc, served without a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from dropscribe.server.apidocs import RETENTION
from dropscribe.server.embedded import EmbeddedServer

TIMEOUT = 10.0
README = Path(__file__).resolve().parents[3] / "README.md"

#: Every endpoint of the protocol, its extensions and OpenAI's transcription endpoint,
#: as (method, path) in the description.
ENDPOINTS = {
    ("post", "/v1/input/upload-url"),
    ("put", "/v1/input/uploads/{name}"),
    ("post", "/v1/async/ent/tiyarofs/1/openai/{model_name}"),
    ("get", "/v1/async/requests/{job_id}"),
    ("delete", "/v1/async/requests/{job_id}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("post", "/v1/audio/transcriptions"),
}


@pytest.fixture
def openapi(fake_server: EmbeddedServer) -> dict[str, Any]:
    answer = requests.get(f"{fake_server.base_url}/openapi.json", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_openapi_lists_every_endpoint_with_a_description(openapi: dict[str, Any]) -> None:
    described = {
        (method, path): operation
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
    }
    assert set(described) == ENDPOINTS
    for operation in described.values():
        assert operation["summary"] and operation["description"]


def test_openapi_describes_every_extension(openapi: dict[str, Any]) -> None:
    text = openapi["info"]["description"]
    for extension in ("Idempotency-Key", "DELETE", "?wait=", "/healthz", "/metrics"):
        assert extension in text
    poll = parameters(openapi, "/v1/async/requests/{job_id}", "get")
    assert "30" in poll["wait"]["description"]
    assert "idempotency-key" in parameters(
        openapi, "/v1/async/ent/tiyarofs/1/openai/{model_name}", "post"
    )
    assert "mp3" in parameters(openapi, "/v1/input/upload-url", "post")["extension"]["description"]


def parameters(openapi: dict[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in openapi["paths"][path][method]["parameters"]}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_is_served_without_a_token(fake_server: EmbeddedServer, page: str) -> None:
    answer = requests.get(f"{fake_server.base_url}{page}", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert "/openapi.json" in answer.text


def test_docs_leave_protocol_endpoints_behind_the_token(fake_server: EmbeddedServer) -> None:
    answer = requests.post(
        f"{fake_server.base_url}/v1/input/upload-url?extension=mp3", timeout=TIMEOUT
    )
    assert answer.status_code == 401


def test_openapi_and_readme_state_the_same_retention(openapi: dict[str, Any]) -> None:
    readme = " ".join(README.read_text(encoding="utf-8").split())
    described = " ".join(openapi["info"]["description"].split())

    assert f"**Retention:** {RETENTION}" in described
    assert f"Retention of `serve`: {RETENTION}" in readme
