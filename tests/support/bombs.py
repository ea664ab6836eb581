"""Audio files that claim far more than their size: the decompression bombs of the tests."""

from __future__ import annotations

import subprocess
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


def understating_mp3(folder: Path, channels: int = 1) -> Path:
    """Write an MP3 without a Xing header whose first second is noise at 160 kb/s and the next
    70 s silence at 8 kb/s; return its path. Its duration is guessed from the first frame's
    rate, 8 s, while it holds 71 s."""
    plain = ["-c:a", "libmp3lame", "-write_xing", "0", "-id3v2_version", "0", "-ac", str(channels)]
    loud, quiet = folder / "loud.mp3", folder / "quiet.mp3"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=1:a=0.3", "-ar", "16000", *plain, "-b:a", "160k", loud)
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "70", *plain, "-b:a", "8k", quiet)
    joined = folder / f"understating-{channels}.mp3"
    joined.write_bytes(loud.read_bytes() + quiet.read_bytes())
    return joined


def ffmpeg(*args: str | Path) -> None:
    """Run ffmpeg quietly, overwriting its output."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True)
