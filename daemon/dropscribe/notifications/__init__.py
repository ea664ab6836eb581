"""Telling the outside world: signed webhooks (Standard Webhooks) and Apprise messages.

* :mod:`.receivers`: who is told what, and the deliveries a transition writes (the announcer);
* :mod:`.messages`: the short message for people (Apprise), printable whatever the names;
* :mod:`.signing`: the Standard Webhooks headers and signature;
* :mod:`.transport`: one POST, one Apprise message; the verdict on an answer (pure);
* :mod:`.policy`: when a failed delivery is tried again, or given up (pure);
* :mod:`.deliveries`: the sender threads that drain the deliveries table.

Deliveries are written by the state store in the same transaction as the transition they
announce, and deleted once delivered, so a crash (even SIGKILL) loses none: at least once.
"""

from dropscribe.notifications.deliveries import Attempt, DeliveryWorker, Outcome
from dropscribe.notifications.policy import DeliveryPolicy, next_due
from dropscribe.notifications.receivers import Receiver, Receivers, announcer, display_url

__all__ = [
    "Attempt",
    "DeliveryPolicy",
    "DeliveryWorker",
    "Outcome",
    "Receiver",
    "Receivers",
    "announcer",
    "display_url",
    "next_due",
]
