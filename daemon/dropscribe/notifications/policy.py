"""When a failed delivery is tried again: growing delays with jitter, until it is old enough
to give up. Pure: the time and the random draw are passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry timing of deliveries (the notify section is where the defaults live), seconds."""

    first_seconds: float
    max_seconds: float
    give_up_seconds: float
    timeout_seconds: float


def next_due(
    policy: DeliveryPolicy, created: float, attempts: int, now: float, random: float
) -> float | None:
    """Given when a delivery was created, how many attempts failed so far (counted from 1),
    the time and a random float in [0, 1), return when to try again, or None to give up.

    The delay doubles from ``first_seconds`` up to ``max_seconds``, drawn from its upper half
    (equal jitter) so that receivers coming back are not hit by every sender at once. The
    last try lands at ``give_up_seconds`` after creation; only after it does a delivery stop.
    """
    if now - created >= policy.give_up_seconds:
        return None
    try:
        ceiling = min(policy.max_seconds, policy.first_seconds * 2.0 ** max(attempts - 1, 0))
    except OverflowError:
        ceiling = policy.max_seconds
    delay = ceiling * (0.5 + random / 2.0)
    return min(now + delay, created + policy.give_up_seconds)
