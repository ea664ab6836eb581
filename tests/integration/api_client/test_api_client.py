"""The API client against the fault server over real HTTP on loopback: every documented shape
quirk, every error mapping, deadlines, the presigned PUT's hygiene, and secrets in messages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from dropscribe.api_client import ApiClient, RemoteStatus, Timeouts
from dropscribe.config import Api
from dropscribe.core.errors import (
    ApiError,
    AuthError,
    PermanentApiError,
    TransientApiError,
    UploadUrlExpired,
)
from support.fault_server import Fault, FaultServer, Style, transcript_for

TOKEN = "canary-api-key-5f1e9d"
PRESIGN_SECRET = "canary-presign-secret-77"
PARAMS = {"language": "en", "task": "transcribe"}
ClientFactory = Callable[..., ApiClient]


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer(token=TOKEN, presign_secret=PRESIGN_SECRET) as server:
        yield server


def timeouts_of(**overrides: float) -> Timeouts:
    """Return the settings' default timeouts with ``overrides``."""
    api = Api()
    limits = {
        "connect_seconds": api.connect_timeout_seconds,
        "read_seconds": api.read_timeout_seconds,
        "call_deadline_seconds": api.call_deadline_seconds,
    }
    return Timeouts(**{**limits, **overrides})


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    made: list[ApiClient] = []

    def make(server: FaultServer, key: str = TOKEN, **timeouts: float) -> ApiClient:
        client = ApiClient(
            server.base_url, server.async_path, "gpuflex", key, timeouts_of(**timeouts)
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(srv: FaultServer, make_client: ClientFactory) -> ApiClient:
    return make_client(srv)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp3"
    path.write_bytes(b"ID3 not really audio " * 500)
    return path


def uploaded(client: ApiClient, recording: Path) -> str:
    url = client.get_upload_url("mp3")
    client.upload(url, recording)
    return url


# -- the happy path in every documented shape -----------------------------------------------

STYLES = {
    "documented": Style(),
    "typo_top_level": Style(upload_key="uplaodUrl", envelope=False),
    "typo_enveloped_200": Style(upload_key="uplaodUrl", documented_codes=False),
    "top_level_200": Style(envelope=False, documented_codes=False),
}


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
def test_client_four_steps_each_response_style_returns_transcript(
    srv: FaultServer, client: ApiClient, recording: Path, style: Style
) -> None:
    srv.style = style
    srv.polls_before_success = 1
    submission = client.submit(uploaded(client, recording), PARAMS, "key-1")
    first, second = client.poll(submission.poll_url), client.poll(submission.poll_url)
    assert submission.status is RemoteStatus.ACCEPTED
    assert first.status is RemoteStatus.PROCESSING
    assert second.status is RemoteStatus.SUCCESS
    assert second.result == transcript_for(next(iter(srv.submissions_by_sha256())))


def test_submit_same_idempotency_key_returns_same_job(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    url = uploaded(client, recording)
    first = client.submit(url, PARAMS, "same-key")
    second = client.submit(url, PARAMS, "same-key")
    assert first.request_id == second.request_id
    assert srv.submissions_total() == 1


def test_submit_sends_service_tier_input_and_idempotency_key(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    client.submit(uploaded(client, recording), PARAMS, "k-42")
    (request,) = srv.requests("submit")
    assert request.query == "serviceTier=gpuflex"
    assert request.header("Idempotency-Key") == "k-42"
    assert request.header("Authorization") == f"Bearer {TOKEN}"


def test_cancel_then_poll_reports_cancelled(client: ApiClient, recording: Path) -> None:
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    client.cancel(submission.poll_url)
    assert client.poll(submission.poll_url).status is RemoteStatus.CANCELLED


def test_poll_unknown_status_returns_unknown_with_raw_status(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    srv.plan("poll", [Fault.unknown_status("Teleporting")])
    result = client.poll(submission.poll_url)
    assert (result.status, result.raw_status) == (RemoteStatus.UNKNOWN, "Teleporting")


def test_poll_job_failed_returns_failed_result_not_error(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    srv.plan("poll", [Fault.job_failed("decoder exploded")])
    result = client.poll(submission.poll_url)
    assert (result.status, result.error) == (RemoteStatus.FAILED, "decoder exploded")


# -- error mapping -----------------------------------------------------------------------------

STATUS_CLASSES = [
    (408, TransientApiError),
    (429, TransientApiError),
    (500, TransientApiError),
    (502, TransientApiError),
    (503, TransientApiError),
    (400, PermanentApiError),
    (404, PermanentApiError),
    (422, PermanentApiError),
    (401, AuthError),
    (403, AuthError),
]


@pytest.mark.parametrize(("code", "kind"), STATUS_CLASSES)
def test_get_upload_url_http_status_raises_mapped_error(
    srv: FaultServer, client: ApiClient, code: int, kind: type[ApiError]
) -> None:
    srv.plan("upload_url", [Fault.status(code)])
    with pytest.raises(kind) as caught:
        client.get_upload_url("mp3")
    assert type(caught.value) is kind
    assert caught.value.status == code


@pytest.mark.parametrize(("code", "kind"), [(503, TransientApiError), (422, PermanentApiError)])
def test_submit_http_status_raises_mapped_error(
    srv: FaultServer, client: ApiClient, recording: Path, code: int, kind: type[ApiError]
) -> None:
    url = uploaded(client, recording)
    srv.plan("submit", [Fault.status(code)])
    with pytest.raises(kind):
        client.submit(url, PARAMS, "k")
    assert srv.submissions_total() == 0


def test_poll_429_retry_after_seconds_sets_retry_after(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    srv.plan("poll", [Fault.status(429, headers={"Retry-After": "17"})])
    with pytest.raises(TransientApiError) as caught:
        client.poll(submission.poll_url)
    assert caught.value.retry_after == 17.0


def test_poll_429_retry_after_http_date_sets_retry_after(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    srv.plan("poll", [Fault.status(429, headers={"Retry-After": when})])
    with pytest.raises(TransientApiError) as caught:
        client.poll(submission.poll_url)
    assert caught.value.retry_after is not None
    assert 115.0 <= caught.value.retry_after <= 120.0


@pytest.mark.parametrize(
    "fault",
    [Fault.reset(), Fault.truncated(), Fault.malformed(), Fault.missing_field()],
    ids=["reset", "truncated", "malformed", "missing_field"],
)
@pytest.mark.parametrize("step", ["upload_url", "submit", "poll"])
def test_call_broken_answer_raises_transient(
    srv: FaultServer, client: ApiClient, recording: Path, step: str, fault: Fault
) -> None:
    calls: dict[str, Callable[[], object]] = {}
    if step == "upload_url":
        calls[step] = lambda: client.get_upload_url("mp3")
    else:
        url = uploaded(client, recording)
        submission = client.submit(url, PARAMS, "k")
        calls["submit"] = lambda: client.submit(url, PARAMS, "other-key")
        calls["poll"] = lambda: client.poll(submission.poll_url)
    srv.plan(step, [fault])
    with pytest.raises(TransientApiError):
        calls[step]()
    assert srv.pending_faults(step) == 0


def test_get_upload_url_connection_refused_raises_transient(make_client: ClientFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ApiClient(f"http://127.0.0.1:{port}", "/v1/async/m", "gpuflex", TOKEN, timeouts_of())
    try:
        with pytest.raises(TransientApiError):
            client.get_upload_url("mp3")
    finally:
        client.close()


def test_revoked_key_raises_auth_error_until_restored(srv: FaultServer, client: ApiClient) -> None:
    srv.revoked = True
    with pytest.raises(AuthError):
        client.get_upload_url("mp3")
    srv.revoked = False
    assert client.get_upload_url("mp3").startswith(srv.base_url)


def test_submit_redirect_is_not_followed(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    url = uploaded(client, recording)
    srv.plan("submit", [Fault.status(302, headers={"Location": f"{srv.base_url}/elsewhere"})])
    with pytest.raises(PermanentApiError):
        client.submit(url, PARAMS, "k")
    assert srv.requests("other") == []


# -- deadlines ---------------------------------------------------------------------------------


def test_poll_trickled_body_cut_off_at_call_deadline(
    srv: FaultServer, make_client: ClientFactory, recording: Path
) -> None:
    client = make_client(srv, read_seconds=5.0, call_deadline_seconds=1.0)
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    srv.plan("poll", [Fault.trickle(interval_seconds=0.2)])
    started = time.monotonic()
    with pytest.raises(TransientApiError):
        client.poll(submission.poll_url)
    assert time.monotonic() - started < 1.0 + 0.5


def test_poll_hanging_server_cut_off_by_read_timeout(
    srv: FaultServer, make_client: ClientFactory, recording: Path
) -> None:
    client = make_client(srv, read_seconds=0.5, call_deadline_seconds=30.0)
    submission = client.submit(uploaded(client, recording), PARAMS, "k")
    srv.plan("poll", [Fault.hang()])
    started = time.monotonic()
    with pytest.raises(TransientApiError):
        client.poll(submission.poll_url)
    assert time.monotonic() - started < 0.5 + 0.5


def test_fault_server_stop_ends_hanging_request_promptly(make_client: ClientFactory) -> None:
    server = FaultServer(token=TOKEN).start()
    client = make_client(server, read_seconds=30.0)
    server.plan("upload_url", [Fault.hang()])
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.get_upload_url("x")
        except ApiError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests("upload_url"):
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(5.0)
    assert not caller.is_alive()
    assert time.monotonic() - started < 2.0
    assert isinstance(outcome[0], TransientApiError)


# -- the presigned PUT -------------------------------------------------------------------------


def test_upload_sends_no_authorization_and_exact_content_length(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    uploaded(client, recording)
    (put,) = srv.requests("put")
    assert put.header("Authorization") is None
    assert put.header("Content-Length") == str(recording.stat().st_size)
    assert put.header("Transfer-Encoding") is None
    assert put.body_bytes == recording.stat().st_size


def test_upload_redirect_is_not_followed(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    url = client.get_upload_url("mp3")
    target = f"{srv.base_url}/v1/async/requests/stolen"
    srv.plan("put", [Fault.status(307, headers={"Location": target})])
    with pytest.raises(PermanentApiError):
        client.upload(url, recording)
    assert [r.step for r in srv.requests()] == ["upload_url", "put"]


def test_upload_expired_url_raises_upload_url_expired(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    url = client.get_upload_url("mp3")
    srv.plan("put", [Fault.expired()])
    with pytest.raises(UploadUrlExpired):
        client.upload(url, recording)


def test_upload_past_presign_expiry_raises_upload_url_expired(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    srv.presign_ttl_seconds = -10.0
    url = client.get_upload_url("mp3")
    with pytest.raises(UploadUrlExpired):
        client.upload(url, recording)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_upload_large_file_streams_without_growing_memory(
    srv: FaultServer, client: ApiClient, tmp_path: Path
) -> None:
    size = 200 * 1024 * 1024
    big = tmp_path / "big.wav"
    with big.open("wb") as handle:
        handle.truncate(size)  # sparse: costs no disk
    url = client.get_upload_url("wav")
    baseline, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        client.upload(url, big)
    finally:
        done.set()
        sampler.join()
    assert srv.requests("put")[0].body_bytes == size
    assert peak[0] - baseline < 40 * 1024 * 1024


# -- secrets -----------------------------------------------------------------------------------


def test_error_messages_never_contain_key_or_signature(
    srv: FaultServer, client: ApiClient, recording: Path
) -> None:
    url = client.get_upload_url("mp3")
    signature = url.split("signature=", 1)[1]
    echo = f"echo: Authorization: Bearer {TOKEN} url={url} key={TOKEN}"
    srv.plan("put", [Fault.status(500, body=echo), Fault.reset(), Fault.status(403, body=echo)])
    srv.plan("upload_url", [Fault.status(400, body=echo), Fault.status(401, body=echo)])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = url.replace(srv.base_url, f"http://127.0.0.1:{probe.getsockname()[1]}")
    calls: list[Callable[[], object]] = [
        lambda: client.upload(url, recording),
        lambda: client.upload(url, recording),
        lambda: client.upload(url, recording),
        lambda: client.upload(dead_url, recording),
        lambda: client.get_upload_url("mp3"),
        lambda: client.get_upload_url("mp3"),
    ]
    messages = []
    for call in calls:
        with pytest.raises(ApiError) as caught:
            call()
        messages.append(str(caught.value))
    assert all(TOKEN not in m and signature not in m for m in messages), messages
    assert any("[REDACTED]" in m for m in messages)


def test_poll_url_on_another_origin_gets_no_bearer(srv: FaultServer, client: ApiClient) -> None:
    with FaultServer(token=TOKEN) as foreign:
        with pytest.raises(AuthError):
            client.poll(f"{foreign.base_url}/v1/async/requests/abc")
        (request,) = foreign.requests("poll")
    assert request.header("Authorization") is None
