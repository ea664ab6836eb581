"""Unit tests of the pure parts of the API client: Retry-After, statuses, shapes, URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dropscribe.api_client import (
    RemoteStatus,
    error_for_status,
    parse_poll,
    parse_retry_after,
    parse_status,
    parse_submission,
    parse_upload_url,
    same_origin,
    submit_url,
)
from dropscribe.core.errors import (
    AuthError,
    PermanentApiError,
    TransientApiError,
    UploadUrlExpired,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_parse_retry_after_seconds_returns_seconds() -> None:
    assert parse_retry_after("120", NOW) == 120.0


def test_parse_retry_after_padded_seconds_returns_seconds() -> None:
    assert parse_retry_after("  7 ", NOW) == 7.0


def test_parse_retry_after_future_http_date_returns_seconds_until_it() -> None:
    value = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(value, NOW) == 90.0


def test_parse_retry_after_past_http_date_returns_zero() -> None:
    value = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(value, NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "nan", "inf", "Mon, 99 Foo"])
def test_parse_retry_after_garbage_returns_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("raw", ["success", "SUCCESS", " Processing "])
def test_parse_status_known_names_any_case_returns_status(raw: str) -> None:
    status, kept = parse_status(raw)
    assert status is not RemoteStatus.UNKNOWN
    assert kept == raw


def test_parse_status_unknown_name_returns_unknown_and_keeps_raw() -> None:
    assert parse_status("Teleporting") == (RemoteStatus.UNKNOWN, "Teleporting")


def test_submit_url_plain_path_adds_service_tier() -> None:
    url = submit_url("https://api.tiyaro.ai/", "/v1/async/x/whisper-tiny", "gpuflex")
    assert url == "https://api.tiyaro.ai/v1/async/x/whisper-tiny?serviceTier=gpuflex"


def test_submit_url_existing_query_replaces_service_tier_and_keeps_rest() -> None:
    url = submit_url("http://127.0.0.1:8123", "/v1/a?serviceTier=cpuflex&x=1", "gpuflex")
    assert url == "http://127.0.0.1:8123/v1/a?x=1&serviceTier=gpuflex"


def test_same_origin_default_port_matches_explicit_port() -> None:
    assert same_origin("https://api.tiyaro.ai/v1/x", "https://API.tiyaro.ai:443")


@pytest.mark.parametrize(
    "other", ["http://api.tiyaro.ai/x", "https://evil.example/x", "https://api.tiyaro.ai:8443/x"]
)
def test_same_origin_other_scheme_host_or_port_is_false(other: str) -> None:
    assert not same_origin(other, "https://api.tiyaro.ai")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (408, TransientApiError),
        (429, TransientApiError),
        (500, TransientApiError),
        (503, TransientApiError),
        (400, PermanentApiError),
        (404, PermanentApiError),
        (422, PermanentApiError),
        (302, PermanentApiError),
        (401, AuthError),
        (403, AuthError),
    ],
)
def test_error_for_status_api_step_maps_to_class(status: int, kind: type[Exception]) -> None:
    error = error_for_status("submit", status, "", None)
    assert type(error) is kind


@pytest.mark.parametrize(("status", "detail"), [(403, ""), (401, ""), (400, "Request has expired")])
def test_error_for_status_put_refusal_is_upload_url_expired(status: int, detail: str) -> None:
    assert isinstance(error_for_status("put", status, detail, None), UploadUrlExpired)


def test_error_for_status_put_other_400_is_permanent() -> None:
    assert type(error_for_status("put", 400, "bad request", None)) is PermanentApiError


def test_error_for_status_success_returns_none() -> None:
    assert error_for_status("poll", 204, "", None) is None


def test_error_for_status_429_carries_retry_after() -> None:
    error = error_for_status("poll", 429, "", 12.0)
    assert isinstance(error, TransientApiError)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    "body",
    [
        {"uploadUrl": {"PUT": "u"}},
        {"uplaodUrl": {"PUT": "u"}},
        {"response": {"uplaodUrl": {"PUT": "u"}}},
        {"response": {"uploadUrl": "u"}},
    ],
)
def test_parse_upload_url_documented_shapes_return_url(body: dict[str, object]) -> None:
    assert parse_upload_url(body) == "u"


def test_parse_upload_url_missing_raises_transient() -> None:
    with pytest.raises(TransientApiError):
        parse_upload_url({"response": {"uploadUrl": {}}})


def test_parse_submission_without_status_is_accepted() -> None:
    submission = parse_submission({"response": {"id": "r1", "urls": {"GET": "/p/r1"}}})
    assert (submission.request_id, submission.poll_url) == ("r1", "/p/r1")
    assert submission.status is RemoteStatus.ACCEPTED


def test_parse_submission_missing_poll_url_raises_transient() -> None:
    with pytest.raises(TransientApiError):
        parse_submission({"response": {"id": "r1"}})


def test_parse_poll_failed_body_returns_result_with_error() -> None:
    result = parse_poll({"status": "failed", "error": {"code": 7}})
    assert result.status is RemoteStatus.FAILED
    assert result.error == '{"code": 7}'


def test_parse_poll_success_without_result_raises_transient() -> None:
    with pytest.raises(TransientApiError):
        parse_poll({"response": {"status": "success"}})


def test_parse_poll_result_as_json_text_is_decoded() -> None:
    result = parse_poll({"status": "success", "result": '{"text": "hi"}'})
    assert result.result == {"text": "hi"}


def test_parse_poll_result_known_keys_checked_unknown_kept() -> None:
    body = {"status": "success", "result": {"text": ["x"], "segments": [], "extra": 1}}
    assert parse_poll(body).result == {"segments": [], "extra": 1}


def test_parse_poll_missing_status_raises_transient() -> None:
    with pytest.raises(TransientApiError):
        parse_poll({"response": {"id": "r"}})
