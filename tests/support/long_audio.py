"""Long recordings for the tests of the streaming engine, cheap to make and to decode: quiet
tone and silence for minutes with recorded speech laid in where a test wants it, encoded by
ffmpeg as the 24 kb/s Opus of a meeting tool; FLAC files whose header claims what a test wants.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import decode_audio

from support.dialogue import SPEECH

RATE = 16000

#: Tone and silence take turns this many seconds each; the tone is too soft and too pure for
#: voice activity detection to take it for speech.
TURN_SECONDS = 10.0
TONE_AMPLITUDE = 0.02


def fixture_samples(name: str) -> Any:
    """Return a speech fixture as 16 kHz mono float32 samples."""
    return decode_audio(str(SPEECH / name), RATE)


def tone_and_silence(seconds: float) -> Any:
    """Return ``seconds`` of a soft 440 Hz tone and silence taking turns."""
    t = np.arange(int(seconds * RATE), dtype=np.float32) / RATE
    on = (t // TURN_SECONDS) % 2 == 0
    return (TONE_AMPLITUDE * np.sin(2 * np.pi * 440 * t) * on).astype(np.float32)


def laid_in(background: Any, speech: Sequence[tuple[float, Any]]) -> Any:
    """Return the background with each (start second, samples) laid over it, replacing it."""
    out = background.copy()
    for start, samples in speech:
        at = int(start * RATE)
        out[at : at + len(samples)] = samples[: len(out) - at]
    return out


def encoded(samples: Any, path: Path, *args: str) -> Path:
    """Encode float samples (16 kHz mono) with ffmpeg, by default as 24 kb/s Opus."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    codec = list(args) or ["-c:a", "libopus", "-b:a", "24k"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
         "-i", "-", *codec, str(path)],
        input=pcm,
        check=True,
    )  # fmt: skip
    return path


def call_recording(left: Any, right: Any, path: Path) -> Path:
    """Write two channels of float samples (16 kHz, the shorter padded with silence) as a
    16-bit stereo FLAC: a call recording, one party per channel."""
    length = max(len(left), len(right))
    both = np.zeros((length, 2), np.float32)
    both[: len(left), 0], both[: len(right), 1] = left, right
    pcm = (np.clip(both, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "2",
         "-i", "-", "-c:a", "flac", str(path)],
        input=pcm,
        check=True,
    )  # fmt: skip
    return path


def silent_flac(path: Path, seconds: float, rate: int = 8000) -> Path:
    """Write ``seconds`` of digital silence as FLAC (3 h at 8 kHz take about 2 MB)."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono",
         "-t", str(seconds), "-c:a", "flac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def claiming(flac: Path, seconds: float, rate: int = 8000) -> Path:
    """Rewrite the FLAC header's sample count (STREAMINFO) so the file claims ``seconds``."""
    data = bytearray(flac.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    packed = int.from_bytes(data[18:26], "big")
    mask = (1 << 36) - 1
    packed = (packed & ~mask) | int(seconds * rate)
    data[18:26] = packed.to_bytes(8, "big")
    flac.write_bytes(bytes(data))
    return flac
