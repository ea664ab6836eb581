"""The speech-detection helper a daemon with a remote backend runs as a process of its own
(``python -m dropscribe.engine.speech_helper``, asked by ``dropscribe.intake.speech_probe``):
it reads one JSON-quoted recording path per input line and answers one JSON line with the
speech spans (``vad``) of the whole recording, found a piece at a time (``pieces``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dropscribe.engine.audio import counted_planes, never_stop, probe, refuse
from dropscribe.engine.pieces import Cutter, Sizes, cut_planes
from dropscribe.engine.vad import SAMPLING_RATE, Span


def answer(line: str) -> dict[str, Any]:
    """Given a JSON-quoted recording path, return ``{"spans": [...]}`` or ``{"error": ...}``."""
    path = json.loads(line)
    try:
        spans = streamed_spans(Path(path))
    except Exception as exc:  # any decoder failure means "no answer for this file"
        return {"error": f"could not decode {path}: {exc}"}
    return {"spans": [[round(a, 3), round(b, 3)] for a, b in spans]}


def streamed_spans(
    path: Path,
    sizes: Sizes = Sizes(),  # noqa: B008 (frozen, so one shared default is safe)
) -> list[Span]:
    """Return the speech spans of a recording of any length, decoded and searched a piece at a
    time (``pieces``: a few minutes, cut in pauses), so that memory stays bounded by one piece
    however long (or however much longer than its header says) the recording is. The daemon's
    answer timeout bounds the time."""
    refuse(probe(path), max_seconds=math.inf)
    planes = counted_planes(path, SAMPLING_RATE, math.inf, never_stop, "mono")
    return [
        (piece.start + a, piece.start + b)
        for piece in cut_planes(planes, [Cutter(0, sizes)])
        for a, b in piece.speech
    ]


def give_back_memory() -> None:
    """Collect PyAV's cyclic leftovers (faster-whisper issue 390), then hand the heap's free
    pages back to the system (glibc's malloc_trim): the helper would otherwise keep its
    peak (146 MB against 95 MB after 60 questions about the speech fixtures)."""
    gc.collect()
    trim = heap_trimmer()
    if trim is not None:
        trim(0)


@functools.cache
def heap_trimmer() -> Callable[[int], int] | None:
    """Return glibc's malloc_trim, looked up once (find_library runs ldconfig); None where
    the C library is not glibc."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def serve_probe() -> None:
    """Answer one recording path per input line with its speech spans, until end of input."""
    for line in sys.stdin:
        found = answer(line)
        give_back_memory()  # before answering: an idle helper holds no more than it needs
        print(json.dumps(found), flush=True)


if __name__ == "__main__":
    serve_probe()
