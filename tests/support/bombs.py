"""Audio files that claim far more than their size: the decompression bombs of the tests."""

from __future__ import annotations

import wave
from pathlib import Path


def silent_wav(path: Path, rate: int, samples: int) -> Path:
    """Write an 8-bit mono WAV of ``samples`` silent samples at ``rate`` Hz; return its path.

    At 1 Hz and 10,000 samples it is the 10,044-byte file that decodes to 2 h 46 min.
    """
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(bytes([128]) * samples)  # 128 is silence for unsigned 8-bit PCM
    return path


def one_hertz_bomb(path: Path) -> Path:
    """Write the 10,044-byte 1 Hz WAV that claims 10,000 s of audio; return its path."""
    return silent_wav(path, 1, 10_000)
