"""Call recordings with one party per stereo channel: each channel decoded on its own, and
the per-channel transcripts interleaved by time with the channel on each segment.

Decoding is refused, before any sample is decoded, for a file whose header says it is longer
than the server's limit, and while decoding once it turns out to be (as for any upload). The
file is read twice, a frame at a time: once to learn whether its channels differ, then to cut
each channel into pieces (``pieces``) that are transcribed as they come, so memory stays flat
whatever the call's length. The interleaving is pure. A recording without two different
channels is transcribed mixed, and its transcript says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

import av
import numpy as np
from faster_whisper import WhisperModel

from dropscribe.core.transcript import Segment, Transcript
from dropscribe.engine.audio import (
    AudioProblem,
    DecodeStopped,
    Samples,
    counted_planes,
    probe,
    refuse,
)
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.pieces import Cutter, Piece, Sizes, cut_planes
from dropscribe.engine.protocol import StopCheck
from dropscribe.engine.stream import (
    PieceResult,
    Resumption,
    joined,
    resume_points,
    transcribe_pieces,
)
from dropscribe.engine.vad import SAMPLING_RATE

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

#: Transcribes the recording mixed, with the arguments given.
MixedTranscriber = Callable[[TranscribeArgs], Transcript]


class NotACallRecording(AudioProblem):
    """The recording does not carry two different channels; it is transcribed mixed."""


def channel_count(path: Path) -> int:
    """Return how many channels the file's first audio stream has. Raise AudioProblem."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return int(container.streams.audio[0].channels)
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioProblem("the uploaded file has no readable audio stream") from exc


class Likeness:
    """Running sums of two channels' samples, from which their correlation follows without
    holding them: the Pearson coefficient, as numpy's corrcoef gives it."""

    def __init__(self) -> None:
        self.count = 0
        self.sums = np.zeros(5)  # left, right, left^2, right^2, left*right
        self.loudest = 0.0

    def add(self, left: Samples, right: Samples) -> None:
        """Count one frame of both channels."""
        l64, r64 = left.astype(np.float64), right.astype(np.float64)
        self.count += len(l64)
        self.sums += [l64.sum(), r64.sum(), l64 @ l64, r64 @ r64, l64 @ r64]
        if len(l64):
            self.loudest = max(self.loudest, float(np.abs(l64).max()), float(np.abs(r64).max()))

    def correlation(self) -> float:
        """Return the channels' correlation; NaN when one of them does not vary."""
        n = self.count
        sl, sr, sll, srr, slr = self.sums
        spread = (sll - sl * sl / n) * (srr - sr * sr / n) if n else 0.0
        return (slr - sl * sr / n) / math.sqrt(spread) if spread > 0 else math.nan


def channels_differ(path: Path, max_seconds: float, should_stop: StopCheck) -> None:
    """Read the stereo file once; return if its two channels carry different audio.

    Raise AudioProblem if it is not audio or too long, by its header or once decoded;
    NotACallRecording if it does not carry two different channels; DecodeStopped when
    ``should_stop`` turns True.
    """
    refuse(probe(path), max_seconds)
    channels = channel_count(path)
    if channels != CALL_CHANNELS:
        plural = "" if channels == 1 else "s"
        raise NotACallRecording(f"the recording has {channels} channel{plural}, not two")
    likeness = Likeness()
    for left, right in counted_planes(path, SAMPLING_RATE, max_seconds, should_stop, "stereo"):
        likeness.add(left, right)
    if same_audio(likeness):
        raise NotACallRecording("both channels of the recording carry the same audio")


def same_audio(likeness: Likeness) -> bool:
    """Return True if two channels hold the same audio (a mono recording saved as stereo):
    their samples correlate above SAME_AUDIO_CORRELATION, or both are silent."""
    if likeness.loudest == 0.0:
        return True
    return bool(likeness.correlation() > SAME_AUDIO_CORRELATION)


def channel_pieces(
    path: Path,
    max_seconds: float,
    should_stop: StopCheck,
    done: Sequence[PieceResult] = (),
    sizes: Sizes = Sizes(),  # noqa: B008 (frozen, so one shared default is safe)
) -> Iterator[Piece]:
    """Yield the pieces of both channels (1: left, 2: right) as the decoding completes them,
    each channel going on after its pieces in ``done``. Raise EngineError if the file cannot
    be decoded or is too long, Interrupted when ``should_stop`` turns True."""
    points = resume_points(done)
    cutters = [Cutter(n, sizes, *points.get(n, (0, 0))) for n in (1, 2)]
    try:
        yield from cut_planes(
            counted_planes(path, SAMPLING_RATE, max_seconds, should_stop, "stereo"), cutters
        )
    except AudioProblem as exc:
        raise EngineError(str(exc)) from exc
    except DecodeStopped as exc:
        raise Interrupted() from exc


def split_or_mixed(
    guard: CoverageGuard,
    model: WhisperModel,
    audio: Path,
    mixed: MixedTranscriber,
    args: TranscribeArgs,
    should_stop: StopCheck,
    max_seconds: float,
    resumption: Resumption = Resumption(),  # noqa: B008 (frozen, so one shared default is safe)
) -> Transcript:
    """Return the per-channel transcript of a call recording, each channel cut into pieces of
    ``resumption.sizes`` and going on after its pieces done; a recording without two
    different channels is transcribed mixed (by ``mixed``), and the transcript says why.
    Raise EngineError if it cannot be decoded, Interrupted when ``should_stop`` turns True."""
    rest = without_split(args)
    try:
        channels_differ(audio, max_seconds, should_stop)
    except NotACallRecording as exc:
        return {**mixed(rest), PROBLEM: str(exc)}
    except AudioProblem as exc:
        raise EngineError(str(exc)) from exc
    except DecodeStopped as exc:
        raise Interrupted() from exc
    done = resumption.done
    pieces = channel_pieces(audio, max_seconds, should_stop, done, resumption.sizes)
    results = transcribe_pieces(
        guard, model, pieces, rest, should_stop, done=done, on_piece=resumption.on_piece
    )
    return interleaved([joined([r for r in results if r.channel == n], guard) for n in (1, 2)])


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
