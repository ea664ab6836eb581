"""Which deliveries a free sender may take, so that no receiver holds back the others.

Every attempt now ends within its timeout, but a receiver that always stalls still holds a
sender for that long each time, and a few such receivers held every sender: an honest
receiver's events waited behind theirs. So:

* one receiver holds at most ``per_receiver`` senders at once;
* receivers in trouble (their latest attempt failed: no answer in time, or not a 2xx or 410)
  hold at most all senders but one together, so one is always left for those that answer;
* a delivery in flight is never taken again, even if its lease ran out under a slow attempt
  (an Apprise message, which urllib's deadline does not cover): no receiver gets it twice
  at once.

The bookkeeping is this process's own (the single-instance lock keeps it the only sender);
the state file's lease covers a crash.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection

from dropscribe.core.announcements import Delivery

#: A claim given what to leave: (receiver keys, delivery ids) -> the delivery taken, if any.
Claim = Callable[[Collection[str], Collection[str]], Delivery | None]


class SenderShares:
    """The senders' shares of receivers; safe to share between the sender threads."""

    def __init__(self, senders: int) -> None:
        """``senders`` is how many sender threads share the receivers."""
        self._per_receiver = max(1, senders // 2)
        self._troubled_share = max(1, senders - 1)
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()  # receiver key -> senders on it now
        self._in_flight: set[str] = set()
        self._troubled: set[str] = set()

    def take(self, claim: Claim) -> Delivery | None:
        """Return the delivery ``claim`` takes, leaving the receivers at their share and the
        deliveries in flight; count it as held until :meth:`done`."""
        with self._lock:  # held across the claim: two senders never fill one share twice
            delivery = claim(self._full(), frozenset(self._in_flight))
            if delivery is not None:
                self._held[delivery.endpoint] += 1
                self._in_flight.add(delivery.id)
            return delivery

    def done(self, delivery: Delivery, troubled: bool) -> None:
        """Count ``delivery``'s attempt as ended; ``troubled``: it failed."""
        with self._lock:
            self._held[delivery.endpoint] -= 1
            if not self._held[delivery.endpoint]:
                del self._held[delivery.endpoint]
            self._in_flight.discard(delivery.id)
            if troubled:
                self._troubled.add(delivery.endpoint)
            else:
                self._troubled.discard(delivery.endpoint)

    def _full(self) -> frozenset[str]:
        full = {key for key, n in self._held.items() if n >= self._per_receiver}
        if sum(self._held[key] for key in self._troubled) >= self._troubled_share:
            full |= self._troubled
        return frozenset(full)
