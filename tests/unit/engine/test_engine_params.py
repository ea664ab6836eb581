"""Input options: strict validation and the mapping onto faster-whisper's arguments."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dropscribe.engine.params import (
    WhisperInput,
    suppress_token_list,
    temperature_schedule,
    transcribe_args,
)
from support.tiyaro_flow import whisper_input

SEED_INPUT = whisper_input()


def test_transcribe_args_seed_input_maps_every_set_parameter() -> None:
    args = transcribe_args(WhisperInput.model_validate(SEED_INPUT))
    assert args == {
        "language": "en",
        "task": "transcribe",
        "beam_size": 5,
        "best_of": 5,
        "patience": 1.0,
        "condition_on_previous_text": True,
        "no_speech_threshold": 0.6,
        "compression_ratio_threshold": 2.4,
        "log_prob_threshold": -1.0,
        "suppress_tokens": [-1],
        "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    }


def test_transcribe_args_all_null_returns_engine_defaults() -> None:
    assert transcribe_args(WhisperInput.model_validate(dict.fromkeys(SEED_INPUT))) == {}


def test_transcribe_args_prompt_and_length_penalty_pass_through() -> None:
    options = WhisperInput(initial_prompt="Kennedy", length_penalty=0.5)
    assert transcribe_args(options) == {"initial_prompt": "Kennedy", "length_penalty": 0.5}


def test_temperature_schedule_without_increment_returns_single_temperature() -> None:
    assert temperature_schedule(0.4, None) == (0.4,)
    assert temperature_schedule(0.4, 0.0) == (0.4,)


def test_temperature_schedule_with_increment_reaches_one() -> None:
    assert temperature_schedule(0.5, 0.25) == (0.5, 0.75, 1.0)


def test_suppress_token_list_comma_string_returns_ints() -> None:
    assert suppress_token_list(" -1, 50 ,51") == [-1, 50, 51]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beam_size", "5"),
        ("beam_size", 5.0),
        ("beam_size", 0),
        ("temperature", "0"),
        ("temperature", 1.5),
        ("condition_on_previous_text", "true"),
        ("task", "summarize"),
        ("suppress_tokens", "-1;2"),
        ("suppress_tokens", [1, "2"]),
        ("best_fo", 5),
    ],
)
def test_whisper_input_bad_value_raises_naming_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        WhisperInput.model_validate({field: value})
    assert {error["loc"][0] for error in caught.value.errors()} == {field}


@pytest.mark.parametrize("increment", [0.05, 2e-8, 5e-324])
def test_whisper_input_tiny_fallback_increment_raises_naming_the_limit(increment: float) -> None:
    with pytest.raises(ValidationError, match="at most 11 are allowed"):
        WhisperInput(temperature=0.0, temperature_increment_on_fallback=increment)


def test_temperature_schedule_never_exceeds_eleven_temperatures() -> None:
    assert len(temperature_schedule(0.0, 5e-324)) == 11
    assert temperature_schedule(0.0, 0.1)[-1] == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beam_size", 17),
        ("best_of", 1000),
        ("patience", 11.0),
        ("length_penalty", -1.0),
        ("initial_prompt", "x" * 2001),
        ("no_speech_threshold", 1.5),
        ("compression_ratio_threshold", 1e300),
        ("logprob_threshold", 3.0),
        ("suppress_tokens", list(range(513))),
        ("suppress_tokens", [99999999]),
    ],
)
def test_whisper_input_out_of_bounds_value_raises_naming_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        WhisperInput.model_validate({field: value})
    assert {error["loc"][0] for error in caught.value.errors()} == {field}


def test_whisper_input_infinity_in_json_raises() -> None:
    with pytest.raises(ValidationError, match="finite"):
        WhisperInput.model_validate_json('{"patience": Infinity}')


def test_transcribe_args_word_timestamps_passed_through() -> None:
    options = WhisperInput.model_validate({"word_timestamps": True})
    assert transcribe_args(options) == {"word_timestamps": True}
