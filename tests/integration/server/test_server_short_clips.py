"""What the real engine decodes ahead and batches: only recordings of at most SHORT_SECONDS,
whatever their header says, and each batch's windows encoded a few at a time on the CPU."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper import WhisperModel

from dropscribe.engine.batching import SHORT_SECONDS, Clip
from dropscribe.engine.clips import short_clip
from dropscribe.engine.encoder import CPU_ENCODE_WINDOWS, PieceEncodingModel, pieces
from dropscribe.engine.errors import EngineError
from dropscribe.engine.loading import model_location
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.whisper import WhisperEngine
from support.bombs import silent_wav, understating_mp3
from support.server_process import SPEECH
from support.wer import word_error_rate

REFERENCES = json.loads((SPEECH / "references.json").read_text())
ARGS: TranscribeArgs = {"language": "en", "beam_size": 5, "temperature": (0.0, 0.2, 0.4)}
HOUR = 3600.0

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


def test_short_clip_short_recording_decoded_with_its_speech() -> None:
    clip = short_clip(SPEECH / "jfk.flac", HOUR)
    assert isinstance(clip, Clip)
    assert 10.5 < clip.seconds < 11.5
    assert clip.speech


def test_short_clip_longer_by_its_header_left_for_its_turn(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "long.wav", 8000, int(8000 * (SHORT_SECONDS + 10)))
    assert short_clip(audio, HOUR) is None


def test_short_clip_header_that_understates_left_for_its_turn(tmp_path: Path) -> None:
    assert short_clip(understating_mp3(tmp_path), HOUR) is None


def test_short_clip_header_without_duration_decoded(tmp_path: Path) -> None:
    # WebM written as it is recorded (to a pipe, as a browser's MediaRecorder does) says no
    # duration in its header.
    webm = tmp_path / "recorded.webm"
    with webm.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=300:d=5",
             "-c:a", "libopus", "-f", "webm", "pipe:1"],
            stdout=out, check=True,
        )  # fmt: skip
    clip = short_clip(webm, HOUR)
    assert isinstance(clip, Clip)
    assert 4.5 < clip.seconds < 5.5


def test_short_clip_not_audio_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    assert isinstance(short_clip(junk, HOUR), EngineError)


def test_short_clip_longer_than_the_server_limit_is_an_error(tmp_path: Path) -> None:
    too_long = short_clip(silent_wav(tmp_path / "a.wav", 8000, 8000 * 30), 20.0)
    assert isinstance(too_long, EngineError)
    assert "at most 20 s" in str(too_long)


def test_short_clip_understating_past_the_server_limit_is_an_error(tmp_path: Path) -> None:
    # It claims 8 s, under the 20 s limit; decoding finds more and refuses it.
    too_long = short_clip(understating_mp3(tmp_path), 20.0)
    assert isinstance(too_long, EngineError)
    assert "at most 20 s" in str(too_long)


def test_engine_shares_batches_by_the_header(tmp_path: Path) -> None:
    engine = WhisperEngine()
    long = silent_wav(tmp_path / "long.wav", 8000, int(8000 * (SHORT_SECONDS + 10)))
    assert engine.shares_batches(SPEECH / "jfk.flac")
    assert not engine.shares_batches(long)


def test_engine_batch_with_a_long_recording_transcribes_each(tmp_path: Path) -> None:
    # Seven JFKs end to end: 77 s, too long to share a batch; it is transcribed on its own.
    long = tmp_path / "long.wav"
    subprocess.run(["sox", *[str(SPEECH / "jfk.flac")] * 7, "-r", "16000", str(long)], check=True)
    assert short_clip(long, HOUR) is None
    short, reference = SPEECH / "jfk.flac", REFERENCES["jfk.flac"]["reference"]
    results = WhisperEngine().transcribe_many("bundled", [long, short, long], ARGS, never)
    texts = [result["text"] for result in results if not isinstance(result, EngineError)]
    assert len(texts) == 3
    assert word_error_rate(" ".join([reference] * 7), texts[0]) <= 0.10
    assert word_error_rate(reference, texts[1]) <= 0.10
    assert texts[2] == texts[0]


def test_pieces_cut_in_runs_of_at_most_size() -> None:
    assert pieces(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert pieces(2, 2) == [slice(0, 2)]
    assert pieces(0, 2) == []


class EncodeSizes:
    """The real CTranslate2 model, with the batch size of each encode call written down."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.sizes: list[int] = []

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        self.sizes.append(features.shape[0])
        return self._model.encode(features, to_cpu=to_cpu)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def test_piece_encoding_same_output_as_one_call_in_pieces_of_two() -> None:
    location = model_location("bundled")
    whole = WhisperModel(location, device="cpu", compute_type="int8", cpu_threads=2)
    cut = PieceEncodingModel(location, device="cpu", compute_type="int8", cpu_threads=2)
    sizes = EncodeSizes(cut.model)
    cut.model = sizes
    features = np.random.default_rng(7).normal(0, 0.5, (5, 80, 3000)).astype(np.float32)
    expected, got = np.asarray(whole.encode(features)), np.asarray(cut.encode(features))
    assert got.shape == expected.shape == (5, 1500, 384)
    assert np.allclose(got, expected, atol=1e-4)
    assert sizes.sizes == [CPU_ENCODE_WINDOWS, CPU_ENCODE_WINDOWS, 1]
