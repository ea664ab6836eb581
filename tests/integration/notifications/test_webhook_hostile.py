"""The delivery worker against hostile receivers on loopback: one that drips its answer, one
that never answers, an Apprise target that drips. No delivery is sent twice at once when its
lease runs out, and an honest receiver gets its events while four bad ones stall."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dropscribe.core.announcements import Channel, Delivery, Topic
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.transcript import RemoteTranscript
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
from support.webhook_receiver import TEST_SECRET, Mode, WebhookReceiver

SECRET = base64.b64decode(TEST_SECRET.removeprefix("whsec_"))
#: A short lease: the attempt's timeout and a fifth of a second, so that an attempt outliving
#: its timeout outlives its lease too.
LEASE_MARGIN = 0.2


def _policy(timeout: float) -> DeliveryPolicy:
    return DeliveryPolicy(
        first_seconds=0.05, max_seconds=0.1, give_up_seconds=600, timeout_seconds=timeout
    )


def _hook(url: str) -> Receiver:
    return Receiver(Channel.WEBHOOK, url, frozenset({Topic.JOB_PUBLISHED}), SECRET)


def _store(tmp_path: Path, receivers: Receivers, wake: threading.Event) -> StateStore:
    """Return a state store whose transitions write deliveries for ``receivers`` and set
    ``wake`` when they do (as the daemon's do: app.notices.waking)."""
    announce = announcer(
        receivers, tmp_path / "outbox", lambda job: None, lambda r: None, time.time
    )

    def announced(
        before: JobState | None, job: Job, result: RemoteTranscript | None
    ) -> Sequence[Delivery]:
        deliveries = announce(before, job, result)
        wake.set()
        return deliveries

    return StateStore(tmp_path / "state.db", announced)


def _publish(store: StateStore, job_id: str) -> None:
    store.save(Job(id=job_id, source=f"{job_id}.wav", state=JobState.SUCCEEDED))
    store.save(Job(id=job_id, source=f"{job_id}.wav", state=JobState.PUBLISHED))


@contextmanager
def _running(
    tmp_path: Path, receivers: list[Receiver], timeout: float, attempts: list[Attempt]
) -> Iterator[StateStore]:
    """Run four senders for ``receivers`` with a lease of ``timeout`` + LEASE_MARGIN; yield
    the state store; stop them on the way out."""
    shared = Receivers(receivers)
    wake = threading.Event()
    store = _store(tmp_path, shared, wake)
    worker = DeliveryWorker(
        store,
        shared,
        _policy(timeout),
        attempts.append,
        lambda text: text,
        lambda exc: None,
        wake=wake,
        senders=4,
        lease_margin_seconds=LEASE_MARGIN,
    )
    worker.start()
    try:
        yield store
    finally:
        worker.stop()
        assert worker.join(timeout + 3.0)


def test_worker_dripping_receiver_is_never_sent_one_delivery_twice_at_once(
    tmp_path: Path,
) -> None:
    # A timeout longer than the drip's second between bytes: no single read waits that long.
    attempts: list[Attempt] = []
    with WebhookReceiver(mode=Mode.DRIP) as receiver:
        with _running(tmp_path, [_hook(receiver.url)], 2.0, attempts) as store:
            _publish(store, "j1")
            time.sleep(5.0)  # past two leases of 2.2 s, and a retry
        assert receiver.most_at_once == 1

    assert len(receiver.received) >= 2  # it was tried again, one attempt after the other
    assert {a.outcome for a in attempts} == {Outcome.RETRY}
    assert all("no answer within 2 s" in str(a.error) for a in attempts)


def test_worker_dripping_apprise_target_is_never_sent_one_message_twice_at_once(
    tmp_path: Path,
) -> None:
    # Apprise's own timeouts bound each read, not the message: the attempt outlives its
    # lease, and only the senders' bookkeeping keeps a second sender off it.
    with WebhookReceiver(mode=Mode.DRIP) as target:
        url = target.url.replace("http://", "json://")
        apprise = Receiver(Channel.APPRISE, url, frozenset(Topic))
        with ExitStack() as stack:
            store = stack.enter_context(_running(tmp_path, [apprise], 1.0, []))
            stack.callback(target.stop)  # before the senders stop: it ends the drip
            _publish(store, "j1")
            time.sleep(3.5)
            assert target.most_at_once == 1
            assert len(target.received) == 1


def test_worker_honest_receiver_gets_every_event_while_four_bad_ones_stall(
    tmp_path: Path,
) -> None:
    timeout = 1.5
    modes = [Mode.DRIP, Mode.SILENT, Mode.DRIP, Mode.SILENT]
    with ExitStack() as stack:
        bad = [stack.enter_context(WebhookReceiver(mode=mode)) for mode in modes]
        honest = stack.enter_context(WebhookReceiver())
        # The honest receiver last: each event's deliveries to the bad ones come first.
        receivers = [_hook(r.url) for r in bad] + [_hook(honest.url)]
        store = stack.enter_context(_running(tmp_path, receivers, timeout, []))
        for n in range(5):
            _publish(store, f"j{n}")
        published = time.monotonic()
        honest.wait_for(5, timeout=20.0)
        took = time.monotonic() - published

    # One attempt's timeout for the first round, when no receiver is known to be bad yet.
    assert took < timeout + 1.5, f"the honest receiver waited {took:.1f} s"
    assert sorted(r.event["data"]["job_id"] for r in honest.accepted()) == [
        f"j{n}" for n in range(5)
    ]
