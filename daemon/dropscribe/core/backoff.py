"""Retry and poll timing as data plus pure functions; nothing here sleeps.

``random`` values are passed in (a float in [0, 1)) so tests pin them and production jitters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed step is retried.

    A transient error is retried until ``give_up_seconds`` have passed since the job last made
    progress, and, when ``max_attempts`` is set, for at most that many tries of one step, the
    first included; delays in seconds grow as ``base_seconds * 2**(attempt-1)`` up to
    ``cap_seconds``, with full jitter (the pipeline passes as ``attempt`` the calls failed in
    a row across jobs when they are fewer); a server's Retry-After is honoured but never
    beyond ``retry_after_max_seconds``.
    """

    max_attempts: int | None  # the settings' retry section is where the defaults of these live
    base_seconds: float
    cap_seconds: float
    retry_after_max_seconds: float = 900.0  # not a setting: a guard against a wild header
    give_up_seconds: float = 24 * 3600.0  # the settings' retry.give_up_after_hours, in seconds


@dataclass(frozen=True)
class PollPolicy:
    """How often a submitted job is polled: from ``initial_seconds`` growing by ``growth`` per
    poll with +-``jitter`` to ``max_seconds``; past ``deadline_seconds`` after submission the job
    fails."""

    initial_seconds: float  # the settings' poll section is where the defaults of these live
    max_seconds: float
    deadline_seconds: float
    growth: float = 1.5  # not settings: the shape of the curve, not its scale
    jitter: float = 0.2


def compute_delay(
    policy: RetryPolicy, attempt: int, random: float, retry_after: float | None = None
) -> float:
    """Given the policy, the 1-based number of the attempt that just failed, a random float in
    [0, 1) and the server's Retry-After in seconds (if any), return the wait in seconds.

    Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]. A Retry-After replaces it,
    clamped to [0, retry_after_max_seconds].
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.retry_after_max_seconds)
    ceiling = _grown(policy.base_seconds, 2.0, attempt - 1, policy.cap_seconds)
    return ceiling * random


def attempts_left(policy: RetryPolicy, attempt: int) -> bool:
    """Return True if a step that failed on its ``attempt``-th try may be tried again (always,
    when the policy sets no count)."""
    return policy.max_attempts is None or attempt < policy.max_attempts


def budget_left(policy: RetryPolicy, progress_at: float, now: float) -> bool:
    """Return True if a job whose last progress was at ``progress_at`` (epoch seconds) may
    still retry a transient error at ``now``: the time budget has not run out."""
    return now - progress_at < policy.give_up_seconds


def may_retry(policy: RetryPolicy, attempt: int, progress_at: float, now: float) -> bool:
    """Return True if a step that failed on its ``attempt``-th try, for a job last making
    progress at ``progress_at``, may be tried again at ``now``: count and time both allow it."""
    return attempts_left(policy, attempt) and budget_left(policy, progress_at, now)


def next_poll_delay(policy: PollPolicy, polls_done: int, random: float) -> float:
    """Given how many polls were made already and a random float in [0, 1), return the wait in
    seconds before the next one: geometric growth from the initial interval, jittered by
    +-``jitter``, never above ``max_seconds``."""
    base = _grown(policy.initial_seconds, policy.growth, polls_done, policy.max_seconds)
    jittered = base * (1.0 + policy.jitter * (2.0 * random - 1.0))
    return min(policy.max_seconds, max(0.0, jittered))


def _grown(start: float, factor: float, steps: int, limit: float) -> float:
    """Return ``min(limit, start * factor**steps)`` (no steps below 0). Polls and retries while
    polling are unbounded in number, and a float power past ~1e308 raises OverflowError; there
    the limit wins."""
    try:
        return min(limit, start * factor ** max(steps, 0))
    except OverflowError:
        return limit
