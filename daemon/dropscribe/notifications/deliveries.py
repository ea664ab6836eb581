"""The sender threads: they take due deliveries from the state file, one at a time each, try
them, and record the answer. They never touch a job, so a slow receiver slows no transcript.

A delivery taken is leased (its due time pushed past the attempt's timeout) before it is
tried, so a crash mid-attempt only delays it; a webhook attempt ends within its timeout
(transport.post), well inside the lease. Which delivery a free sender takes is shared out
(.shares): no receiver holds every sender, nor one delivery two at once.
"""

from __future__ import annotations

import random as random_module
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from dropscribe.core.announcements import Channel, Delivery
from dropscribe.notifications.messages import message_of
from dropscribe.notifications.policy import DeliveryPolicy, next_due
from dropscribe.notifications.receivers import Receiver, Receivers, display_url
from dropscribe.notifications.shares import SenderShares
from dropscribe.notifications.signing import signed_headers
from dropscribe.notifications.transport import Verdict, post, send_message, verdict_of

#: Sender threads: enough that a receiver answering in seconds does not build a backlog at the
#: pace of a busy inbox, few enough to cost nothing idle.
SENDERS = 4
#: How long an idle sender waits before looking for due deliveries again (seconds), unless
#: woken by a new delivery; retries come due within this much of their time.
IDLE_SECONDS = 2.0
#: Added to the attempt's timeout for the lease: the attempt's own bookkeeping, which a
#: webhook attempt's deadline does not cover (seconds).
LEASE_MARGIN_SECONDS = 30.0


class Outcome(StrEnum):
    """How one attempt ended (the ``outcome`` label of the deliveries counter)."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"  # the receiver answered 410: no more attempts
    ABANDONED = "abandoned"  # given up: too old, or its receiver is no longer configured


@dataclass(frozen=True)
class Attempt:
    """One attempt at a delivery, as the worker reports it."""

    delivery: Delivery
    url: str  # the receiver's URL, credentials masked
    outcome: Outcome
    attempt: int
    status: int | None = None
    error: str | None = None
    next_due: float | None = None


class DeliveryStore(Protocol):
    """The deliveries table (dropscribe.state.StateStore)."""

    def claim_delivery(
        self,
        now: float,
        lease_seconds: float,
        skip_endpoints: Collection[str] = (),
        skip_ids: Collection[str] = (),
    ) -> Delivery | None: ...

    def delivered(self, delivery_id: str) -> None: ...

    def delivery_failed(
        self, delivery_id: str, attempts: int, error: str, next_due: float | None, now: float
    ) -> None: ...

    def delivery_counts(self) -> dict[str, int]: ...


class DeliveryWorker:
    """A few threads that deliver what the state file holds until stopped."""

    def __init__(
        self,
        store: DeliveryStore,
        receivers: Receivers,
        policy: DeliveryPolicy,
        report: Callable[[Attempt], None],
        redact: Callable[[str], str],
        on_error: Callable[[Exception], None],
        *,
        wake: threading.Event | None = None,
        senders: int = SENDERS,
        lease_margin_seconds: float = LEASE_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        """``report`` hears of every attempt; ``redact`` masks secrets in error texts;
        ``on_error`` hears of an error of the worker itself (the state file unusable), after
        which the sender waits and tries again. ``wake`` is set when a delivery is written,
        so an idle sender takes it at once. ``lease_margin_seconds`` is added to the
        attempt's timeout for its lease."""
        self._store = store
        self._receivers = receivers
        self._policy = policy
        self._report = report
        self._redact = redact
        self._on_error = on_error
        self._clock = clock
        self._random = random
        self._stop = threading.Event()
        self._wake = wake or threading.Event()
        self._senders = senders
        self._shares = SenderShares(senders)
        self._lease_margin = lease_margin_seconds
        self._threads: list[threading.Thread] = []
        self._starting = threading.Lock()

    def use_policy(self, policy: DeliveryPolicy) -> None:
        """Time the next attempts with ``policy`` (after a reload)."""
        self._policy = policy

    def start(self) -> None:
        """Start the sender threads if there is anything to send: a receiver configured, or
        deliveries left pending by an earlier run (to deliver or abandon). A run without
        either holds no thread; call again after a reload that adds receivers."""
        with self._starting:
            if self._threads or self._stop.is_set():
                return
            if not self._receivers.all() and not self._store.delivery_counts()["pending"]:
                return
            self._threads = [
                threading.Thread(target=self._run, name=f"dropscribe-delivery-{n}", daemon=True)
                for n in range(self._senders)
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Ask the senders to stop after their current attempt (and none to start)."""
        with self._starting:
            self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for the senders; return True if all ended."""
        deadline = time.monotonic() + timeout
        with self._starting:
            threads = list(self._threads)
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def _run(self) -> None:
        busy = False
        while not self._stop.is_set():
            if not busy:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                if self._stop.is_set():
                    return
            try:
                busy = self.deliver_one()
            except Exception as exc:  # the thread must outlive a bad moment of the state file
                self._on_error(exc)
                busy = False

    def deliver_one(self) -> bool:
        """Try the delivery due earliest that its receiver's share allows, if one is due;
        return True if there was one."""
        lease = self._policy.timeout_seconds + self._lease_margin
        now = self._clock()
        delivery = self._shares.take(
            lambda receivers, ids: self._store.claim_delivery(now, lease, receivers, ids)
        )
        if delivery is None:
            return False
        troubled = False
        try:
            receiver = self._receivers.get(delivery.endpoint)
            if receiver is None:
                self._give_up(delivery, "", "its receiver is no longer configured")
            else:
                troubled = not self._attempt(delivery, receiver)
        finally:
            self._shares.done(delivery, troubled)
        return True

    def _attempt(self, delivery: Delivery, receiver: Receiver) -> bool:
        """Try ``delivery`` once; return True if the receiver answered it (2xx or 410)."""
        try:
            status = self._send(delivery, receiver)
        except Exception as exc:  # any failure to send is retried; none may end the thread
            self._failed(delivery, receiver, None, self._redact(_describe(exc)))
            return False
        verdict, code = status
        url = display_url(receiver.url)
        if verdict is Verdict.DELIVERED:
            self._store.delivered(delivery.id)
            self._report(Attempt(delivery, url, Outcome.DELIVERED, delivery.attempts + 1, code))
        elif verdict is Verdict.GONE:
            why = "the receiver answered 410 Gone: it wants no more deliveries"
            self._give_up(delivery, url, why, code, Outcome.GONE)
        else:
            answer = f"answered {code}" if code is not None else "did not accept the message"
            self._failed(delivery, receiver, code, f"the receiver {answer}")
            return False
        return True

    def _send(self, delivery: Delivery, receiver: Receiver) -> tuple[Verdict, int | None]:
        """Return the verdict on one attempt, and the HTTP status when there is one."""
        if receiver.channel is Channel.APPRISE:
            title, text = message_of(delivery.body)
            sent = send_message(receiver.url, title, text)
            return (Verdict.DELIVERED if sent else Verdict.RETRY), None
        headers = signed_headers(receiver.secret, delivery.id, int(self._clock()), delivery.body)
        code = post(receiver.url, headers, delivery.body, self._policy.timeout_seconds)
        return verdict_of(code), code

    def _failed(
        self, delivery: Delivery, receiver: Receiver, status: int | None, error: str
    ) -> None:
        now = self._clock()
        attempt = delivery.attempts + 1
        due = next_due(self._policy, delivery.created, attempt, now, self._random())
        url = display_url(receiver.url)
        if due is None:
            self._give_up(delivery, url, f"gave up after {attempt} attempts: {error}", status)
            return
        self._store.delivery_failed(delivery.id, attempt, error, due, now)
        self._report(Attempt(delivery, url, Outcome.RETRY, attempt, status, error, due))

    def _give_up(
        self,
        delivery: Delivery,
        url: str,
        error: str,
        status: int | None = None,
        outcome: Outcome = Outcome.ABANDONED,
    ) -> None:
        attempt = delivery.attempts + 1
        self._store.delivery_failed(delivery.id, attempt, error, None, self._clock())
        self._report(Attempt(delivery, url, outcome, attempt, status, error))


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason if reason is not None else exc}"
