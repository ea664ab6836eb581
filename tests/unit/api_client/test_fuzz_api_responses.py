"""Fuzzing the API client with Hypothesis: whatever a server answers, each ApiClient method
returns a valid value or raises one of dropscribe's errors, never anything else.

A tiny loopback server answers every request with the status, headers and body the example
chose: JSON shaped around the protocol's field names (nested, mistyped, hostile URLs), raw
bytes, odd statuses, garbage Retry-After values, a Content-Length that lies. The run is
derandomized (reproducible) and bounded by ``max_examples``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dropscribe.api_client import ApiClient, PollResult, RemoteStatus, Submission, Timeouts
from dropscribe.core.errors import DropscribeError

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = "fuzz-api-key-0a1b2c3d"
METHODS = ("get_upload_url", "upload", "submit", "poll", "cancel")
FIELDS = [
    "response",
    "uploadUrl",
    "uplaodUrl",
    "uploadURL",
    "PUT",
    "put",
    "id",
    "requestId",
    "urls",
    "GET",
    "get",
    "status",
    "result",
    "error",
    "message",
    "reason",
    "detail",
    "model",
    "acceptedAt",
    "startedAt",
    "completedAt",
    "text",
    "segments",
]
WORDS = [
    "success",
    "SUCCESS",
    "failed",
    "cancelled",
    "processing",
    "accepted",
    "Teleporting",
    "",
    "http://127.0.0.1:1/x",
    "/v1/async/requests/abc",
    "http://[::1",
    "http://[",
    "//evil.example/x?signature=abc",
    "https://user:pass@evil.example:99999/x",
    "javascript:alert(1)",
    '{"text": "nested json"}',
    "\x00",
    "\ud800",
]
RETRY_AFTER = [
    "1",
    "0",
    "-5",
    "1e400",
    "nan",
    "inf",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Mon, 99 Foo 99999 99:99:99 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sat, 01 Jan 0001 00:00:00 GMT",
    "   ",
]


@dataclass
class Answer:
    """What the server says next."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"{}"
    length_lie: int = 0  # bytes added to the announced Content-Length


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)
        answer = self.server.answer
        self.close_connection = True
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body) + answer.length_lie))
        self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up, which it may
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answer = Answer()


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def client(server: _Server) -> Iterator[ApiClient]:
    host, port = server.server_address[:2]
    timeouts = Timeouts(connect_seconds=1, read_seconds=1, call_deadline_seconds=2)
    made = ApiClient(f"http://{host!s}:{port}", "/v1/async/x", "gpuflex", KEY, timeouts)
    yield made
    made.close()


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.sampled_from(WORDS),
        st.text(max_size=10),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=5)
        ),
        max_leaves=12,
    )


def bodies() -> st.SearchStrategy[bytes]:
    as_json = json_values().map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
    return st.one_of(as_json, st.binary(max_size=64))


def header_values() -> st.SearchStrategy[str]:
    printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
    return st.sampled_from(RETRY_AFTER) | printable


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    status = draw(
        st.sampled_from([200, 201, 202, 204, 302, 401, 403, 429, 503]) | st.integers(200, 599)
    )
    headers: list[tuple[str, str]] = []
    if draw(st.booleans()):
        headers.append(("Retry-After", draw(header_values())))
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(st.sampled_from(["application/json", "text/html"]))))
    lie = draw(st.sampled_from([0, 0, 0, 5]))
    return Answer(status, tuple(headers), draw(bodies()), lie)


def call(client: ApiClient, method: str, recording: Path, base: str) -> object:
    poll_url = f"{base}/v1/async/requests/abc"
    if method == "get_upload_url":
        return client.get_upload_url("wav")
    if method == "upload":
        client.upload(f"{base}/upload/abc.wav?signature=s", recording)
        return None
    if method == "submit":
        return client.submit(f"{base}/upload/abc.wav", {"language": "en"}, "key-1")
    if method == "poll":
        return client.poll(poll_url)
    client.cancel(poll_url)
    return None


def check_value(method: str, value: object) -> None:
    """A method that did not raise returned a value of its promised type."""
    if method == "get_upload_url":
        assert isinstance(value, str) and value
    elif method == "submit":
        assert isinstance(value, Submission) and value.request_id and value.poll_url
    elif method == "poll":
        assert isinstance(value, PollResult) and isinstance(value.status, RemoteStatus)
        assert value.status is not RemoteStatus.SUCCESS or isinstance(value.result, dict)
    else:
        assert value is None


@FUZZ
@example(method="get_upload_url", answer=Answer(body=b'{"uploadUrl": {"PUT": "http://[::1"}}'))
@example(method="submit", answer=Answer(body=b'{"id": "a", "urls": {"GET": "http://["}}'))
@example(method="poll", answer=Answer(headers=(("Retry-After", "1e400"),), status=503))
@given(method=st.sampled_from(METHODS), answer=answers())
def test_api_client_any_response_gives_a_value_or_a_dropscribe_error(
    server: _Server, client: ApiClient, tmp_path: Path, method: str, answer: Answer
) -> None:
    recording = tmp_path / "take.wav"
    recording.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + bytes(256))
    host, port = server.server_address[:2]
    server.answer = answer
    try:
        value = call(client, method, recording, f"http://{host!s}:{port}")
    except DropscribeError as exc:
        assert KEY not in str(exc)
        return
    check_value(method, value)
