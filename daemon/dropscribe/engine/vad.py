"""Where the speech is: Silero voice activity detection, as faster-whisper ships it.

The Silero model is loaded on first use and kept (faster-whisper caches it), so a process that
never asks where the speech is never pays for it. Times are in seconds from the start of the
recording; a span is ``(start, end)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
