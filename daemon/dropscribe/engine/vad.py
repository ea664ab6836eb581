"""Where the speech is: Silero voice activity detection, as faster-whisper ships it.

The Silero model is loaded on first use and kept (faster-whisper caches it), so a process that
never asks where the speech is never pays for it. Times are in seconds from the start of the
recording; a span is ``(start, end)``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Samples per second of the audio the engine works on (Whisper's input rate).
SAMPLING_RATE = 16_000

#: Longest decoding window, in seconds. Whisper's encoder takes 30 s, but on the fixtures a
#: window filled to 25-30 s lost its last sentence (OSR: 0.90-0.92 of the speech covered) while
#: 20 s windows covered all of it; the encoder pads every window to 30 s either way.
WINDOW_SECONDS = 20.0

#: Silence that ends a speech span, in milliseconds: short, so spans break at sentence pauses
#: and windows can be cut between words (faster-whisper's batched pipeline uses the same).
MIN_SILENCE_MS = 160

Span = tuple[float, float]

#: The helper decodes and searches a recording this many seconds at a time (38 MB of samples).
BLOCK_SECONDS = 600.0

# ONNX Runtime (which runs the Silero model) starts a telemetry session when it is imported,
# writing a session file into $TMPDIR and a device id under ~/.cache; this service sends
# nothing anywhere and leaves no stray files, so it is switched off before any import of it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def speech_spans(samples: Any) -> list[Span]:
    """Given 16 kHz mono float samples, return the spans that hold speech, none over 30 s."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        max_speech_duration_s=WINDOW_SECONDS, min_silence_duration_ms=MIN_SILENCE_MS
    )
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLING_RATE)
    return [(s["start"] / SAMPLING_RATE, s["end"] / SAMPLING_RATE) for s in stamps]


def windows(spans: Sequence[Span], limit: float = WINDOW_SECONDS) -> list[Span]:
    """Given speech spans in order, return decoding windows: runs of consecutive spans, each
    window at most ``limit`` seconds from its first start to its last end (the pauses inside
    stay in, so times need no restoring). A span longer than ``limit`` is a window alone."""
    merged: list[Span] = []
    for start, end in spans:
        if merged and end - merged[-1][0] <= limit:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def answer(line: str) -> dict[str, Any]:
    """Given a JSON-quoted recording path, return ``{"spans": [...]}`` or ``{"error": ...}``."""
    path = json.loads(line)
    try:
        spans = streamed_spans(Path(path))
    except Exception as exc:  # any decoder failure means "no answer for this file"
        return {"error": f"could not decode {path}: {exc}"}
    return {"spans": [[round(a, 3), round(b, 3)] for a, b in spans]}


def streamed_spans(path: Path, block_seconds: float = BLOCK_SECONDS) -> list[Span]:
    """Return the speech spans of a recording of any length, decoded and searched
    ``block_seconds`` at a time, so that memory stays bounded by one block however long (or
    however much longer than its header says) the recording is. A span that crosses a block
    edge comes out as two that touch; coverage counts them the same."""
    import numpy as np

    from dropscribe.engine.audio import probe, refuse, resampled

    facts = probe(path)
    refuse(facts, max_seconds=float("inf"))
    spans: list[Span] = []
    # Sized by the declared duration when that is shorter: small recordings take little.
    declared = facts.duration_seconds
    block_seconds = min(block_seconds, block_seconds if declared is None else declared + 1.0)
    block = np.empty(int(block_seconds * SAMPLING_RATE), dtype=np.float32)
    held, offset = 0, 0.0
    for chunk in resampled(path, SAMPLING_RATE):
        while len(chunk):
            taken = min(len(chunk), len(block) - held)
            block[held : held + taken] = chunk[:taken]
            held, chunk = held + taken, chunk[taken:]
            if held == len(block):
                spans.extend((offset + a, offset + b) for a, b in speech_spans(block))
                held, offset = 0, offset + block_seconds
    if held:
        spans.extend((offset + a, offset + b) for a, b in speech_spans(block[:held]))
    return spans


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
