"""Whisper's encoder on a CPU: a batch of windows is encoded a few windows at a time.

The encoder turns each 30 s window into 1,500 frames and every layer compares each frame with
every other, so its attention holds 1,500 x 1,500 scores per head and window. On a CPU these
stop fitting the caches as a batch grows: tiny.en, int8, 2 threads, measured per window, 0.22 s
alone or two at a time, 0.25 s four at a time, 0.28 s eight at a time. The decoder is the part
that gains from batching (its steps are small), so the batched pipeline still generates from all
windows at once; only the encoding is cut into pieces, and the pieces' outputs are joined into
the one encoder output that generation takes. The output is the same either way.

On a GPU the encoder gains from the whole batch, so nothing is cut there.
"""

from __future__ import annotations

from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

#: Windows encoded in one call on a CPU (see the module's figures).
CPU_ENCODE_WINDOWS = 2


def pieces(count: int, size: int) -> list[slice]:
    """Return slices that cut ``count`` items into runs of at most ``size``, in order."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


class PieceEncodingModel(WhisperModel):  # type: ignore[misc]  # faster-whisper ships no types
    """A WhisperModel whose encoder takes at most CPU_ENCODE_WINDOWS windows per call on a CPU."""

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        """Return the encoder output for a window (``[n_mels, frames]``) or a batch of them."""
        if self.model.device != "cpu" or features.ndim == 2:
            return super().encode(features)
        cuts = pieces(features.shape[0], CPU_ENCODE_WINDOWS)
        if len(cuts) == 1:
            return super().encode(features)
        whole = super().encode
        outputs: list[Any] = [np.asarray(whole(features[cut])) for cut in cuts]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(outputs)))
