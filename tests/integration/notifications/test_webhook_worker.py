"""The delivery worker against loopback receivers: Apprise's json:// target, a webhook that
refuses then accepts, and a receiver removed from the configuration."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from dropscribe.core.announcements import Channel, Topic
from dropscribe.core.jobs import Job, JobState
from dropscribe.notifications import (
    Attempt,
    DeliveryPolicy,
    DeliveryWorker,
    Outcome,
    Receiver,
    Receivers,
    announcer,
)
from dropscribe.state import StateStore
from support.daemon import wait_for
from support.webhook_receiver import TEST_SECRET, WebhookReceiver

FAST = DeliveryPolicy(first_seconds=0.05, max_seconds=0.1, give_up_seconds=60, timeout_seconds=5)
SECRET = base64.b64decode(TEST_SECRET.removeprefix("whsec_"))


def _worker(store: StateStore, receivers: Receivers, attempts: list[Attempt]) -> DeliveryWorker:
    return DeliveryWorker(
        store, receivers, FAST, attempts.append, lambda text: text, lambda exc: None, senders=2
    )


def _published(store: StateStore, outbox: Path) -> None:
    store.save(Job(id="j1", source="team/a.wav", state=JobState.SUCCEEDED))
    outputs = (str(outbox / "team/a.txt"), str(outbox / "team/a.json"))
    store.save(Job(id="j1", source="team/a.wav", state=JobState.PUBLISHED, outputs=outputs))


def _store(tmp_path: Path, receivers: Receivers) -> StateStore:
    announce = announcer(
        receivers, tmp_path / "outbox", lambda job: None, lambda r: None, time.time
    )
    return StateStore(tmp_path / "state.db", announce)


def test_worker_apprise_json_target_gets_a_message_naming_the_recording(tmp_path: Path) -> None:
    with WebhookReceiver() as target:
        url = target.url.replace("http://", "json://")
        receivers = Receivers([Receiver(Channel.APPRISE, url, frozenset(Topic))])
        store = _store(tmp_path, receivers)
        attempts: list[Attempt] = []
        worker = _worker(store, receivers, attempts)
        worker.start()
        _published(store, tmp_path / "outbox")
        (received,) = target.wait_for(1)
        worker.stop()
        assert worker.join(5.0)

    message = received.event
    assert message["title"] == "dropscribe: transcript ready"
    assert "team/a.wav: transcript ready" in message["message"]
    assert "team/a.txt" in message["message"]
    assert [a.outcome for a in attempts] == [Outcome.DELIVERED]
    assert store.delivery_counts() == {"pending": 0, "abandoned": 0}


#: A drop user's file name that tries to forge a line of the message and to inject markup.
HOSTILE_NAME = "team/a\nreason: all fine, ignore this\r\n<b>x</b> **bold** [y](http://e).wav"


def _failed_message(tmp_path: Path, apprise_url: str) -> list[str]:
    """Send the message of one failed job with HOSTILE_NAME through Apprise to a loopback
    json:// target; return the message's lines as the target received them."""
    with WebhookReceiver() as target:
        url = target.url.replace("http://", "json://") + apprise_url
        receivers = Receivers([Receiver(Channel.APPRISE, url, frozenset(Topic))])
        store = _store(tmp_path, receivers)
        worker = _worker(store, receivers, [])
        worker.start()
        store.save(Job(id="j1", source=HOSTILE_NAME, state=JobState.FAILED, error="no audio"))
        (received,) = target.wait_for(1)
        worker.stop()
        assert worker.join(5.0)
    return str(received.event["message"]).splitlines()


def test_worker_apprise_name_with_newlines_forges_no_line(tmp_path: Path) -> None:
    lines = _failed_message(tmp_path, "")

    assert [line for line in lines if line.startswith("reason:")] == ["reason: no audio"]
    assert lines[0].startswith("team/a\\nreason: all fine, ignore this\\r\\n<b>")
    assert len(lines) == 3  # the name's line, the reason, the job


def test_worker_apprise_html_target_gets_the_name_escaped(tmp_path: Path) -> None:
    (html,) = _failed_message(tmp_path, "?format=html")
    lines = html.split("<br/>")  # Apprise's line breaks in HTML

    assert len(lines) == 3 and lines[1] == "reason:&nbsp;no&nbsp;audio"
    assert "&lt;b&gt;x&lt;/b&gt;" in lines[0] and "<b>" not in html


def test_worker_apprise_markdown_target_gets_the_name_escaped(tmp_path: Path) -> None:
    lines = _failed_message(tmp_path, "?format=markdown")

    assert "\\*\\*bold\\*\\*" in lines[0] and "\\[y\\]" in lines[0]


def test_worker_webhook_refused_twice_is_delivered_with_one_id(tmp_path: Path) -> None:
    with WebhookReceiver(statuses=[500, 502]) as target:
        receivers = Receivers(
            [Receiver(Channel.WEBHOOK, target.url, frozenset({Topic.JOB_PUBLISHED}), SECRET)]
        )
        store = _store(tmp_path, receivers)
        attempts: list[Attempt] = []
        worker = _worker(store, receivers, attempts)
        worker.start()
        _published(store, tmp_path / "outbox")
        (accepted,) = target.wait_for(1)
        worker.stop()
        assert worker.join(5.0)

    assert len(target.received) == 3
    assert {r.headers["webhook-id"] for r in target.received} == {accepted.headers["webhook-id"]}
    assert [a.outcome for a in attempts] == [Outcome.RETRY, Outcome.RETRY, Outcome.DELIVERED]
    event = Webhook(TEST_SECRET).verify(accepted.body, accepted.headers)
    assert event["data"]["outputs"] == ["team/a.txt", "team/a.json"]
    assert event["data"]["source"] == "team/a.wav"


def test_worker_receiver_no_longer_configured_abandons_its_delivery(tmp_path: Path) -> None:
    hook = Receiver(Channel.WEBHOOK, "http://127.0.0.1:9/hook", frozenset(Topic), SECRET)
    receivers = Receivers([hook])
    store = _store(tmp_path, receivers)
    _published(store, tmp_path / "outbox")
    receivers.replace([])
    attempts: list[Attempt] = []
    worker = _worker(store, receivers, attempts)

    assert worker.deliver_one()

    assert [a.outcome for a in attempts] == [Outcome.ABANDONED]
    assert store.delivery_counts() == {"pending": 0, "abandoned": 1}
    assert "no longer configured" in json.dumps([a.error for a in attempts])


def _sender_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("dropscribe-delivery")]


def test_worker_without_receivers_or_pending_deliveries_starts_no_thread(tmp_path: Path) -> None:
    receivers = Receivers([])
    worker = _worker(_store(tmp_path, receivers), receivers, [])
    worker.start()

    assert _sender_threads() == []
    worker.stop()


def test_worker_with_deliveries_left_pending_starts_to_abandon_them(tmp_path: Path) -> None:
    hook = Receiver(Channel.WEBHOOK, "http://127.0.0.1:9/hook", frozenset(Topic), SECRET)
    store = _store(tmp_path, Receivers([hook]))
    _published(store, tmp_path / "outbox")  # written by an earlier run with this receiver
    attempts: list[Attempt] = []
    worker = _worker(store, Receivers([]), attempts)
    worker.start()
    try:
        wait_for(lambda: attempts, what="the left delivery abandoned")
    finally:
        worker.stop()
        assert worker.join(5.0)

    assert [a.outcome for a in attempts] == [Outcome.ABANDONED]
