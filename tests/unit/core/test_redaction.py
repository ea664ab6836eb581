"""Redaction: known secrets, bearer tokens and URL signatures masked in one place."""

from __future__ import annotations

import pytest

from dropscribe.core.redaction import MASK, MIN_SECRET_LENGTH, Redactor, redact_url

KEY = "sk-canary-0123456789"


def test_redactor_known_secret_masked_everywhere_in_text() -> None:
    text = f"{KEY} at start, {KEY}in the middle, and at the end:{KEY}"
    assert Redactor([KEY]).text(text) == (
        f"{MASK} at start, {MASK}in the middle, and at the end:{MASK}"
    )


def test_redactor_longer_secret_containing_shorter_masked_whole() -> None:
    redactor = Redactor(["abcdef", "abcdef-long-tail"])
    assert redactor.text("x abcdef-long-tail y") == f"x {MASK} y"


def test_redactor_longer_secret_added_later_still_masked_whole() -> None:
    redactor = Redactor(["abcdef"])
    redactor.add("abcdef-long-tail")
    assert redactor.text("abcdef-long-tail") == MASK


def test_redactor_too_short_secret_ignored() -> None:
    short = "a" * (MIN_SECRET_LENGTH - 1)
    assert Redactor([short]).text(f"say {short}") == f"say {short}"


def test_redactor_secret_of_minimum_length_masked() -> None:
    secret = "b" * MIN_SECRET_LENGTH
    assert Redactor([secret]).text(f"say {secret}") == f"say {MASK}"


@pytest.mark.parametrize("secret", [None, ""])
def test_redactor_add_empty_secret_ignored(secret: str | None) -> None:
    redactor = Redactor()
    redactor.add(secret)
    assert redactor.text("plain text") == "plain text"


def test_redactor_text_without_secrets_unchanged() -> None:
    assert Redactor([KEY]).text("nothing to hide here") == "nothing to hide here"


@pytest.mark.parametrize(
    "header", ["Authorization: Bearer abc.DEF-123_~+/=", "authorization: bearer abc.DEF-123_~+/="]
)
def test_redactor_bearer_token_masked(header: str) -> None:
    assert Redactor().text(header) == header[: header.lower().index("bearer") + 7] + MASK


def test_redactor_bearer_token_text_after_it_kept() -> None:
    assert Redactor().text("Bearer tok123 sent") == f"Bearer {MASK} sent"


@pytest.mark.parametrize(
    "param",
    [
        "signature",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "X-Goog-Signature",
        "X-Goog-Credential",
        "sig",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
    ],
)
def test_redact_url_signature_param_masked_others_kept(param: str) -> None:
    url = f"https://bucket.example/a.wav?X-Amz-Date=20240101&{param}=s3cr3t%2Fv&part=2#frag"
    assert redact_url(url) == (
        f"https://bucket.example/a.wav?X-Amz-Date=20240101&{param}={MASK}&part=2#frag"
    )


def test_redact_url_first_param_masked() -> None:
    assert redact_url("https://h/p?sig=abc&b=1") == f"https://h/p?sig={MASK}&b=1"


def test_redact_url_param_name_only_ending_like_signature_kept() -> None:
    url = "https://h/p?monkey=banana&design=1&tokens=3"
    assert redact_url(url) == url


def test_redact_url_without_query_unchanged() -> None:
    assert redact_url("https://h/path/signature=x") == "https://h/path/signature=x"


def test_redactor_url_inside_log_text_masked() -> None:
    text = 'PUT "https://h/up?id=7&X-Amz-Signature=abc123" failed'
    assert Redactor().text(text) == f'PUT "https://h/up?id=7&X-Amz-Signature={MASK}" failed'


def test_redactor_value_nested_containers_redacted() -> None:
    value = {"a": [KEY, ("x", f"Bearer {KEY}")], "b": {"c": "https://h/?sig=zz"}, "n": 3}
    assert Redactor([KEY]).value(value) == {
        "a": [MASK, ("x", f"Bearer {MASK}")],
        "b": {"c": f"https://h/?sig={MASK}"},
        "n": 3,
    }


def test_redactor_value_keeps_container_types() -> None:
    got = Redactor([KEY]).value({"t": (KEY,), "l": [KEY]})
    assert (type(got["t"]), type(got["l"])) == (tuple, list)


@pytest.mark.parametrize("value", [None, 42, 1.5, True, b"bytes"])
def test_redactor_value_non_string_scalar_unchanged(value: object) -> None:
    assert Redactor([KEY]).value(value) == value


@pytest.mark.parametrize(
    "prose",
    ["invalid bearer token", "Bearer authentication failed", "missing Bearer Token here"],
)
def test_redactor_words_after_bearer_in_prose_kept(prose: str) -> None:
    assert Redactor().text(prose) == prose


@pytest.mark.parametrize(
    "credential", ["tok123", "AbcDefGhi", "abcdefghijklmnopqrstuvwxyz", "x.y", "c2VjcmV0=="]
)
def test_redactor_bearer_credential_that_is_no_word_masked(credential: str) -> None:
    assert Redactor().text(f"Authorization: Bearer {credential} sent") == (
        f"Authorization: Bearer {MASK} sent"
    )


def test_redactor_known_secret_after_bearer_masked_even_if_it_looks_like_a_word() -> None:
    assert Redactor(["letmein"]).text("Bearer letmein") == f"Bearer {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://dropscribe:hunter2@redis.lan:6379/0", f"redis://{MASK}@redis.lan:6379/0"),
        (
            "rediss://:pw@[::1]:6380/1?ssl_ca_certs=/x",
            f"rediss://{MASK}@[::1]:6380/1?ssl_ca_certs=/x",
        ),
        ("broker 'redis://u:p@h:x/0' has no port", f"broker 'redis://{MASK}@h:x/0' has no port"),
        ("https://user@example.org/a", f"https://{MASK}@example.org/a"),
    ],
)
def test_redact_url_user_and_password_masked(text: str, expected: str) -> None:
    assert redact_url(text) == expected
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "redis://redis.lan:6379/0",
        "http://example.org/mail/to/alice@example.org",
        "write to alice@example.org",
        "http://example.org/?q=a@b",
    ],
)
def test_redact_url_without_user_left_alone(text: str) -> None:
    assert redact_url(text) == text
