"""The piece-cutting helper a daemon with an OpenAI-compatible backend runs as a process of its
own (``python -m dropscribe.engine.piece_helper``, asked by
``dropscribe.intake.piece_cutter``), for a recording larger than the server's upload limit.

It reads one JSON line per question, ``{"recording", "folder", "max_bytes"}``, cuts the
recording at pauses with the streaming engine's Cutter (``pieces``: the same cuts, in
silence, so no word is split), writes each piece to ``folder`` as 16 kHz 16-bit mono WAV of at
most ``max_bytes`` bytes, and answers one JSON line: ``{"pieces": [[path, start_seconds],
...]}`` or ``{"error": ...}``. Memory stays bounded by one piece, as in the engine.
"""

from __future__ import annotations

import json
import math
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np

from dropscribe.engine.audio import Samples, counted_planes, never_stop, probe, refuse
from dropscribe.engine.pieces import (
    LOOKAHEAD_SECONDS,
    MIN_PIECE_SECONDS,
    PIECE_SECONDS,
    Cutter,
    Sizes,
    cut_planes,
)
from dropscribe.engine.speech_helper import give_back_memory
from dropscribe.engine.vad import SAMPLING_RATE

#: Bytes of a WAV file's header (RIFF, fmt and data chunks), and of one second of its audio.
WAV_HEADER_BYTES = 44
WAV_BYTES_PER_SECOND = SAMPLING_RATE * 2


def piece_seconds(max_bytes: int) -> float:
    """Return the piece length whose longest piece (the length and the lookahead) fits in a
    WAV of ``max_bytes``; at least MIN_PIECE_SECONDS."""
    fits = (max_bytes - WAV_HEADER_BYTES) / WAV_BYTES_PER_SECOND
    longest = 1 + LOOKAHEAD_SECONDS / PIECE_SECONDS
    return max(MIN_PIECE_SECONDS, math.floor(fits / longest))


def cut_to_files(recording: Path, folder: Path, max_bytes: int) -> list[tuple[str, float]]:
    """Cut ``recording`` into WAV pieces in ``folder``; return each piece's path and start."""
    refuse(probe(recording), max_seconds=math.inf)
    planes = counted_planes(recording, SAMPLING_RATE, math.inf, never_stop, "mono")
    cutter = Cutter(0, Sizes.of_piece(piece_seconds(max_bytes)))
    written = []
    for piece in cut_planes(planes, [cutter]):
        path = folder / f"piece-{piece.index:04d}.wav"
        write_wav(path, piece.samples)
        written.append((str(path), piece.start))
    return written


def write_wav(path: Path, samples: Samples) -> None:
    """Write float samples in [-1, 1] as a 16 kHz 16-bit mono WAV file."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLING_RATE)
        out.writeframes(pcm.tobytes())


def answer(line: str) -> dict[str, Any]:
    """Given one question's JSON line, return ``{"pieces": ...}`` or ``{"error": ...}``."""
    ask = json.loads(line)
    try:
        pieces = cut_to_files(Path(ask["recording"]), Path(ask["folder"]), int(ask["max_bytes"]))
    except Exception as exc:  # any decoder failure means "no pieces for this file"
        return {"error": f"could not cut {ask['recording']} into pieces: {exc}"}
    return {"pieces": [[path, round(start, 6)] for path, start in pieces]}


def serve_cutter() -> None:
    """Answer one question per input line, until end of input."""
    for line in sys.stdin:
        found = answer(line)
        give_back_memory()
        print(json.dumps(found), flush=True)


if __name__ == "__main__":
    serve_cutter()
