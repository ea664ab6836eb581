"""A multilingual model (Whisper base, verified: see support.multilingual_model) detects the
language of each half of multilingual.mp3 when none is given, says how sure it is, and
transcribes it in that language."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dropscribe.engine.errors import EngineError
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.server.embedded import EmbeddedServer
from support import tiyaro_flow as flow
from support.multilingual_model import assembled
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
REFERENCES = json.loads((SPEECH / "references.json").read_text())["multilingual.mp3"]
#: Where the German half of multilingual.mp3 begins, in seconds.
GERMAN_STARTS_AT = 30.5
#: Detected languages came with probabilities of 0.996 (en) and 0.999 (de).
MIN_PROBABILITY = 0.9
#: Whisper base on the German half: WER measured 0.21 (compound words split, a few words
#: misheard; 0.02 on the English half); the German reference "may differ in a few words" from
#: the reading.
MAX_WER = 0.35

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(assembled(tmp_path_factory.mktemp("whisper-base")))


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine()


def cut(tmp_path: Path, name: str, *span: str) -> Path:
    out = tmp_path / name
    source = str(SPEECH / "multilingual.mp3")
    subprocess.run(["ffmpeg", "-loglevel", "error", *span, "-i", source, str(out)], check=True)
    return out


def test_engine_multilingual_model_detects_english(
    engine: WhisperEngine, base_model: str, tmp_path: Path
) -> None:
    # The first 10 s of the English half: enough to detect, quicker to decode.
    result = engine.transcribe(base_model, cut(tmp_path, "en.wav", "-t", "10"), {}, never)
    assert result["language"] == "en"
    assert (result["language_probability"] or 0.0) >= MIN_PROBABILITY


def test_engine_multilingual_model_detects_german_and_transcribes_it(
    engine: WhisperEngine, base_model: str, tmp_path: Path
) -> None:
    german = cut(tmp_path, "de.wav", "-ss", str(GERMAN_STARTS_AT))
    result = engine.transcribe(base_model, german, {}, never)
    assert result["language"] == "de"
    assert (result["language_probability"] or 0.0) >= MIN_PROBABILITY
    reference = next(s for s in REFERENCES["reference_segments"] if s["language"] == "de")
    assert word_error_rate(reference["text"], result["text"]) <= MAX_WER


def test_engine_given_language_probability_is_certain(engine: WhisperEngine) -> None:
    args: dict[str, object] = {"language": "en"}
    result = engine.transcribe("bundled", SPEECH / "jfk.flac", args, never)
    assert (result["language"], result["language_probability"]) == ("en", 1.0)


#: What the engine answers a language the English-only bundled model cannot know.
ENGLISH_ONLY = "language 'de' needs a multilingual model; tiny.en knows English only"


def test_engine_english_only_model_without_language_records_english_not_detected(
    engine: WhisperEngine,
) -> None:
    result = engine.transcribe("bundled", SPEECH / "jfk.flac", {}, never)
    assert (result["language"], result["language_probability"]) == ("en", None)


def test_engine_english_only_model_batch_without_language_records_english_not_detected(
    engine: WhisperEngine,
) -> None:
    results = engine.transcribe_many("bundled", [SPEECH / "jfk.flac"], {}, never)
    assert [(r["language"], r["language_probability"]) for r in results if isinstance(r, dict)] == [
        ("en", None)
    ]


def test_engine_english_only_model_given_another_language_refuses_it(
    engine: WhisperEngine,
) -> None:
    with pytest.raises(EngineError, match=ENGLISH_ONLY):
        engine.transcribe("bundled", SPEECH / "jfk.flac", {"language": "de"}, never)


def test_engine_english_only_model_batch_given_another_language_refuses_each(
    engine: WhisperEngine,
) -> None:
    audios = [SPEECH / "jfk.flac", SPEECH / "OSR_us_000_0034_8k.wav"]
    results = engine.transcribe_many("bundled", audios, {"language": "de"}, never)
    refused = [r for r in results if isinstance(r, EngineError) and ENGLISH_ONLY in str(r)]
    assert len(refused) == len(audios)


def test_server_english_only_model_given_another_language_fails_the_job_saying_why(
    embedded_server: EmbeddedServer,
) -> None:
    body = flow.transcribe(
        embedded_server.base_url,
        embedded_server.options.token,
        SPEECH / "jfk.flac",
        {"language": "de"},
    )
    assert body["status"] == "failed"
    assert ENGLISH_ONLY in body["error"]
    assert body.get("result") is None


def test_engine_multilingual_batch_each_recording_gets_its_own_language(
    engine: WhisperEngine, base_model: str, tmp_path: Path
) -> None:
    english = cut(tmp_path, "en.wav", "-t", "10")
    german = cut(tmp_path, "de.wav", "-ss", str(GERMAN_STARTS_AT), "-t", "10")
    results = engine.transcribe_many(base_model, [english, german], {}, never)
    assert [r["language"] for r in results if isinstance(r, dict)] == ["en", "de"]
