"""OpenAI's transcription answers as transcripts, and the form the daemon sends."""

from __future__ import annotations

import json

import pytest

from dropscribe.api_client.openai_protocol import form_fields, parse_answer
from dropscribe.core.errors import PermanentApiError, TransientApiError


def test_verbose_json_top_level_words_go_into_their_segments() -> None:
    body = {
        "text": "a b c", "language": "en",
        "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": "a b"},
                     {"id": 1, "start": 1.0, "end": 2.0, "text": "c"}],
        "words": [{"word": "a", "start": 0.0, "end": 0.4}, {"word": "b", "start": 0.5, "end": 0.9},
                  {"word": "c", "start": 1.2, "end": 1.8}],
    }  # fmt: skip
    result = parse_answer(json.dumps(body).encode(), "application/json", "verbose_json")
    assert [[w["word"] for w in s["words"]] for s in result["segments"]] == [[" a", " b"], [" c"]]


def test_html_page_is_a_permanent_error_naming_the_endpoint() -> None:
    with pytest.raises(PermanentApiError, match="HTML page"):
        parse_answer(b"<!DOCTYPE html><html></html>", "text/html; charset=utf-8", "json")


def test_cut_off_json_is_transient() -> None:
    with pytest.raises(TransientApiError):
        parse_answer(b'{"text": "hel', "application/json", "json")


def test_text_format_gives_the_text_without_segments() -> None:
    assert parse_answer(b"hello\n", "text/plain", "text") == {"text": "hello", "segments": []}


def test_form_maps_whisper_options_and_asks_words_only_with_verbose_json() -> None:
    params = {"language": "de", "initial_prompt": "Namen", "temperature": 0.2,
              "word_timestamps": True, "beam_size": 5}  # fmt: skip
    fields = form_fields(params, "verbose_json", "model_name", "whisper-1", {"vad": "true"})
    assert fields == [
        ("model_name", "whisper-1"), ("response_format", "verbose_json"), ("language", "de"),
        ("prompt", "Namen"), ("temperature", "0.2"), ("timestamp_granularities[]", "segment"),
        ("timestamp_granularities[]", "word"), ("vad", "true"),
    ]  # fmt: skip
    assert ("timestamp_granularities[]", "word") not in form_fields(params, "json", "m", "x", {})
