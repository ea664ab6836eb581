"""The pure half of OpenAI's transcription endpoint: form fields in, answers out."""

from __future__ import annotations

import pytest

from dropscribe.core.transcript import Transcript
from dropscribe.server.openai_formats import (
    subrip,
    transcription_ask,
    upload_extension,
    verbose,
    webvtt,
)
from dropscribe.server.problems import ApiProblem

RESULT: Transcript = {
    "text": " Hello there. General Kenobi.",
    "language": "en",
    "segments": [
        {"id": 1, "start": 0.0, "end": 1.25, "text": " Hello there.",
         "words": [{"word": " Hello", "start": 0.0, "end": 0.5, "probability": 0.9},
                   {"word": " there.", "start": 0.5, "end": 1.25, "probability": 0.9}]},
        {"id": 2, "start": 3661.5, "end": 3662.0, "text": "  "},
        {"id": 3, "start": 3662.0, "end": 3663.004, "text": " General Kenobi."},
    ],
}  # fmt: skip


def test_subrip_numbers_cues_and_skips_empty_segments() -> None:
    assert subrip(RESULT) == (
        "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n"
        "2\n01:01:02,000 --> 01:01:03,004\nGeneral Kenobi.\n"
    )


def test_webvtt_has_its_header_and_dotted_milliseconds() -> None:
    assert webvtt(RESULT).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello there.\n")


def test_verbose_words_only_when_asked() -> None:
    assert "words" not in verbose(RESULT, "x", ["segment"])
    words = verbose(RESULT, "x", ["word"])["words"]
    assert words == [
        {"word": "Hello", "start": 0.0, "end": 0.5},
        {"word": "there.", "start": 0.5, "end": 1.25},
    ]


def test_verbose_duration_is_the_last_segment_end() -> None:
    assert verbose(RESULT, "x", [])["duration"] == 3663.004


def test_ask_word_granularity_turns_word_timestamps_on() -> None:
    ask = transcription_ask(None, None, None, "verbose_json", ["word"])
    assert ask.options.word_timestamps is True


def test_ask_empty_fields_are_the_engine_defaults() -> None:
    ask = transcription_ask("", "", None, "json", [])
    assert ask.options.language is None and ask.options.initial_prompt is None


@pytest.mark.parametrize(("name", "extension"), [("a.MP3", "mp3"), ("x.y.mpga", "mp3")])
def test_upload_extension_reads_the_name(name: str, extension: str) -> None:
    assert upload_extension(name) == extension


@pytest.mark.parametrize("name", [None, "", "recording", "a.exe"])
def test_upload_extension_without_audio_suffix_is_400(name: str | None) -> None:
    with pytest.raises(ApiProblem) as refused:
        upload_extension(name)
    assert refused.value.status == 400
