"""The transcript: openai-whisper's JSON shape plus what dropscribe adds, as typed dicts.

A transcript is ``text``, ``segments`` and ``language``, as openai-whisper writes it. The
embedded engine adds how far it covers the speech and how it was decoded; a call recording
split by channel adds each channel's summary; the daemon adds speaker labels. A remote
service's result carries only the Whisper part, and may leave out a segment's decoding
figures, so every key that someone may not send is ``NotRequired``.

What the engine returns is a Transcript. What a service answers over the network is a
RemoteTranscript, with a RemoteSegment and a RemoteWord: the same keys, every one of them
optional, since a service may leave out any of them (``{"text": "hi"}`` is a transcript). Its
keys are checked at the boundary (:func:`dropscribe.core.transcript_fields.remote_transcript`),
so that a key the daemon finds has the type written here; the daemon's own additions (speaker
labels, its completeness verdict) are written into the same shape.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Word(TypedDict):
    """One word of a segment, asked for with ``word_timestamps``; times in seconds."""

    start: float
    end: float
    word: str
    probability: float


class Segment(TypedDict):
    """One decoded stretch of speech; times in seconds from the start of the recording."""

    id: int
    start: float
    end: float
    text: str
    #: The decoder's figures, in openai-whisper's names: the engine always gives them.
    seek: NotRequired[int]
    tokens: NotRequired[list[int]]
    temperature: NotRequired[float]
    avg_logprob: NotRequired[float]
    compression_ratio: NotRequired[float]
    no_speech_prob: NotRequired[float]
    #: With ``word_timestamps``: the segment's words, inside its start and end.
    words: NotRequired[list[Word]]
    #: With ``split_channels``: the channel (from 1) the segment was heard on.
    channel: NotRequired[int]
    #: Added by the daemon's speaker labels.
    speaker: NotRequired[str]


class CoverageReport(TypedDict):
    """How much of the recording's speech the transcript covers; spans are [start, end]."""

    speech_seconds: float
    covered_seconds: float
    ratio: float
    uncovered: list[list[float]]
    doubtful: list[list[float]]
    #: The runs of uncovered speech that miss more than ``max_gap_seconds`` of it in a row,
    #: each of which makes the transcript incomplete; the most seconds any run misses.
    gaps: NotRequired[list[list[float]]]
    longest_gap_seconds: NotRequired[float]
    max_gap_seconds: NotRequired[float]


class ChannelSummary(TypedDict):
    """One channel of a call recording transcribed per channel (``split_channels``)."""

    channel: int
    text: str
    language: str
    strategy: str


class SpeakingTime(TypedDict):
    """One labelled speaker and the seconds they speak."""

    speaker: str
    seconds: float


class Diarization(TypedDict):
    """How the daemon found the speakers, or why it could not (``error``)."""

    method: str
    error: NotRequired[str]
    engine: NotRequired[str]
    turns: NotRequired[int]
    #: Why the speakers found are fewer than ``min_speakers`` or more than ``max_speakers``.
    speaker_count_problem: NotRequired[str]


class Transcript(TypedDict):
    """A recording's transcript, as the engine returns it and a job's result carries it."""

    text: str
    segments: list[Segment]
    language: str
    #: How sure the model is of the language: 1.0 when it was given, None with no speech or
    #: from an English-only model asked to detect (English assumed: engine.languages).
    language_probability: NotRequired[float | None]
    #: The completeness guard's verdict: the engine's own, or the daemon's for a remote one.
    no_speech: NotRequired[bool]
    complete: NotRequired[bool]
    coverage: NotRequired[CoverageReport]
    #: The decoding strategy kept, and every one tried, in order.
    strategy: NotRequired[str]
    strategies_tried: NotRequired[list[str]]
    #: Why a recording sent with ``split_channels`` was transcribed mixed after all.
    split_channels_problem: NotRequired[str]
    #: With ``split_channels``: each channel's own text, language and strategy.
    channels: NotRequired[list[ChannelSummary]]
    #: Added by the daemon's speaker labels.
    speakers: NotRequired[list[SpeakingTime]]
    diarization: NotRequired[Diarization]


class RemoteWord(TypedDict, total=False):
    """A Word as a service sent it: any key may be missing."""

    start: float
    end: float
    word: str
    probability: float


class RemoteSegment(TypedDict, total=False):
    """A Segment as a service sent it: any key may be missing (ids, times, decoding figures)."""

    id: int
    start: float
    end: float
    text: str
    seek: int
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[RemoteWord]
    channel: int
    speaker: str


class RemoteTranscript(TypedDict, total=False):
    """A job's result as the daemon holds it: a Transcript as a service sent it, any key
    missing, with what the daemon adds (speaker labels, the completeness verdict). The keys
    a service adds beyond these are kept as they came, for the .json."""

    text: str
    segments: list[RemoteSegment]
    language: str
    language_probability: float | None
    no_speech: bool
    complete: bool
    coverage: CoverageReport
    strategy: str
    strategies_tried: list[str]
    split_channels_problem: str
    channels: list[ChannelSummary]
    speakers: list[SpeakingTime]
    diarization: Diarization
