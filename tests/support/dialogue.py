"""Dialogues with known turns, cut from the recorded speech fixtures: a woman reading Harvard
sentences (OSR_us_000_0034_8k.wav) and John F. Kennedy (jfk.flac) take turns. Speaker
embeddings need real voices; espeak-ng's voices all sound alike to them.

:func:`dialogue` returns the samples and the true turns; :func:`write_wav` saves them as a
16 kHz mono 16-bit WAV, the daemon's and the diarizer's common ground.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from dropscribe.core.transcript import RemoteSegment
from dropscribe.engine.piece_helper import write_wav as write_pieces_wav

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
SAMPLING_RATE = 16000
#: Padding around each stretch of speech, and the shortest pause that ends one, in ms.
TIGHT_PAD_MS = 30
TIGHT_SILENCE_MS = 100
WOMAN = "OSR_us_000_0034_8k.wav"
MAN = "jfk.flac"

#: (fixture, start s, end s) of each turn, cut at pauses between sentences or phrases; the
#: two voices alternate. 29.5 s in all.
TURNS = (
    (WOMAN, 0.5, 6.5),
    (MAN, 0.0, 4.5),
    (WOMAN, 7.0, 13.5),
    (MAN, 4.5, 11.0),
    (WOMAN, 14.0, 20.0),
)


@dataclass(frozen=True)
class Spoken:
    """One true turn of a dialogue: start and end in seconds, and whose voice (fixture name)."""

    start: float
    end: float
    voice: str


def dialogue(turns: tuple[tuple[str, float, float], ...] = TURNS) -> tuple[Any, list[Spoken]]:
    """Return the dialogue's samples (16 kHz mono float32) and its true speech: the turns
    cut down to where voice activity detection (Silero, as the engine uses it) hears speech,
    so that the pauses inside a turn count for nobody."""
    samples, cuts = laid_turns(turns)
    return samples, speech_of(cuts, tight_speech(samples))


def tight_speech(samples: Any) -> list[tuple[float, float]]:
    """Return where Silero VAD hears speech, padded by 30 ms only (the engine pads by 400 ms
    so as not to clip a word; here the pauses must not count as anyone's speech)."""
    options = VadOptions(speech_pad_ms=TIGHT_PAD_MS, min_silence_duration_ms=TIGHT_SILENCE_MS)
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLING_RATE)
    return [(s["start"] / SAMPLING_RATE, s["end"] / SAMPLING_RATE) for s in stamps]


def speech_of(cuts: list[Spoken], speech: list[tuple[float, float]]) -> list[Spoken]:
    """Return the parts of each turn that lie inside the speech spans."""
    return [
        Spoken(max(a, cut.start), min(b, cut.end), cut.voice)
        for cut in cuts
        for a, b in speech
        if min(b, cut.end) > max(a, cut.start)
    ]


def laid_turns(turns: tuple[tuple[str, float, float], ...]) -> tuple[Any, list[Spoken]]:
    """Return the turns' audio end to end, and where each turn lies in it."""
    sources = {name: decode_audio(str(SPEECH / name), SAMPLING_RATE) for name, _, _ in turns}
    pieces, truth, at = [], [], 0.0
    for name, start, end in turns:
        piece = sources[name][int(start * SAMPLING_RATE) : int(end * SAMPLING_RATE)]
        pieces.append(piece)
        truth.append(Spoken(at, at + len(piece) / SAMPLING_RATE, name))
        at += len(piece) / SAMPLING_RATE
    return np.concatenate(pieces).astype(np.float32), truth


def write_wav(path: Path, samples: Any) -> Path:
    """Write float samples in [-1, 1] as a 16 kHz mono 16-bit WAV; return the path."""
    write_pieces_wav(path, samples)
    return path


def word_speakers(segments: Sequence[RemoteSegment]) -> list[tuple[float, float, str]]:
    """Return (start, end, speaker) of every word of a labelled transcript's segments (those
    without a speaker add none), as :func:`attributed_share` takes them."""
    return [
        (float(w["start"]), float(w["end"]), str(s["speaker"]))
        for s in segments
        if "speaker" in s
        for w in s.get("words", [])
    ]


def attributed_share(found: list[tuple[float, float, str]], truth: list[Spoken]) -> float:
    """Return the share of the true speech time whose found speaker is right, under the best
    one-to-one matching of found speakers to true voices (found: (start, end, speaker))."""
    overlap: dict[tuple[str, str], float] = {}
    for start, end, speaker in found:
        for turn in truth:
            seconds = max(0.0, min(end, turn.end) - max(start, turn.start))
            overlap[(speaker, turn.voice)] = overlap.get((speaker, turn.voice), 0.0) + seconds
    speakers = sorted({speaker for _, _, speaker in found})
    voices = sorted({turn.voice for turn in truth})
    return best_matching(overlap, speakers, voices) / sum(t.end - t.start for t in truth)


def best_matching(
    overlap: dict[tuple[str, str], float], speakers: list[str], voices: list[str]
) -> float:
    """Return the most overlap any one-to-one matching of speakers to voices reaches."""
    if not speakers or not voices:
        return 0.0
    first, rest = speakers[0], speakers[1:]
    skip = best_matching(overlap, rest, voices)
    taken = [
        overlap.get((first, voice), 0.0)
        + best_matching(overlap, rest, [v for v in voices if v != voice])
        for voice in voices
    ]
    return max([skip, *taken])


def write_repeated_wav(
    path: Path, samples: Any, truth: Sequence[Spoken], times: int
) -> tuple[Path, list[Spoken]]:
    """Write the dialogue ``times`` over, end to end, as a 16 kHz mono 16-bit WAV, one
    repetition at a time (a 3 h recording is never held whole); return the path and the true
    speech of it all. Each repetition's loudness differs a little and it carries faint noise
    of its own, so that no two windows of the recording are the same samples."""
    rng = np.random.default_rng(0)
    seconds = len(samples) / SAMPLING_RATE
    spoken: list[Spoken] = []
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLING_RATE)
        for n in range(times):
            noise = rng.normal(0.0, 1e-3, len(samples)).astype(np.float32)
            varied = samples * rng.uniform(0.8, 1.0) + noise
            out.writeframes((np.clip(varied, -1.0, 1.0) * 32767).astype("<i2").tobytes())
            shift = n * seconds
            spoken += [Spoken(t.start + shift, t.end + shift, t.voice) for t in truth]
    return path, spoken
