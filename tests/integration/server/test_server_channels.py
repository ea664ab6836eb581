"""Call recordings through the real engine: each stereo channel transcribed on its own, the
segments interleaved by time with their channel; a recording without two different channels
transcribed mixed, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio

from dropscribe.core.transcript import Transcript
from dropscribe.engine.audio import AudioProblem
from dropscribe.engine.channels import channel_pieces, channels_differ
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.pieces import Sizes
from dropscribe.engine.whisper import WhisperEngine
from support.bombs import understating_mp3
from support.dialogue import write_wav
from support.long_audio import call_recording, fixture_samples
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
STEREO = SPEECH / "stereo_diarization.wav"
REFERENCE = json.loads((SPEECH / "references.json").read_text())["stereo_diarization.wav"]
ARGS: TranscribeArgs = {"language": "en", "split_channels": True}
#: The two parties talk over each other for two seconds; each channel alone is clean speech.
MAX_WER = 0.10
#: Pieces small enough that each channel of a 40 s call is cut a few times.
SMALL = Sizes(piece=12.0, search=6.0, lookahead=3.0)
#: Word error rate allowed between a channel cut in pieces and the same channel decoded whole.
MAX_PIECED_DISAGREEMENT = 0.06

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine()


def channel_text(transcript: Transcript, channel: int) -> str:
    return "".join(s["text"] for s in transcript["segments"] if s["channel"] == channel)


def test_engine_split_channels_each_party_transcribed_apart(engine: WhisperEngine) -> None:
    transcript = engine.transcribe("bundled", STEREO, ARGS, never)
    for channel, side in ((1, "left"), (2, "right")):
        reference = REFERENCE["reference_channels"][side]
        wer = word_error_rate(reference, channel_text(transcript, channel))
        assert wer <= MAX_WER, (side, channel_text(transcript, channel))


def test_engine_split_channels_segments_interleaved_by_start(engine: WhisperEngine) -> None:
    segments = engine.transcribe("bundled", STEREO, ARGS, never)["segments"]
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert [s["id"] for s in segments] == list(range(1, len(segments) + 1))
    assert {s["channel"] for s in segments} == {1, 2}


def test_engine_split_channels_batch_path_gives_the_same_channels(engine: WhisperEngine) -> None:
    (transcript,) = engine.transcribe_many("bundled", [STEREO], ARGS, never)
    assert isinstance(transcript, dict)
    assert {s["channel"] for s in transcript["segments"]} == {1, 2}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("OSR_us_000_0034_8k.wav", "the recording has 1 channel, not two"),
        ("jfk.flac", "both channels of the recording carry the same audio"),  # stereo, copied
    ],
)
def test_engine_split_channels_not_a_call_recording_transcribed_mixed_saying_why(
    engine: WhisperEngine, name: str, reason: str
) -> None:
    transcript = engine.transcribe("bundled", SPEECH / name, ARGS, never)
    assert reason in transcript["split_channels_problem"]
    assert transcript["text"]
    assert all("channel" not in segment for segment in transcript["segments"])


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a 40 s call: the Harvard sentences on the left; Kennedy, twice, on the right
    while the left is quiet, so each channel holds speech to cut in pieces."""
    osr, jfk = fixture_samples("OSR_us_000_0034_8k.wav"), fixture_samples("jfk.flac")
    silence = np.zeros(4 * 16000, np.float32)
    right = np.concatenate([silence, jfk, silence, jfk])
    path = tmp_path_factory.mktemp("call") / "call.flac"
    return call_recording(osr, right, path)


def test_channel_pieces_laid_end_to_end_same_as_faster_whispers_split_stereo(
    long_call: Path,
) -> None:
    pieces = list(channel_pieces(long_call, 3600.0, never, sizes=SMALL))
    assert {p.channel for p in pieces[:-2]} == {1, 2}
    assert len(pieces) >= 6  # each channel cut at least twice
    left, right = (np.concatenate([p.samples for p in pieces if p.channel == n]) for n in (1, 2))
    expected_left, expected_right = decode_audio(str(long_call), 16000, split_stereo=True)
    assert len(left) == len(right) == len(expected_left)
    # faster-whisper goes through 16-bit samples, one step of which is 1/32768.
    assert np.allclose(left, expected_left, atol=1e-3)
    assert np.allclose(right, expected_right, atol=1e-3)


def test_engine_split_channels_in_pieces_each_channel_as_if_decoded_whole(
    engine: WhisperEngine, long_call: Path, tmp_path: Path
) -> None:
    pieced = WhisperEngine(sizes=SMALL).transcribe("bundled", long_call, ARGS, never)
    left, right = decode_audio(str(long_call), 16000, split_stereo=True)
    for channel, samples in ((1, left), (2, right)):
        alone = engine.transcribe(
            "bundled", write_wav(tmp_path / f"{channel}.wav", samples), {"language": "en"}, never
        )
        wer = word_error_rate(alone["text"], channel_text(pieced, channel))
        assert wer <= MAX_PIECED_DISAGREEMENT, (channel, channel_text(pieced, channel))
    segments = pieced["segments"]
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert {s["channel"] for s in segments} == {1, 2}


def test_channels_differ_header_that_understates_refused_while_decoding(tmp_path: Path) -> None:
    # The header claims 8 s, under the 30 s limit; the file holds 71 s.
    with pytest.raises(AudioProblem, match="long; this server accepts at most 30 s"):
        channels_differ(understating_mp3(tmp_path, channels=2), 30.0, never)


def test_channel_pieces_header_that_understates_refused_while_decoding(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="long; this server accepts at most 30 s"):
        list(channel_pieces(understating_mp3(tmp_path, channels=2), 30.0, never))
