"""OpenAI's transcription endpoint on the embedded server, driven by the official ``openai``
package and by curl: every response format on the real engine, and every bound on a fake one."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import openai
import pytest
import requests

from dropscribe.server.embedded import EmbeddedServer
from support import subrip, webvtt
from support.server_doubles import MAX_UPLOAD_BYTES, TOKEN, FakeEngine
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
REFERENCES = json.loads((SPEECH / "references.json").read_text())
JFK = SPEECH / "jfk.flac"

#: Word error rate the issue accepts on the recorded fixtures, as with the protocol's flow.
MAX_FIXTURE_WER = 0.10

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TIMEOUT = 60.0


def client_of(server: EmbeddedServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url + "/v1", api_key=server.options.token, max_retries=0
    )


def reference(name: str) -> str:
    return str(REFERENCES[name]["reference"])


@pytest.mark.slow
def test_openai_json_recorded_speech_wer_within_ten_percent(
    embedded_server: EmbeddedServer,
) -> None:
    answer = client_of(embedded_server).audio.transcriptions.create(model="whisper-1", file=JFK)
    assert word_error_rate(reference("jfk.flac"), answer.text) <= MAX_FIXTURE_WER


@pytest.mark.slow
def test_openai_text_is_the_transcript_alone(embedded_server: EmbeddedServer) -> None:
    text = client_of(embedded_server).audio.transcriptions.create(
        model="whisper-1", file=JFK, response_format="text"
    )
    assert isinstance(text, str) and not text.lstrip().startswith("{")
    assert word_error_rate(reference("jfk.flac"), text) <= MAX_FIXTURE_WER


@pytest.mark.slow
def test_openai_verbose_json_has_language_duration_and_segments(
    embedded_server: EmbeddedServer,
) -> None:
    answer = client_of(embedded_server).audio.transcriptions.create(
        model="whisper-1", file=JFK, response_format="verbose_json"
    )
    assert answer.language == "en"
    assert 10.0 <= answer.duration <= 11.5
    segments = answer.segments or []
    assert segments and segments[-1].end == answer.duration
    assert word_error_rate(reference("jfk.flac"), " ".join(s.text for s in segments)) <= 0.1
    assert answer.words is None


@pytest.mark.slow
def test_openai_word_granularity_gives_timed_words(embedded_server: EmbeddedServer) -> None:
    answer = client_of(embedded_server).audio.transcriptions.create(
        model="whisper-1",
        file=JFK,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    words = answer.words or []
    assert [word.word for word in words[:3]] == ["And", "so", "my"]
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))
    assert words[-1].end <= answer.duration + 0.5


@pytest.mark.slow
@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_openai_subtitles_parse_and_hold_the_speech(
    embedded_server: EmbeddedServer, response_format: str
) -> None:
    document = client_of(embedded_server).audio.transcriptions.create(
        model="whisper-1",
        file=JFK,
        response_format=response_format,  # type: ignore[call-overload]
    )
    parser = subrip.parse if response_format == "srt" else webvtt.parse
    cues = parser(str(document))
    assert cues and cues[0].start == 0.0 and 10.0 <= cues[-1].end <= 11.5
    heard = " ".join(cue.text for cue in cues)
    assert word_error_rate(reference("jfk.flac"), heard) <= MAX_FIXTURE_WER


@pytest.mark.slow
def test_openai_curl_as_in_the_readme_gets_subrip(embedded_server: EmbeddedServer) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is required (Debian package curl)"
    done = subprocess.run(
        [
            curl, "-sS", "--fail-with-body", embedded_server.base_url + TRANSCRIPTIONS,
            "-H", f"Authorization: Bearer {embedded_server.options.token}",
            "-F", f"file=@{JFK}", "-F", "model=whisper-1", "-F", "response_format=srt",
        ],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    cues = subrip.parse(done.stdout)
    assert word_error_rate(reference("jfk.flac"), " ".join(c.text for c in cues)) <= 0.1


def fake_client(server: EmbeddedServer, token: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=token, max_retries=0)


def test_openai_fake_engine_prompt_and_language_reach_the_engine(
    fake_server: EmbeddedServer, speech_file: Path, fake_engine: FakeEngine
) -> None:
    answer = fake_client(fake_server).audio.transcriptions.create(
        model="whisper-1", file=speech_file, language="en", prompt="Glossary: fox.",
        temperature=0.2,
    )  # fmt: skip
    assert answer.text == "hello world"
    ((_, args),) = fake_engine.calls
    assert args["language"] == "en" and args["initial_prompt"] == "Glossary: fox."
    assert args["temperature"] == (0.2,)


def test_openai_wrong_token_is_refused(fake_server: EmbeddedServer, speech_file: Path) -> None:
    with pytest.raises(openai.AuthenticationError):
        fake_client(fake_server, "not-the-token").audio.transcriptions.create(
            model="whisper-1", file=speech_file
        )


def test_openai_no_token_is_refused_before_the_body(fake_server: EmbeddedServer) -> None:
    # Announced larger than any limit: a server that read the body first would answer 413.
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": "9" * 12}
    resp = requests.post(
        fake_server.base_url + TRANSCRIPTIONS, headers=headers, data=b"", timeout=TIMEOUT
    )
    assert resp.status_code == 401, resp.text


def test_openai_upload_over_the_limit_is_413(fake_server: EmbeddedServer, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"x" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(openai.APIStatusError) as refused:
        fake_client(fake_server).audio.transcriptions.create(model="whisper-1", file=big)
    assert refused.value.status_code == 413
    assert str(MAX_UPLOAD_BYTES) in refused.value.response.json()["error"]


def test_openai_body_far_over_the_limit_is_413_from_its_length(
    fake_server: EmbeddedServer,
) -> None:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(MAX_UPLOAD_BYTES * 1000),
    }
    resp = requests.post(
        fake_server.base_url + TRANSCRIPTIONS, headers=headers, data=b"", timeout=TIMEOUT
    )
    assert resp.status_code == 413, resp.text


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"response_format": "xml"}, 400, ("response_format", "xml")),
        ({"timestamp_granularities[]": "word"}, 400, ("verbose_json",)),
        ({"timestamp_granularities[]": "letter"}, 400, ("letter",)),
        ({"temperature": "7"}, 422, ("temperature",)),
        ({"language": "e"}, 422, ("language",)),
    ],
)
def test_openai_bad_field_is_refused_by_name(
    fake_server: EmbeddedServer,
    speech_file: Path,
    fields: dict[str, str],
    status: int,
    words: tuple[str, ...],
) -> None:
    resp = post_form(fake_server, speech_file, fields)
    assert resp.status_code == status, resp.text
    for word in words:
        assert word in resp.json()["error"]


def test_openai_file_without_an_audio_extension_is_400(
    fake_server: EmbeddedServer, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"hello")
    resp = post_form(fake_server, notes, {})
    assert resp.status_code == 400 and "notes.txt" in resp.json()["error"], resp.text


def test_openai_missing_file_is_422(fake_server: EmbeddedServer) -> None:
    resp = requests.post(
        fake_server.base_url + TRANSCRIPTIONS,
        headers={"Authorization": f"Bearer {TOKEN}"},
        files={"model": (None, "whisper-1")},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 422 and "file" in resp.json()["error"], resp.text


def test_openai_undecodable_recording_is_422_with_the_reason(
    fake_server: EmbeddedServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"BAD audio")
    resp = post_form(fake_server, bad, {})
    assert resp.status_code == 422, resp.text
    assert "could not be decoded" in resp.json()["error"]


def test_openai_endpoint_is_listed_in_openapi(fake_server: EmbeddedServer) -> None:
    spec = requests.get(fake_server.base_url + "/openapi.json", timeout=TIMEOUT).json()
    operation = spec["paths"][TRANSCRIPTIONS]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"400", "401", "413", "422"} <= set(operation["responses"])


def post_form(server: EmbeddedServer, audio: Path, fields: dict[str, str]) -> requests.Response:
    form: dict[str, tuple[str | None, str | bytes]] = {"file": (audio.name, audio.read_bytes())}
    form |= {"model": (None, "whisper-1")} | {name: (None, v) for name, v in fields.items()}
    return requests.post(
        server.base_url + TRANSCRIPTIONS,
        headers={"Authorization": f"Bearer {TOKEN}"},
        files=form,
        timeout=TIMEOUT,
    )
