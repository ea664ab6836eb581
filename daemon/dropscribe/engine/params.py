"""The ``input`` object of a submit request and its translation into faster-whisper arguments.

Every parameter of the Tiyaro sample's ``whisper_input()`` is accepted; ``null`` (or leaving it
out) means the engine's default. Types are strict (``"5"`` is not a beam size) and unknown keys
are rejected, so a typo gets a 422 naming the parameter instead of being silently ignored.

Every parameter is bounded to what makes sense for Whisper, so no request can make a worker
build a huge temperature schedule, a huge beam or a huge prompt: the bounds are what keeps one
client from pinning an engine worker.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: The temperature at which Whisper's fallback schedule stops, as in openai-whisper's CLI.
MAX_FALLBACK_TEMPERATURE = 1.0

#: Slack for float steps, so 0.2 * 5 still reaches 1.0.
_STEP_EPSILON = 1e-6

#: Where fallback_count stops counting: far past any allowed schedule, far below int overflow.
_COUNT_CEILING = 1e9

#: Most temperatures a fallback schedule may hold: 0.0 to 1.0 in steps of 0.1.
MAX_TEMPERATURES = 11

#: Largest beam and candidate count: beyond 16 a beam only costs time on every model size.
MAX_BEAM = 16

#: Longest initial prompt, in characters; Whisper keeps only its last 223 tokens anyway.
MAX_PROMPT_CHARS = 2000

#: Most token ids in suppress_tokens, and the largest id (the multilingual vocabulary's size).
MAX_SUPPRESSED_TOKENS = 512
MAX_TOKEN_ID = 51865

#: Bounds of the decoding thresholds: a log probability is at most 0, a gzip ratio at most ~50.
MIN_LOGPROB_THRESHOLD = -100.0
MAX_COMPRESSION_RATIO = 100.0

TranscribeArgs = dict[str, object]

#: openai-whisper's comma-separated token list, e.g. "-1" or "-1,50,51".
TokenListText = Annotated[
    str,
    StringConstraints(
        pattern=r"^\s*-?\d+(\s*,\s*-?\d+)*\s*$", max_length=8 * MAX_SUPPRESSED_TOKENS
    ),
]

#: One token id in a suppress_tokens list (-1: Whisper's default set of non-speech symbols).
TokenId = Annotated[int, Field(ge=-1, le=MAX_TOKEN_ID)]


class WhisperInput(BaseModel):
    """Decoding options in openai-whisper's vocabulary, as the Tiyaro sample sends them."""

    # allow_inf_nan=False: "Infinity" and "NaN" are valid to Python's JSON, never to Whisper.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    language: str | None = Field(default=None, min_length=2, max_length=16)
    task: Literal["transcribe", "translate"] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=MAX_FALLBACK_TEMPERATURE)
    temperature_increment_on_fallback: float | None = Field(default=None, ge=0.0, le=1.0)
    beam_size: int | None = Field(default=None, ge=1, le=MAX_BEAM)
    best_of: int | None = Field(default=None, ge=1, le=MAX_BEAM)
    patience: float | None = Field(default=None, gt=0.0, le=10.0)
    length_penalty: float | None = Field(default=None, ge=0.0, le=10.0)
    initial_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    condition_on_previous_text: bool | None = None
    no_speech_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    compression_ratio_threshold: float | None = Field(
        default=None, gt=0.0, le=MAX_COMPRESSION_RATIO
    )
    logprob_threshold: float | None = Field(default=None, ge=MIN_LOGPROB_THRESHOLD, le=0.0)
    suppress_tokens: (
        TokenListText | Annotated[list[TokenId], Field(max_length=MAX_SUPPRESSED_TOKENS)] | None
    ) = None
    #: Word-level start/end/probability on each segment (faster-whisper's cross-attention
    #: alignment); off unless asked for, as it costs decoding time: tiny.en on 2 CPU cores,
    #: batched, took 1.15 x as long on a 505 s reading and 1.09 x on 20 short clips decoded
    #: together, with the same words (bench/cues.py).
    word_timestamps: bool | None = None
    #: A stereo call recording with one party per channel: each channel is transcribed on its
    #: own and the segments interleaved by time, each with its ``channel`` (1 or 2).
    split_channels: bool | None = None

    @model_validator(mode="after")
    def _schedule_is_short(self) -> WhisperInput:
        count = fallback_count(self.temperature or 0.0, self.temperature_increment_on_fallback)
        if count > MAX_TEMPERATURES:
            raise ValueError(
                f"temperature_increment_on_fallback gives {count} temperatures; at most "
                f"{MAX_TEMPERATURES} are allowed (use an increment of 0.1 or more, or 0 for none)"
            )
        return self


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
    "word_timestamps",
    "split_channels",
)


def transcribe_args(options: WhisperInput) -> TranscribeArgs:
    """Given validated input options, return the keyword arguments for WhisperModel.transcribe."""
    args: TranscribeArgs = {}
    for name in _PASSTHROUGH:
        value = getattr(options, name)
        if value is not None:
            args[_RENAMED.get(name, name)] = value
    if options.suppress_tokens is not None:
        args["suppress_tokens"] = suppress_token_list(options.suppress_tokens)[
            :MAX_SUPPRESSED_TOKENS
        ]
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

    A missing or zero increment means no fallback, so a single temperature. The schedule never
    holds more than MAX_TEMPERATURES, whatever the increment.
    """
    count = min(fallback_count(start, increment), MAX_TEMPERATURES)
    return tuple(round(start + k * (increment or 0.0), 6) for k in range(count))


def fallback_count(start: float, increment: float | None) -> int:
    """Return how many temperatures the schedule from ``start`` by ``increment`` holds.

    Computed without building the schedule, so a tiny increment costs nothing to refuse.
    """
    if not increment or start >= MAX_FALLBACK_TEMPERATURE:
        return 1
    # min(): a subnormal increment makes the ratio infinite, and int(inf) raises OverflowError.
    ratio = min((MAX_FALLBACK_TEMPERATURE - start) / increment, _COUNT_CEILING)
    return int(ratio + _STEP_EPSILON) + 1
