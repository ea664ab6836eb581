"""The job lifecycle over real HTTP, with a fake engine: shapes, order, cancel, idempotency."""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest
import requests

from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from support import tiyaro_flow as flow
from support.server_doubles import TOKEN, FakeEngine

TIMEOUT = 10.0
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def upload_file(base: str, audio: Path) -> str:
    url = flow.get_upload_url(base, TOKEN, audio.suffix.lstrip("."))
    flow.upload(url, audio)
    return url


def health(base: str) -> dict[str, int]:
    body: dict[str, int] = requests.get(f"{base}/healthz", timeout=TIMEOUT).json()
    return body


def test_submit_returns_accepted_response_with_poll_url(
    fake_server: EmbeddedServer, speech_file: Path
) -> None:
    response = flow.submit(
        fake_server.base_url, TOKEN, upload_file(fake_server.base_url, speech_file)
    )
    assert response["status"] == "accepted"
    assert response["model"] == "fake-bundled"
    assert ISO_UTC.match(response["acceptedAt"])
    assert response["startedAt"] is None and response["completedAt"] is None
    assert response["result"] is None
    assert response["urls"]["GET"] == f"{fake_server.base_url}/v1/async/requests/{response['id']}"


def test_poll_after_success_returns_whisper_shaped_result(
    fake_server: EmbeddedServer, speech_file: Path
) -> None:
    body = flow.transcribe(fake_server.base_url, TOKEN, speech_file)
    assert body["status"] == "success"
    assert set(body) == {
        "id",
        "model",
        "status",
        "acceptedAt",
        "startedAt",
        "completedAt",
        "result",
    }
    assert body["result"]["text"] == "hello world"
    assert body["result"]["segments"][0]["text"] == " hello world"
    assert body["result"]["language"] == "en"
    assert ISO_UTC.match(body["startedAt"]) and ISO_UTC.match(body["completedAt"])


def test_submit_seed_input_maps_to_engine_arguments(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    flow.transcribe(fake_server.base_url, TOKEN, speech_file)
    _, args = fake_engine.calls[0]
    assert args["temperature"] == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert args["log_prob_threshold"] == -1.0
    assert args["suppress_tokens"] == [-1]
    assert args["beam_size"] == 5 and args["best_of"] == 5 and args["patience"] == 1.0
    assert "length_penalty" not in args and "initial_prompt" not in args


def test_undecodable_upload_fails_with_engine_message(
    fake_server: EmbeddedServer, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"BAD not audio")
    body = flow.transcribe(fake_server.base_url, TOKEN, junk)
    assert body["status"] == "failed"
    assert "could not be decoded as audio" in body["error"]
    assert body["result"] is None


def test_same_idempotency_key_twice_returns_one_job_one_engine_run(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    base = fake_server.base_url
    url = upload_file(base, speech_file)
    headers = {**flow.headers(TOKEN), "Idempotency-Key": "inbox/a.wav@1"}
    path = base + "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
    first = requests.post(path, json={"URL": url}, headers=headers, timeout=TIMEOUT)
    flow.wait_until_final(first.json()["response"]["urls"]["GET"], TOKEN)
    second = requests.post(path, json={"URL": url}, headers=headers, timeout=TIMEOUT)
    assert second.status_code == 202
    assert second.json()["response"]["id"] == first.json()["response"]["id"]
    assert second.json()["response"]["status"] == "success"
    assert len(fake_engine.calls) == 1
    assert health(base)["submissions"] == 1 and health(base)["engine_runs"] == 1


def test_same_idempotency_key_with_the_upload_url_at_a_new_address_is_the_same_request(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    # The embedded server listens on a new port at every start, so a submission re-sent after
    # a restart names the same upload at another address: it is the same request.
    base = fake_server.base_url
    url = upload_file(base, speech_file)
    assert "//127.0.0.1:" in url
    elsewhere = url.replace("//127.0.0.1:", "//localhost:", 1)
    headers = {**flow.headers(TOKEN), "Idempotency-Key": "inbox/a.wav@2"}
    path = base + "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
    first = requests.post(path, json={"URL": url}, headers=headers, timeout=TIMEOUT)
    second = requests.post(path, json={"URL": elsewhere}, headers=headers, timeout=TIMEOUT)
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert second.json()["response"]["id"] == first.json()["response"]["id"]
    flow.wait_until_final(first.json()["response"]["urls"]["GET"], TOKEN)
    assert len(fake_engine.calls) == 1


def test_jobs_run_in_submission_order(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    base = fake_server.base_url
    fake_engine.release.clear()
    polls = []
    for name in ("one", "two", "three"):
        audio = tmp_path / f"{name}.wav"
        audio.write_text(name)
        polls.append(flow.submit(base, TOKEN, upload_file(base, audio))["urls"]["GET"])
    assert fake_engine.started.wait(TIMEOUT)
    assert health(base)["queued"] == 2
    fake_engine.release.set()
    texts = [flow.wait_until_final(poll, TOKEN)["result"]["text"] for poll in polls]
    assert texts == ["one", "two", "three"]
    assert [audio.read_text() for audio, _ in fake_engine.calls] == ["one", "two", "three"]


def test_cancel_processing_job_interrupts_engine_and_stays_cancelled(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    fake_engine.release.clear()
    base = fake_server.base_url
    poll = flow.submit(base, TOKEN, upload_file(base, speech_file))["urls"]["GET"]
    assert fake_engine.started.wait(TIMEOUT)
    resp = requests.delete(poll, headers=flow.headers(TOKEN), timeout=TIMEOUT)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert fake_engine.interrupted.wait(TIMEOUT)
    body = flow.wait_until_final(poll, TOKEN)
    assert body["status"] == "cancelled" and body["result"] is None
    assert ISO_UTC.match(body["completedAt"])


def test_cancel_queued_job_never_reaches_engine(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    fake_engine.release.clear()
    base = fake_server.base_url
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"
    first.write_text("first")
    second.write_text("second")
    running = flow.submit(base, TOKEN, upload_file(base, first))["urls"]["GET"]
    queued = flow.submit(base, TOKEN, upload_file(base, second))["urls"]["GET"]
    assert fake_engine.started.wait(TIMEOUT)
    assert requests.delete(queued, headers=flow.headers(TOKEN), timeout=TIMEOUT).ok
    fake_engine.release.set()
    assert flow.wait_until_final(running, TOKEN)["status"] == "success"
    assert flow.wait_until_final(queued, TOKEN)["status"] == "cancelled"
    assert [audio.read_text() for audio, _ in fake_engine.calls] == ["first"]


def test_stop_while_processing_runs_job_at_next_start(
    tmp_path: Path, fake_engine: FakeEngine, speech_file: Path
) -> None:
    options = ServerOptions(tmp_path / "data", port=0, token=TOKEN)
    server = EmbeddedServer(options, engine=fake_engine)
    server.start()
    fake_engine.release.clear()
    job_id = flow.submit(server.base_url, TOKEN, upload_file(server.base_url, speech_file))["id"]
    assert fake_engine.started.wait(TIMEOUT)
    server.stop()
    fake_engine.release.set()
    with EmbeddedServer(options, engine=fake_engine) as again:
        body = flow.wait_until_final(f"{again.base_url}/v1/async/requests/{job_id}", TOKEN)
    assert body["status"] == "success"
    assert len(fake_engine.calls) == 2


def test_upload_url_survives_restart_with_persisted_secret(
    tmp_path: Path, fake_engine: FakeEngine, speech_file: Path
) -> None:
    options = ServerOptions(tmp_path / "data", token=TOKEN)
    with EmbeddedServer(options, engine=fake_engine) as server:
        url = flow.get_upload_url(server.base_url, TOKEN, "wav")
    secret = options.data_dir / "presign.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    with EmbeddedServer(options, engine=fake_engine) as again:
        moved = url.replace(url.split("/v1/")[0], again.base_url)
        flow.upload(moved, speech_file)


def test_healthz_reports_model_and_counters(fake_server: EmbeddedServer) -> None:
    body = health(fake_server.base_url)
    assert body == {
        "status": "ok",
        "model": "fake-bundled",
        "models": {name: "fake-bundled" for name in
                   ("whisper-tiny", "whisper-small", "whisper-medium", "whisper-large")},
        "submissions": 0,
        "engine_runs": 0,
        "queued": 0,
        "workers": {"configured": 1, "alive": 1, "restarts": 0, "crashed_jobs": 0},
    }  # fmt: skip


def test_model_map_routes_model_path_to_its_model(
    tmp_path: Path, fake_engine: FakeEngine, speech_file: Path
) -> None:
    options = ServerOptions(tmp_path / "d", token=TOKEN, model_map={"whisper-large": "big"})
    with EmbeddedServer(options, engine=fake_engine) as server:
        body = flow.transcribe(server.base_url, TOKEN, speech_file)
    assert body["model"] == "fake-big"


def poll_waiting(url: str, wait: float) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    answer = requests.get(
        url, params={"wait": wait}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    return answer.json(), time.monotonic() - started


def test_long_poll_answers_as_soon_as_the_job_finishes(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    fake_engine.release.clear()
    base = fake_server.base_url
    job = flow.submit(base, TOKEN, upload_file(base, speech_file))
    assert fake_engine.started.wait(TIMEOUT)
    threading.Timer(0.5, fake_engine.release.set).start()
    body, took = poll_waiting(job["urls"]["GET"], wait=8)
    assert body["status"] == "success"
    assert 0.4 < took < 3.0


def test_long_poll_returns_the_unfinished_job_when_the_wait_ends(
    fake_server: EmbeddedServer, fake_engine: FakeEngine, speech_file: Path
) -> None:
    fake_engine.release.clear()
    base = fake_server.base_url
    job = flow.submit(base, TOKEN, upload_file(base, speech_file))
    assert fake_engine.started.wait(TIMEOUT)
    try:
        body, took = poll_waiting(job["urls"]["GET"], wait=0.6)
    finally:
        fake_engine.release.set()
    assert body["status"] == "processing"
    assert 0.5 < took < 3.0


def test_long_poll_wait_beyond_the_maximum_is_served(
    fake_server: EmbeddedServer, speech_file: Path
) -> None:
    base = fake_server.base_url
    job = flow.submit(base, TOKEN, upload_file(base, speech_file))
    answer = requests.get(
        job["urls"]["GET"],
        params={"wait": 60},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "success"


def test_failed_job_is_logged_with_its_error(
    fake_server: EmbeddedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"BAD not audio")
    with caplog.at_level(logging.WARNING, logger="dropscribe.server.assembly"):
        body = flow.transcribe(fake_server.base_url, TOKEN, junk)
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failures == [f"job {body['id']} (whisper-large) failed: {body['error']}"]


def test_finished_job_upload_is_deleted_when_not_kept(
    tmp_path: Path, fake_engine: FakeEngine, speech_file: Path
) -> None:
    options = ServerOptions(tmp_path / "data", token=TOKEN, keep_finished_uploads=False)
    with EmbeddedServer(options, engine=fake_engine) as server:
        url = upload_file(server.base_url, speech_file)
        replay = {"input": flow.whisper_input(), "URL": url}
        keyed = {**flow.headers(TOKEN), "Idempotency-Key": "k-1"}
        submit_url = server.base_url + flow.WHISPER_LARGE_PATH
        first = requests.post(submit_url, headers=keyed, json=replay, timeout=TIMEOUT)
        body = flow.wait_until_final(first.json()["response"]["urls"]["GET"], TOKEN)
        again = requests.post(submit_url, headers=keyed, json=replay, timeout=TIMEOUT)
    assert body["status"] == "success" and body["result"]["text"] == "hello world"
    assert list((tmp_path / "data" / "uploads").iterdir()) == []
    # A replayed submit still finds its job, finished, with no second engine run.
    assert again.status_code == 202
    assert again.json()["response"]["id"] == body["id"]
    assert len(fake_engine.calls) == 1


def test_finished_job_upload_is_kept_by_default(
    fake_server: EmbeddedServer, speech_file: Path
) -> None:
    flow.transcribe(fake_server.base_url, TOKEN, speech_file)
    assert len(list((fake_server.options.data_dir / "uploads").iterdir())) == 1
