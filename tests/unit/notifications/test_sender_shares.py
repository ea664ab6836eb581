"""notifications.shares: which deliveries a free sender may take."""

from __future__ import annotations

from collections.abc import Collection

from dropscribe.core.announcements import Channel, Delivery, Topic
from dropscribe.notifications.shares import SenderShares


def _d(delivery_id: str, endpoint: str) -> Delivery:
    return Delivery(delivery_id, Channel.WEBHOOK, endpoint, Topic.JOB_PUBLISHED, "j", "{}", 1, 1)


class _Queue:
    """Deliveries due, in order; a claim takes the first the shares allow."""

    def __init__(self, *deliveries: Delivery) -> None:
        self.due = list(deliveries)

    def claim(self, endpoints: Collection[str], ids: Collection[str]) -> Delivery | None:
        for d in self.due:
            if d.endpoint not in endpoints and d.id not in ids:
                self.due.remove(d)
                return d
        return None


def test_shares_one_receiver_holds_at_most_half_the_senders() -> None:
    shares = SenderShares(senders=4)
    queue = _Queue(_d("1", "a"), _d("2", "a"), _d("3", "a"), _d("4", "b"))

    taken = [shares.take(queue.claim) for _ in range(3)]

    assert [d.id for d in taken if d] == ["1", "2", "4"]


def test_shares_troubled_receivers_leave_one_sender_to_the_others() -> None:
    shares = SenderShares(senders=4)
    for endpoint in "abc":  # each failed once
        first = shares.take(_Queue(_d(f"{endpoint}0", endpoint)).claim)
        assert first is not None
        shares.done(first, troubled=True)
    queue = _Queue(_d("a1", "a"), _d("b1", "b"), _d("c1", "c"), _d("c2", "c"), _d("h1", "h"))

    taken = [shares.take(queue.claim) for _ in range(4)]

    assert [d.id if d else None for d in taken] == ["a1", "b1", "c1", "h1"]


def _attempted(shares: SenderShares, endpoint: str, troubled: bool) -> None:
    d = shares.take(_Queue(_d(f"{endpoint}{troubled}", endpoint)).claim)
    assert d is not None
    shares.done(d, troubled=troubled)


def test_shares_a_receiver_that_answers_again_is_out_of_trouble() -> None:
    shares = SenderShares(senders=2)  # troubled receivers hold one sender at most
    _attempted(shares, "a", troubled=True)
    _attempted(shares, "a", troubled=False)
    _attempted(shares, "b", troubled=True)
    assert shares.take(_Queue(_d("b1", "b")).claim) is not None  # the troubled share, full

    assert shares.take(_Queue(_d("a1", "a")).claim) is not None


def test_shares_a_delivery_in_flight_is_not_taken_again_until_done() -> None:
    shares = SenderShares(senders=4)
    d = _d("1", "a")
    assert shares.take(_Queue(d).claim) is d

    assert shares.take(_Queue(d).claim) is None
    shares.done(d, troubled=True)
    assert shares.take(_Queue(d).claim) is d
