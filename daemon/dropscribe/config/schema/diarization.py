"""Speaker labels: the diarize section, and what diarization adds to a submission."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from dropscribe.config.extras import DIARIZE_INSTALL, DIARIZE_MODULE, module_installed
from dropscribe.config.schema.section import Section, ordered, refuse
from dropscribe.config.schema.transcription import Whisper

#: Speakers a voice diarization may be told to find at most (and at least).
MAX_SPEAKERS = 32
#: Hours of speech the voice model labels by default (``max_hours``). Its memory is flat at
#: any length but for the clustering, which sees every 1 s window at once: 36,000 windows
#: (10 h) took 13 min and 290 MB on two busy cores, and the time grows faster than the
#: speech (README, "Speaker labels"). Past 12 h, what it costs has not been measured.
DEFAULT_MAX_HOURS = 12.0


def _speaker_name(value: str) -> str:
    # The name becomes a WebVTT voice (<v NAME>) and a .txt/.srt prefix: one plain line.
    if not value.strip() or any(c in value for c in "<>&\n\r") or not value.isprintable():
        raise ValueError("must be one printable line without '<', '>' or '&'")
    return value.strip()


SpeakerName = Annotated[str, Field(max_length=64), AfterValidator(_speaker_name)]


class DiarizeKeys(Section):
    """The keys of the diarize section, as a folder profile sets them (each one it sets
    replaces the top level's; the settings in force are checked as a whole)."""

    enabled: bool = False
    method: Literal["model", "channels"] = "model"
    min_speakers: Annotated[int, Field(ge=1, le=MAX_SPEAKERS)] | None = None
    max_speakers: Annotated[int, Field(ge=1, le=MAX_SPEAKERS)] | None = None
    channel_names: Annotated[tuple[SpeakerName, ...], Field(max_length=2)] = ()
    max_hours: Annotated[float, Field(gt=0, le=24 * 7)] = DEFAULT_MAX_HOURS


class Diarize(DiarizeKeys):
    """Speaker labels: ``channels`` names each stereo channel's party (exact, no model; the
    embedded engine transcribes each channel); ``model`` tells voices apart (the diarize
    extra), in recordings of at most ``max_hours`` of speech."""

    @model_validator(mode="after")
    def _usable(self) -> Diarize:
        refuse(diarize_problems(self))
        return self


def diarize_problems(diarize: DiarizeKeys) -> list[str]:
    """Return why the diarize settings cannot work (empty if they can): bounds out of order,
    or the model method without the diarize extra."""
    problems = []
    if diarize.min_speakers is not None and diarize.max_speakers is not None:
        problems += ordered(diarize, (("min_speakers", "max_speakers"),))
    if diarize.enabled and diarize.method == "model" and not module_installed(DIARIZE_MODULE):
        problems.append(
            f"method model needs the diarize extra, which is not installed: {DIARIZE_INSTALL}"
        )
    return problems


def diarize_inputs(diarize: Diarize, whisper: Whisper) -> dict[str, Any]:
    """Return what diarization adds to the submission: ``split_channels`` for the channels
    method; word timings for the model method (to split segments at a change of speaker),
    unless ``whisper.word_timestamps`` says otherwise."""
    if not diarize.enabled:
        return {}
    if diarize.method == "channels":
        return {"split_channels": True}
    return {"word_timestamps": True} if whisper.word_timestamps is None else {}
