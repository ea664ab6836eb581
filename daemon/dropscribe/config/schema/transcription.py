"""What is asked of Whisper for each recording, what is written of its transcript, and when a
transcript counts as complete."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dropscribe.config.languages import language_problem
from dropscribe.config.schema.section import Section
from dropscribe.core.coverage import DEFAULT_MAX_GAP_SECONDS


class Whisper(Section):
    """Every parameter of the service's Whisper input; null means the engine's default."""

    language: str | None = "en"
    task: Literal["transcribe", "translate"] | None = "transcribe"
    temperature: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = 0.0
    temperature_increment_on_fallback: (
        Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None
    ) = 0.2
    beam_size: Annotated[int, Field(ge=1, le=20)] | None = 5
    best_of: Annotated[int, Field(ge=1, le=20)] | None = 5
    patience: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = 1.0
    length_penalty: Annotated[float, Field(allow_inf_nan=False)] | None = None
    suppress_tokens: str | None = "-1"
    initial_prompt: str | None = None
    condition_on_previous_text: bool | None = True
    no_speech_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = 0.6
    compression_ratio_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = 2.4
    logprob_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = -1.0
    # Word-level timings on each segment; only sent when set, as a service may not know it.
    # Not asked for by default, even of the embedded engine: they cost it about 15 % more time
    # (bench/cues.py), and cues keep their limits without them (their times estimated).
    word_timestamps: bool | None = None

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = language_problem(value.strip().lower())
        if problem is not None:
            raise ValueError(problem)
        return value.strip().lower()


#: Whisper inputs left out of the submission unless set: newer than the service's sample.
OPTIONAL_INPUTS = ("word_timestamps",)


class Subtitles(Section):
    """How much a cue of the .srt and .vtt may hold: the usual subtitle guidelines' 7 s and
    two lines of 42 characters. At least 1 s (a cue is held 0.8 s where there is room) and 10
    characters (a line of two words); at most what still reads as a subtitle."""

    max_cue_seconds: Annotated[float, Field(ge=1, le=60, allow_inf_nan=False)] = 7.0
    max_line_chars: Annotated[int, Field(ge=10, le=200)] = 42
    max_lines: Annotated[int, Field(ge=1, le=5)] = 2


class Output(Section):
    """What is written to the outbox, and what happens to the recording afterwards."""

    formats: tuple[Literal["txt", "json", "srt", "vtt"], ...] = ("txt", "json", "srt", "vtt")
    after_success: Literal["move", "delete"] = "move"
    txt_line_per_segment: bool = False
    subtitles: Subtitles = Subtitles()

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "txt" not in value or "json" not in value:
            raise ValueError("must include txt and json (the transcript and its provenance)")
        return value


class Quality(Section):
    """When a transcript counts as complete, and what happens to one that is not."""

    # 0.95: complete transcripts of the speech fixtures cover 0.996-1.0 of the speech the VAD
    # finds; one sentence dropped from a half-minute recording leaves 0.90-0.92.
    min_coverage: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.95
    # A share cannot see half a minute missing from two hours; a run of uncovered speech
    # longer than this (seconds) makes a transcript incomplete whatever its share.
    max_gap_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_MAX_GAP_SECONDS
    on_incomplete: Literal["publish", "fail"] = "publish"
