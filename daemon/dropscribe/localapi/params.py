"""The ``input`` object of a submit request and its translation into faster-whisper arguments.

Every parameter of the Tiyaro sample's ``whisper_input()`` is accepted; ``null`` (or leaving it
out) means the engine's default. Types are strict (``"5"`` is not a beam size) and unknown keys
are rejected, so a typo gets a 422 naming the parameter instead of being silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: The temperature at which Whisper's fallback schedule stops, as in openai-whisper's CLI.
MAX_FALLBACK_TEMPERATURE = 1.0

#: Slack for float steps, so 0.2 * 5 still reaches 1.0.
_STEP_EPSILON = 1e-6

TranscribeArgs = dict[str, object]

#: openai-whisper's comma-separated token list, e.g. "-1" or "-1,50,51".
TokenListText = Annotated[str, StringConstraints(pattern=r"^\s*-?\d+(\s*,\s*-?\d+)*\s*$")]


class WhisperInput(BaseModel):
    """Decoding options in openai-whisper's vocabulary, as the Tiyaro sample sends them."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    language: str | None = Field(default=None, min_length=2, max_length=16)
    task: Literal["transcribe", "translate"] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=MAX_FALLBACK_TEMPERATURE)
    temperature_increment_on_fallback: float | None = Field(default=None, ge=0.0, le=1.0)
    beam_size: int | None = Field(default=None, ge=1, le=64)
    best_of: int | None = Field(default=None, ge=1, le=64)
    patience: float | None = Field(default=None, gt=0.0)
    length_penalty: float | None = None
    initial_prompt: str | None = None
    condition_on_previous_text: bool | None = None
    no_speech_threshold: float | None = None
    compression_ratio_threshold: float | None = None
    logprob_threshold: float | None = None
    suppress_tokens: TokenListText | list[int] | None = None


#: Parameters whose faster-whisper name differs from openai-whisper's.
_RENAMED = {"logprob_threshold": "log_prob_threshold"}

#: Parameters passed through unchanged when set.
_PASSTHROUGH = (
    "language",
    "task",
    "beam_size",
    "best_of",
    "patience",
    "length_penalty",
    "initial_prompt",
    "condition_on_previous_text",
    "no_speech_threshold",
    "compression_ratio_threshold",
    "logprob_threshold",
)


def transcribe_args(options: WhisperInput) -> TranscribeArgs:
    """Given validated input options, return the keyword arguments for WhisperModel.transcribe."""
    args: TranscribeArgs = {}
    for name in _PASSTHROUGH:
        value = getattr(options, name)
        if value is not None:
            args[_RENAMED.get(name, name)] = value
    if options.suppress_tokens is not None:
        args["suppress_tokens"] = suppress_token_list(options.suppress_tokens)
    if options.temperature is not None:
        args["temperature"] = temperature_schedule(
            options.temperature, options.temperature_increment_on_fallback
        )
    return args


def suppress_token_list(value: str | list[int]) -> list[int]:
    """Given Whisper's ``"-1"``/``"-1,50,51"`` string or a list, return the token id list."""
    if isinstance(value, list):
        return value
    return [int(part) for part in value.split(",")]


def temperature_schedule(start: float, increment: float | None) -> tuple[float, ...]:
    """Return the temperatures tried in turn: start, then start + k*increment up to 1.0.

    A missing or zero increment means no fallback, so a single temperature.
    """
    if not increment:
        return (start,)
    steps = int((MAX_FALLBACK_TEMPERATURE - start) / increment + _STEP_EPSILON)
    return tuple(round(start + k * increment, 6) for k in range(steps + 1))
