"""Call recordings with one party per stereo channel: each channel decoded on its own, and
the per-channel transcripts interleaved by time with the channel on each segment.

Decoding is refused, before any sample is decoded, for a file whose header says it is longer
than the server's limit, and while decoding once it turns out to be (as for any upload); the
interleaving is pure. A recording without two different channels is transcribed mixed, and its
transcript says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from faster_whisper import WhisperModel

from dropscribe.core.transcript import Segment, Transcript
from dropscribe.engine.audio import AudioProblem, decode_stereo, probe, refuse
from dropscribe.engine.batching import Clip
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.vad import SAMPLING_RATE, speech_spans

#: The input parameter that asks for one transcript per channel.
SPLIT_CHANNELS = "split_channels"

#: Channels a call recording carries: one party each.
CALL_CHANNELS = 2

#: The transcript key that says why a recording was transcribed mixed after all.
PROBLEM: Final = "split_channels_problem"

#: Correlation of the two channels' samples above which they count as one recording saved
#: twice (mono as stereo): 0.9996 for jfk.flac, whose channels differ by a hair; -0.006 for
#: stereo_diarization.wav, one party per channel.
SAME_AUDIO_CORRELATION = 0.99


class NotACallRecording(AudioProblem):
    """The recording does not carry two different channels; it is transcribed mixed."""


def channel_count(path: Path) -> int:
    """Return how many channels the file's first audio stream has. Raise AudioProblem."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return int(container.streams.audio[0].channels)
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioProblem("the uploaded file has no readable audio stream") from exc


def channel_samples(path: Path, sampling_rate: int, max_seconds: float) -> tuple[Any, Any]:
    """Return the left and right channels of a stereo file as float32 samples.

    Raise AudioProblem if it is not audio or too long, by its header or once decoded;
    NotACallRecording if it does not carry two different channels.
    """
    facts = probe(path)
    refuse(facts, max_seconds)
    channels = channel_count(path)
    if channels != CALL_CHANNELS:
        raise NotACallRecording(
            f"split_channels needs a two-channel (stereo) recording; this one has {channels}"
        )
    left, right = decode_stereo(path, sampling_rate, max_seconds, facts.duration_seconds)
    if same_audio(left, right):
        raise NotACallRecording("both channels of the recording carry the same audio")
    return left, right


def same_audio(left: Any, right: Any) -> bool:
    """Return True if two channels hold the same audio (a mono recording saved as stereo):
    their samples correlate above SAME_AUDIO_CORRELATION, or both are silent."""
    if not left.any() or not right.any():
        return not left.any() and not right.any()
    return bool(np.corrcoef(left, right)[0, 1] > SAME_AUDIO_CORRELATION)


def split_or_mixed(
    guard: CoverageGuard,
    model: WhisperModel,
    audio: Path,
    clip: Clip,
    args: TranscribeArgs,
    should_stop: StopCheck,
    max_seconds: float,
) -> Transcript:
    """Return the per-channel transcript of a call recording (``clip`` is it mixed); a
    recording without two different channels is transcribed mixed, and the transcript says
    why. Raise EngineError if it cannot be decoded."""
    try:
        return by_channel(guard, model, audio, args, should_stop, max_seconds)
    except NotACallRecording as exc:
        mixed = guard.transcript(model, clip, without_split(args), should_stop)
        return {**mixed, PROBLEM: str(exc)}


def by_channel(
    guard: CoverageGuard,
    model: WhisperModel,
    audio: Path,
    args: TranscribeArgs,
    should_stop: StopCheck,
    max_seconds: float,
) -> Transcript:
    """Return the transcripts of the two channels, each decoded alone, interleaved. Raise
    NotACallRecording if they are not two different channels, EngineError if they cannot be
    decoded."""
    rest = without_split(args)
    try:
        channels = channel_samples(audio, SAMPLING_RATE, max_seconds)
    except NotACallRecording:
        raise
    except AudioProblem as exc:
        raise EngineError(str(exc)) from exc
    transcripts = []
    for samples in channels:
        clip = Clip(samples, speech_spans(samples))
        transcripts.append(guard.transcript(model, clip, rest, should_stop))
    return interleaved(transcripts)


def without_split(args: TranscribeArgs) -> TranscribeArgs:
    """Return the arguments without split_channels, which faster-whisper does not know."""
    return {name: value for name, value in args.items() if name != SPLIT_CHANNELS}


def interleaved(per_channel: Sequence[Transcript]) -> Transcript:
    """Given one transcript per channel (channel 1 first), return one transcript: every
    segment tagged with its ``channel`` (from 1), all in order of start time and renumbered;
    complete only if every channel's is; its coverage the lowest of the channels'."""
    tagged: list[Segment] = [
        {**segment, "channel": n}
        for n, transcript in enumerate(per_channel, start=1)
        for segment in transcript["segments"]
    ]
    segments = sorted(tagged, key=lambda s: (s["start"], s["channel"]))
    for n, segment in enumerate(segments, start=1):
        segment["id"] = n
    lowest = min(per_channel, key=lambda t: t["coverage"]["ratio"])
    return {
        **per_channel[0],
        "text": " ".join(t["text"] for t in per_channel if t["text"]).strip(),
        "segments": segments,
        "no_speech": all(t["no_speech"] for t in per_channel),
        "complete": all(t["complete"] for t in per_channel),
        "coverage": lowest["coverage"],
        "channels": [
            {"channel": n, "text": t["text"], "language": t["language"], "strategy": t["strategy"]}
            for n, t in enumerate(per_channel, start=1)
        ],
    }
