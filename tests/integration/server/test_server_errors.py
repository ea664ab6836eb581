"""Every bad input to the embedded server, one per test: its status and its message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dropscribe.server.embedded import EmbeddedServer
from support import tiyaro_flow as flow
from support.server_doubles import PRESIGN_SECRET, TOKEN, FakeClock

SUBMIT_TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
TIMEOUT = 10.0


def assert_error(resp: requests.Response, status: int, *words: str) -> None:
    """Assert a JSON error body with this status whose message mentions every word."""
    assert resp.status_code == status, resp.text
    message = resp.json()["error"]
    assert isinstance(message, str)
    for word in words:
        assert word.lower() in message.lower(), message
    assert PRESIGN_SECRET.decode() not in resp.text
    assert "Traceback" not in resp.text


@pytest.fixture
def base(fake_server: EmbeddedServer) -> str:
    return fake_server.base_url


@pytest.fixture
def uploaded(base: str, speech_file: Path) -> str:
    """The URL of a completed upload."""
    url = flow.get_upload_url(base, TOKEN, "wav")
    flow.upload(url, speech_file)
    return url


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def post_submit(base: str, body: object, path: str = SUBMIT_TINY) -> requests.Response:
    return requests.post(base + path, json=body, headers=flow.headers(TOKEN), timeout=TIMEOUT)


def test_upload_url_without_token_returns_401(base: str) -> None:
    resp = requests.post(f"{base}/v1/input/upload-url?extension=mp3", timeout=TIMEOUT)
    assert_error(resp, 401, "missing", "bearer")
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_upload_url_with_wrong_token_returns_401(base: str) -> None:
    resp = requests.post(
        f"{base}/v1/input/upload-url?extension=mp3", headers=flow.headers("nope"), timeout=TIMEOUT
    )
    assert_error(resp, 401, "invalid bearer token")


def test_upload_url_with_unlisted_extension_returns_400(base: str) -> None:
    resp = requests.post(
        f"{base}/v1/input/upload-url?extension=exe", headers=flow.headers(TOKEN), timeout=TIMEOUT
    )
    assert_error(resp, 400, "'exe'", "not supported", "mp3")


def test_upload_url_without_extension_says_the_parameter_is_missing(base: str) -> None:
    resp = requests.post(
        f"{base}/v1/input/upload-url", headers=flow.headers(TOKEN), timeout=TIMEOUT
    )
    assert_error(resp, 400, "extension query parameter is missing", "mp3")
    assert "None" not in resp.json()["error"]


def test_upload_with_tampered_signature_returns_403(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    head, signature = url.rsplit("signature=", 1)
    forged = head + "signature=" + ("0" if signature[0] != "0" else "1") + signature[1:]
    resp = requests.put(forged, data=b"x", timeout=TIMEOUT)
    assert_error(resp, 403, "signature is invalid")


def test_upload_with_extended_expiry_returns_403(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    expires = url.split("expires=")[1].split("&")[0]
    resp = requests.put(url.replace(expires, str(int(expires) + 3600)), data=b"x", timeout=TIMEOUT)
    assert_error(resp, 403, "signature is invalid")


def test_upload_with_other_upload_id_returns_403(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    name = url.split("/uploads/")[1].split("?")[0]
    resp = requests.put(url.replace(name, "0" * 32 + ".wav"), data=b"x", timeout=TIMEOUT)
    assert_error(resp, 403, "signature is invalid")


def test_upload_with_name_not_an_upload_id_returns_403(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    name = url.split("/uploads/")[1].split("?")[0]
    resp = requests.put(url.replace(name, "server.db"), data=b"x", timeout=TIMEOUT)
    assert_error(resp, 403, "signature is invalid")


def test_upload_with_path_outside_uploads_returns_404(
    fake_server: EmbeddedServer, base: str
) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    name = url.split("/uploads/")[1].split("?")[0]
    resp = requests.put(url.replace(name, "..%2F..%2Fserver.db"), data=b"x", timeout=TIMEOUT)
    assert_error(resp, 404, "no such endpoint")
    assert (fake_server.options.data_dir / "server.db").read_bytes()[:6] == b"SQLite"


def test_upload_after_expiry_returns_403(base: str, fake_clock: FakeClock) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    fake_clock.advance(901)
    resp = requests.put(url, data=b"x", timeout=TIMEOUT)
    assert_error(resp, 403, "expired")


def test_upload_without_content_length_returns_411(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    # A generator body makes requests use chunked transfer encoding, with no Content-Length.
    resp = requests.put(url, data=iter([b"hello ", b"world"]), timeout=TIMEOUT)
    assert_error(resp, 411, "Content-Length")


def test_upload_over_limit_returns_413(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    resp = requests.put(url, data=b"x" * 4097, timeout=TIMEOUT)
    assert_error(resp, 413, "4097", "limit")


def test_upload_at_limit_returns_200(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    resp = requests.put(url, data=b"x" * 4096, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text


def test_submit_without_token_returns_401(base: str, uploaded: str) -> None:
    resp = requests.post(base + SUBMIT_TINY, json={"URL": uploaded}, timeout=TIMEOUT)
    assert_error(resp, 401, "missing")


def test_submit_unknown_model_returns_404(base: str, uploaded: str) -> None:
    path = "/v1/async/ent/tiyarofs/1/openai/whisper-huge"
    assert_error(post_submit(base, {"URL": uploaded}, path), 404, "unknown model", "whisper-huge")


def test_submit_malformed_json_returns_400(base: str) -> None:
    resp = requests.post(
        base + SUBMIT_TINY, data=b'{"URL": ', headers=flow.headers(TOKEN), timeout=TIMEOUT
    )
    assert_error(resp, 400, "malformed JSON")


def test_submit_json_array_returns_422(base: str) -> None:
    assert_error(post_submit(base, ["URL"]), 422, "invalid request")


def test_submit_without_url_returns_422_naming_it(base: str) -> None:
    assert_error(post_submit(base, {"input": {}}), 422, "URL", "required")


def test_submit_unknown_input_parameter_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {"beam_sizes": 5}, "URL": uploaded}
    assert_error(post_submit(base, body), 422, "input.beam_sizes", "not permitted")


def test_submit_unknown_top_level_field_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {}, "URL": uploaded, "callback": "http://example.invalid"}
    assert_error(post_submit(base, body), 422, "callback")


def test_submit_string_beam_size_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {"beam_size": "5"}, "URL": uploaded}
    assert_error(post_submit(base, body), 422, "input.beam_size", "integer")


def test_submit_string_boolean_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {"condition_on_previous_text": "yes"}, "URL": uploaded}
    assert_error(post_submit(base, body), 422, "input.condition_on_previous_text")


def test_submit_unparsable_suppress_tokens_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {"suppress_tokens": "-1,x"}, "URL": uploaded}
    assert_error(post_submit(base, body), 422, "input.suppress_tokens")


def test_submit_unknown_task_returns_422_naming_it(base: str, uploaded: str) -> None:
    body = {"input": {"task": "summarize"}, "URL": uploaded}
    assert_error(post_submit(base, body), 422, "input.task")


def test_submit_bad_service_tier_returns_422_naming_it(base: str, uploaded: str) -> None:
    path = SUBMIT_TINY + "?serviceTier=turbo"
    assert_error(post_submit(base, {"URL": uploaded}, path), 422, "serviceTier")


def test_submit_foreign_url_returns_400(base: str) -> None:
    body = {"URL": "https://bucket.s3.amazonaws.com/audio.mp3?X-Amz-Signature=abc"}
    assert_error(post_submit(base, body), 400, "not issued by this server")


def test_submit_tampered_url_returns_400(base: str, uploaded: str) -> None:
    forged = uploaded.replace("expires=", "expires=1")
    assert_error(post_submit(base, {"URL": forged}), 400, "not issued by this server")


def test_submit_url_never_uploaded_returns_400(base: str) -> None:
    url = flow.get_upload_url(base, TOKEN, "wav")
    assert_error(post_submit(base, {"URL": url}), 400, "nothing has been uploaded")


def test_submit_reused_idempotency_key_other_request_returns_422(base: str, uploaded: str) -> None:
    first = requests.post(
        base + SUBMIT_TINY,
        json={"URL": uploaded},
        headers={**flow.headers(TOKEN), "Idempotency-Key": "k-1"},
        timeout=TIMEOUT,
    )
    assert first.status_code == 202, first.text
    second = requests.post(
        base + SUBMIT_TINY,
        json={"URL": uploaded, "input": {"beam_size": 1}},
        headers={**flow.headers(TOKEN), "Idempotency-Key": "k-1"},
        timeout=TIMEOUT,
    )
    assert_error(second, 422, "Idempotency-Key", "different request")


def test_poll_unknown_job_returns_404(base: str) -> None:
    resp = requests.get(
        f"{base}/v1/async/requests/no-such-job", headers=flow.headers(TOKEN), timeout=TIMEOUT
    )
    assert_error(resp, 404, "no job", "no-such-job")


def test_poll_without_token_returns_401(base: str, uploaded: str) -> None:
    poll_url = flow.submit(base, TOKEN, uploaded)["urls"]["GET"]
    assert_error(requests.get(poll_url, timeout=TIMEOUT), 401, "missing")


def test_cancel_unknown_job_returns_404(base: str) -> None:
    resp = requests.delete(
        f"{base}/v1/async/requests/no-such-job", headers=flow.headers(TOKEN), timeout=TIMEOUT
    )
    assert_error(resp, 404, "no job")


def test_cancel_finished_job_returns_409(base: str, uploaded: str) -> None:
    poll_url = flow.submit(base, TOKEN, uploaded)["urls"]["GET"]
    assert flow.wait_until_final(poll_url, TOKEN)["status"] == "success"
    resp = requests.delete(poll_url, headers=flow.headers(TOKEN), timeout=TIMEOUT)
    assert_error(resp, 409, "already finished", "success")


def test_unknown_endpoint_returns_404_json(base: str) -> None:
    resp = requests.get(f"{base}/v2/nothing", headers=flow.headers(TOKEN), timeout=TIMEOUT)
    assert_error(resp, 404, "no such endpoint")


def test_unknown_endpoint_without_token_returns_401(base: str) -> None:
    assert_error(requests.get(f"{base}/v2/nothing", timeout=TIMEOUT), 401, "bearer")


def test_wrong_method_returns_405_json(base: str) -> None:
    resp = requests.get(f"{base}/v1/input/upload-url", headers=flow.headers(TOKEN), timeout=TIMEOUT)
    assert_error(resp, 405, "method GET is not allowed")
