"""Probing and bounded decoding of uploaded audio, so a small file cannot claim a huge memory.

A WAV of 10 kB whose header says 1 Hz holds 2 h 46 min of audio: resampled to 16 kHz at once it
took gigabytes. So the container is probed first (sample rate, declared duration) and refused
when either is out of bounds; then it is decoded frame by frame, counting samples as they come
(a header may lie about the duration) and asking between frames whether to stop. A long
recording is consumed as it is decoded (``pieces``), so its memory does not grow with its
length; only a short one is gathered into one buffer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

#: Lowest sample rate accepted, in Hz: telephone audio (8 kHz) is the poorest speech there is,
#: and a lower rate is how a tiny file claims hours of audio.
MIN_SAMPLE_RATE = 8000

#: Growth factor of the sample buffer when a file holds more audio than its header said.
_GROWTH = 1.5

Samples = npt.NDArray[np.float32]


class AudioProblem(Exception):
    """The file is not audio we accept; the message says why, for a person."""


class TooLong(AudioProblem):
    """The file holds more audio than the limit it was decoded under."""


class DecodeStopped(Exception):
    """Decoding was abandoned because ``should_stop`` turned True."""


@dataclass(frozen=True)
class AudioFacts:
    """What the container says before decoding: sample rate (Hz) and duration (s, if known)."""

    sample_rate: int
    duration_seconds: float | None


def probe(path: Path) -> AudioFacts:
    """Return the first audio stream's rate and declared duration. Raise AudioProblem."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioProblem("the uploaded file has no audio stream")
            stream = container.streams.audio[0]
            return AudioFacts(int(stream.rate or 0), declared_duration(stream, container))
    except av.error.FFmpegError as exc:
        raise AudioProblem(undecodable(exc)) from exc


def undecodable(exc: av.error.FFmpegError) -> str:
    """Return the message for a file FFmpeg cannot read: its reason, never the server's path.

    ``str(exc)`` ends with the file name, which is the upload's place on this server.
    """
    reason = exc.strerror or type(exc).__name__
    return f"the uploaded file could not be decoded as audio ({reason})"


def declared_duration(stream: Any, container: Any) -> float | None:
    """Return the stream's duration in seconds from its header, else the container's, else None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return None


def refusal(facts: AudioFacts, max_seconds: float) -> str | None:
    """Given probed facts and the duration limit, return why the file is refused, or None."""
    if facts.sample_rate < MIN_SAMPLE_RATE:
        return (
            f"the audio's sample rate of {facts.sample_rate} Hz is too low for speech; "
            f"at least {MIN_SAMPLE_RATE} Hz is required"
        )
    if facts.duration_seconds is not None and facts.duration_seconds > max_seconds:
        return too_long(facts.duration_seconds, max_seconds)
    return None


def refuse(facts: AudioFacts, max_seconds: float) -> None:
    """Raise AudioProblem when ``refusal`` has a reason for the file: TooLong when it is the
    length (the rate is judged first, so a file with a good rate is refused for its length)."""
    problem = refusal(facts, max_seconds)
    if problem is None:
        return
    raise TooLong(problem) if facts.sample_rate >= MIN_SAMPLE_RATE else AudioProblem(problem)


def too_long(seconds: float, max_seconds: float) -> str:
    """Return the message refusing ``seconds`` of audio over a limit of ``max_seconds``."""
    return (
        f"the audio is {spoken_duration(seconds)} long; this server accepts at most "
        f"{spoken_duration(max_seconds)} (max_audio_hours)"
    )


def spoken_duration(seconds: float) -> str:
    """Return a duration as a person says it: ``2 h 46 min``, ``12 min 5 s``, ``40 s``."""
    whole = int(seconds)
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


#: Seconds of audio decoded between two garbage collections (a collection costs 15-25 ms).
COLLECT_AFTER_SECONDS = 60.0


def decode_bounded(
    path: Path, sampling_rate: int, max_seconds: float, should_stop: Callable[[], bool]
) -> Samples:
    """Return the whole of a short file's audio as mono float32 samples at ``sampling_rate``
    (a long recording goes through ``pieces`` instead, a few minutes at a time).

    Raise AudioProblem if it is not audio or its rate is too low, TooLong if it is (or turns
    out to be) longer than ``max_seconds``; raise DecodeStopped when ``should_stop`` turns True.
    """
    facts = probe(path)
    refuse(facts, max_seconds)
    return decode_within(path, sampling_rate, max_seconds, facts.duration_seconds, should_stop)


def decode_within(
    path: Path,
    sampling_rate: int,
    max_seconds: float,
    expected_seconds: float | None,
    should_stop: Callable[[], bool],
) -> Samples:
    """Decode as decode_bounded does, without probing, into one buffer: refuse the file
    (TooLong) as soon as the samples decoded pass ``max_seconds``, whatever its header said.

    ``expected_seconds`` (the declared duration, if any) sizes the buffer up front.
    """
    limit = int(max_seconds * sampling_rate)
    expected = int((expected_seconds or 60.0) * sampling_rate)
    buffer = SampleBuffer(min(expected, limit) + sampling_rate, limit)
    for planes in counted_planes(path, sampling_rate, max_seconds, should_stop, "mono"):
        buffer.append(planes[0])
    return buffer.samples()


def counted_planes(
    path: Path,
    sampling_rate: int,
    max_seconds: float,
    should_stop: Callable[[], bool],
    layout: str,
) -> Iterator[Samples]:
    """Yield the file's audio in ``layout`` (``mono`` or ``stereo``) at ``sampling_rate``, one
    frame at a time as float32 arrays with one row per channel, counting the samples: raise
    TooLong as soon as they pass ``max_seconds`` (a header may understate), AudioProblem if the
    file cannot be decoded, DecodeStopped when ``should_stop`` turns True (asked every frame,
    so a file that holds days of audio is stopped by time, never by memory)."""
    limit = max_seconds * sampling_rate  # a float: no limit at all is infinity
    collect_every = int(COLLECT_AFTER_SECONDS * sampling_rate)
    count, collected = 0, 0
    try:
        for planes in resampled_planes(path, sampling_rate, layout):
            if should_stop():
                raise DecodeStopped()
            count += planes.shape[1]
            if count > limit:
                raise TooLong(too_long(count / sampling_rate, max_seconds))
            if count - collected >= collect_every:
                # PyAV's resampler keeps buffers alive until a collection (faster-whisper
                # issue 390); a collection a minute of audio keeps that garbage small.
                gc.collect()
                collected = count
            yield planes
    except av.error.FFmpegError as exc:
        raise AudioProblem(undecodable(exc)) from exc


def never_stop() -> bool:
    """A stop check for a decoding that is bounded by its limit alone."""
    return False


def resampled_planes(path: Path, sampling_rate: int, layout: str) -> Iterator[Samples]:
    """Yield the first audio stream in ``layout`` (``mono`` or ``stereo``) at ``sampling_rate``
    as float32 arrays with one row per channel, frame by frame."""
    resampler = av.audio.resampler.AudioResampler(format="fltp", layout=layout, rate=sampling_rate)
    with av.open(str(path), metadata_errors="ignore") as container:
        for frame in valid_frames(container.decode(audio=0)):
            frame.pts = None  # timestamps of damaged files confuse the resampler
            for out in resampler.resample(frame):
                yield np.asarray(out.to_ndarray(), dtype=np.float32)  # no copy: fltp is float32
    for out in resampler.resample(None):
        yield np.asarray(out.to_ndarray(), dtype=np.float32)


def valid_frames(frames: Iterator[Any]) -> Iterator[Any]:
    """Yield the decodable frames, skipping damaged ones as faster-whisper does."""
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


class SampleBuffer:
    """A growable float32 buffer that refuses to hold more than ``limit`` samples."""

    def __init__(self, capacity: int, limit: int) -> None:
        self._data: Samples = np.empty(max(capacity, 1), dtype=np.float32)
        self._limit = limit
        self.size = 0

    def append(self, chunk: Samples) -> bool:
        """Append a chunk; return False (keeping the count) if it would pass the limit."""
        end = self.size + len(chunk)
        if end > self._limit:
            self.size = end
            return False
        if end > len(self._data):
            grown = np.empty(min(max(end, int(len(self._data) * _GROWTH)), self._limit), np.float32)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = chunk
        self.size = end
        return True

    def samples(self) -> Samples:
        """Return the samples appended so far (a view, no copy)."""
        return self._data[: self.size]
