"""Webhooks end to end: a daemon announces its jobs to a loopback receiver, durably.

The receiver refuses the first deliveries; the daemon is SIGKILLed with deliveries pending and
started again: every event arrives, each once accepted, with the id it had before the kill,
and every signature verifies with the Standard Webhooks reference implementation.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from support.daemon import MakeDaemon, drop_all, wav_bytes
from support.webhook_receiver import TEST_SECRET, Received, WebhookReceiver

SECRET_ENV = "DROPSCRIBE_WEBHOOK_SECRET"
ALL_TOPICS = ["job.published", "job.failed", "file.rejected", "job.duplicate"]
#: Fast retries: the suite must not wait for production's 5 s.
FAST = {"first_retry_seconds": 0.2, "max_retry_seconds": 0.5, "timeout_seconds": 5}


def notify_section(url: str, **extra: Any) -> dict[str, Any]:
    hook = {"url": url, "events": ALL_TOPICS, "secret_env": SECRET_ENV}
    return {"webhooks": [hook], **FAST, **extra}


def verified(received: list[Received]) -> list[dict[str, Any]]:
    """Return the bodies of ``received``, each verified with the reference implementation."""
    checker = Webhook(TEST_SECRET)
    return [dict(checker.verify(r.body, r.headers)) for r in received]


def test_webhooks_refused_then_sigkill_every_event_delivered_with_stable_ids(
    make_daemon: MakeDaemon,
) -> None:
    with WebhookReceiver(statuses=[503] * 10_000) as receiver:
        daemon = make_daemon(notify=notify_section(receiver.url))
        daemon.extra_env[SECRET_ENV] = TEST_SECRET
        daemon.start_and_wait()
        files = {"team/a.wav": wav_bytes("a"), "b.wav": wav_bytes("b"), "empty.wav": b""}
        for folder in (daemon.root / "staging" / "team", daemon.inbox / "team"):
            folder.mkdir(parents=True)
        drop_all(daemon.root / "staging", daemon.inbox, files)
        daemon.wait_for_published(2)
        daemon.wait_for_event("job.failed")
        # Four events (two published, a failure and its refusal), each refused at least once.
        daemon.wait_for(
            lambda: len({r.headers["webhook-id"] for r in receiver.received}) == 4,
            what="a refused attempt at each of the four deliveries",
        )
        status = json.loads(daemon.run("status", "--json").stdout)
        assert status["deliveries"]["pending"] == 4
        daemon.signal(signal.SIGKILL)
        daemon.wait_exit()
        ids_before_kill = {r.headers["webhook-id"] for r in receiver.received}

        receiver.accept_all()  # the receiver is back
        daemon.start_and_wait()
        accepted = receiver.wait_for(4)
        assert daemon.stop() == 0

    events = verified(accepted)
    ids = [r.headers["webhook-id"] for r in accepted]
    assert sorted(ids) == sorted(ids_before_kill)  # the same ids, each accepted once
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert sorted(by_type) == ["file.rejected", "job.failed", "job.published"]
    published = {d["source"]: d for d in by_type["job.published"]}
    assert sorted(published) == ["b.wav", "team/a.wav"]
    assert sorted(published["team/a.wav"]["outputs"]) == [
        f"team/a.{ext}" for ext in ("json", "srt", "txt", "vtt")
    ]
    assert published["team/a.wav"]["request_id"] and published["team/a.wav"]["sha256"]
    assert by_type["job.failed"][0]["source"] == "empty.wav"
    assert by_type["job.failed"][0]["error"]
    assert by_type["file.rejected"][0]["job_id"] == by_type["job.failed"][0]["job_id"]
    status = json.loads(daemon.run("status", "--json").stdout)
    assert status["deliveries"]["pending"] == 0 == status["deliveries"]["abandoned"]


def test_webhooks_gone_receiver_abandons_and_status_lists_it(make_daemon: MakeDaemon) -> None:
    with WebhookReceiver(statuses=[410]) as receiver:
        daemon = make_daemon(notify=notify_section(receiver.url))
        daemon.extra_env[SECRET_ENV] = TEST_SECRET
        daemon.start_and_wait()
        drop_all(daemon.root / "staging", daemon.inbox, {"a.wav": wav_bytes("a")})
        (abandoned,) = daemon.wait_for_event("delivery.abandoned")
        assert daemon.stop() == 0

    assert abandoned["status"] == 410 and abandoned["topic"] == "job.published"
    assert len(receiver.received) == 1  # no retry after 410
    report = daemon.run("status").stdout
    assert "deliveries: 0 pending, 1 abandoned" in report
    assert "410 Gone" in report


def test_webhooks_secret_and_url_credentials_appear_in_no_log(make_daemon: MakeDaemon) -> None:
    password = "pa55-w0rd-in-the-url"
    with WebhookReceiver(statuses=[500]) as receiver:
        url = receiver.url.replace("http://", f"http://hook-user:{password}@")
        daemon = make_daemon(notify=notify_section(url))
        daemon.extra_env[SECRET_ENV] = TEST_SECRET
        daemon.start_and_wait()
        drop_all(daemon.root / "staging", daemon.inbox, {"a.wav": wav_bytes("a")})
        receiver.wait_for(1)
        (retry,) = daemon.events("delivery.retry")
        assert daemon.stop() == 0

    assert receiver.accepted()[0].headers["authorization"].startswith("Basic ")
    assert "[REDACTED]@127.0.0.1" in retry["url"]
    written = daemon.audit_log.read_text() + daemon.stderr_text()
    written += "".join(p.decode(errors="replace") for p in daemon.process_outputs())
    secret_b64 = TEST_SECRET.removeprefix("whsec_")
    assert password not in written and secret_b64 not in written
    state = b"".join(p.read_bytes() for p in daemon.path("state").glob("state.db*"))
    assert password.encode() not in state and secret_b64.encode() not in state


def test_webhooks_missing_secret_is_a_config_error_listed_with_the_rest(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    daemon = make_daemon(
        notify={"webhooks": [{"url": "https://hooks.example.org/x", "secret_env": SECRET_ENV}]},
        watch={"settle_seconds": -1},
    )
    result = daemon.run("check-config")

    assert result.returncode == 78
    assert f"notify.webhooks.0: secret_env ${SECRET_ENV}: empty or not set" in result.stderr
    assert "watch.settle_seconds" in result.stderr
