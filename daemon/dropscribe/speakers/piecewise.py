"""senko's diarization, a piece of the recording at a time, so that its memory does not grow
with the recording's length.

senko's ``diarize_samples`` holds the whole recording's samples and then every window's
filterbank features at once (for 3 h of speech about 10,000 windows of 150 x 80 floats,
500 MB, on top of 691 MB of samples). Here the recording goes by in pieces
(:mod:`dropscribe.speakers.pieces`), and what is kept of it is small: the speech probabilities
(one float per 32 ms) and one 192-float embedding per window. Each step is senko's own, called
as its ``DiarizationSession`` calls them, and the result is the same as a whole-recording run:

- speech by ear (when the transcript has no word timings): Silero VAD fed 512 samples at a
  time with its state kept across pieces, then senko's thresholds over all the probabilities;
- the features of a window are taken from the piece (and the tail of the last one) it lies
  in, with the piece's offset (``sample_offset``): a window's features depend on its own
  samples only;
- the embeddings are computed 64 windows at a time, in the windows' order, as senko batches
  them (the shorter windows of a batch are zero-padded to its longest, so a window's
  embedding depends on its batch).

Only the clustering sees every window at once, as it must (see the ``diarize.max_hours``
setting for its cost).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

#: senko's sampling rate, and Silero's window at that rate (samples).
SAMPLING_RATE = 16000
VAD_WINDOW = 512
#: Windows per call of senko's ``_generate_embeddings`` (its BATCH_SIZE).
EMBEDDING_GROUP = 64
#: Samples kept before the next window's start when the audio before it is let go: room for
#: rounding its start to a sample.
KEEP_BEFORE = 160

Span = tuple[float, float]


def heard_speech(diarizer: Any, pieces: Iterable[Any]) -> list[Span]:
    """Return where senko's Silero VAD hears speech in the pieces (seconds), the same
    stretches as its ``_perform_vad`` over the whole recording."""
    import numpy as np
    import torch
    from silero_vad import get_speech_timestamps_from_probs

    model = diarizer.vad_model_silero
    model.reset_states()
    probs: list[float] = []
    held = np.empty(0, dtype=np.float32)
    total = 0
    diarizer._set_torch_num_threads(1)  # Silero is single-threaded (senko does the same)
    try:
        with torch.no_grad():
            for piece in pieces:
                total += len(piece)
                held = np.concatenate([held, normalized(diarizer, piece)])
                whole = len(held) - len(held) % VAD_WINDOW
                for at in range(0, whole, VAD_WINDOW):
                    window = torch.from_numpy(held[at : at + VAD_WINDOW])
                    probs.append(model(window, SAMPLING_RATE).item())
                held = held[whole:]
            if len(held):  # the last window, zero-padded as Silero pads it
                tail = torch.nn.functional.pad(torch.from_numpy(held), (0, VAD_WINDOW - len(held)))
                probs.append(model(tail, SAMPLING_RATE).item())
    finally:
        diarizer._set_torch_num_threads()
    stamps = get_speech_timestamps_from_probs(
        probs,
        sampling_rate=SAMPLING_RATE,
        threshold=0.55,  # senko's settings in _perform_vad
        min_speech_duration_ms=250,
        min_silence_duration_ms=100,
        return_seconds=False,
        audio_length_samples=total,
        step=1,
    )
    return [(float(s["start"]) / SAMPLING_RATE, float(s["end"]) / SAMPLING_RATE) for s in stamps]


def window_embeddings(diarizer: Any, pieces: Iterable[Any], windows: Sequence[Span]) -> Any:
    """Return senko's speaker embedding of each window (one row each, in order) from the
    pieces of the recording. ``windows`` must be ordered by their ends, with starts that
    never go back (what :func:`dropscribe.speakers.voices.windows` gives)."""
    import numpy as np

    ends = [end * SAMPLING_RATE for _, end in windows]
    audio = Audio()
    waiting: list[Any] = []  # features of windows whose group of 64 is not complete yet
    embedded: list[Any] = []
    done = 0
    for piece in pieces:
        audio.extend(normalized(diarizer, piece))
        ready = bisect.bisect_right(ends, audio.end - 1, lo=done)
        waiting += audio.features(diarizer, windows[done:ready])
        done = ready
        while len(waiting) >= EMBEDDING_GROUP:
            embedded.append(embeddings(diarizer, waiting[:EMBEDDING_GROUP]))
            del waiting[:EMBEDDING_GROUP]
        if done < len(windows):
            audio.drop_before(int(windows[done][0] * SAMPLING_RATE) - KEEP_BEFORE)
    # Windows that run past the end of the recording: senko cuts them at its end.
    waiting += audio.features(diarizer, windows[done:])
    for at in range(0, len(waiting), EMBEDDING_GROUP):
        embedded.append(embeddings(diarizer, waiting[at : at + EMBEDDING_GROUP]))
    return np.vstack(embedded)


class Audio:
    """The samples of a recording from ``start`` (a sample index) to ``end``."""

    def __init__(self) -> None:
        import numpy as np

        self.start = 0
        self.samples = np.empty(0, dtype=np.float32)

    @property
    def end(self) -> int:
        """Return the index of the sample after the last one held."""
        return self.start + len(self.samples)

    def extend(self, piece: Any) -> None:
        """Hold the next piece too."""
        import numpy as np

        self.samples = np.concatenate([self.samples, piece])

    def drop_before(self, sample: int) -> None:
        """Let go of the samples before index ``sample``."""
        cut = min(max(0, sample - self.start), len(self.samples))
        if cut:
            self.samples = self.samples[cut:].copy()
            self.start += cut

    def features(self, diarizer: Any, windows: Sequence[Span]) -> list[Any]:
        """Return senko's filterbank features (frames x mel bins) of each window, which must
        lie in the samples held (or run past the recording's end)."""
        if not windows:
            return []
        flat, frames, offsets, dim = diarizer._extract_fbank_features(
            self.samples, list(windows), sample_offset=self.start
        )
        return [
            flat[int(at) : int(at) + int(count) * dim].reshape(int(count), dim).copy()
            for count, at in zip(frames, offsets, strict=True)
        ]


def embeddings(diarizer: Any, features: Sequence[Any]) -> Any:
    """Return senko's embeddings of the windows whose features are given (at most 64: one
    batch of its model, padded to the longest)."""
    import numpy as np

    frames = np.asarray([item.shape[0] for item in features], dtype=np.int64)
    dim = int(features[0].shape[1])
    offsets = [int(at) for at in np.cumsum(np.r_[0, frames[:-1]]) * dim]
    flat = np.concatenate([item.ravel() for item in features])
    return diarizer._generate_embeddings(flat, frames, offsets, dim)


def normalized(diarizer: Any, piece: Any) -> Any:
    """Return the piece as senko checks and converts samples (finite, within [-1, 1])."""
    return diarizer._normalize_audio_samples(piece, SAMPLING_RATE)
