"""Retrying through broker and storage outages, and the record /healthz and /metrics show.

The policy is a frozen dataclass and a pure function of the attempt number; ``Outages`` is the
only mutable part: per dependency, whether it is down now, since when, and how many calls to it
have failed in this process's life.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dropscribe.server.problems import ApiProblem

T = TypeVar("T")

#: Seconds a client is asked to wait (Retry-After) while the broker or the bucket is down.
RETRY_AFTER_SECONDS = 5

#: The dependencies a worker reports on.
BROKER = "broker"
STORAGE = "storage"
DEPENDENCIES = (BROKER, STORAGE)


class BrokerUnavailable(ApiProblem):
    """Redis (the job store and task queue) cannot be reached now; a retry may succeed."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, f"the job store is unreachable: {detail}", RETRY_AFTER_SECONDS)


class StorageUnavailable(ApiProblem):
    """The S3 bucket cannot be reached now; a retry may succeed."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, f"the object store is unreachable: {detail}", RETRY_AFTER_SECONDS)


Unavailable = (BrokerUnavailable, StorageUnavailable)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``first`` seconds, times ``factor`` per attempt, at most ``ceiling``."""

    first: float = 0.5
    factor: float = 2.0
    ceiling: float = 30.0


def backoff_delay(policy: Backoff, attempt: int) -> float:
    """Given the number of failed attempts so far (1 for the first), return the pause in seconds."""
    return float(min(policy.ceiling, policy.first * policy.factor ** max(0, attempt - 1)))


@dataclass(frozen=True)
class DependencyState:
    """One dependency as last seen: down since (Unix time) or None, failures, last error."""

    down_since: float | None
    failures: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the state as /healthz shows it."""
        return {
            "reachable": self.down_since is None,
            "down_since": self.down_since,
            "failures": self.failures,
            "last_error": self.last_error,
        }


class Outages:
    """Thread-safe record of broker and storage failures and recoveries."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states = {name: DependencyState(None, 0, None) for name in DEPENDENCIES}

    def failed(self, name: str, error: str) -> None:
        """Record a failed call to ``name``."""
        with self._lock:
            old = self._states[name]
            since = old.down_since if old.down_since is not None else self._clock()
            self._states[name] = DependencyState(since, old.failures + 1, error)

    def recovered(self, name: str) -> None:
        """Record a successful call to ``name``."""
        with self._lock:
            old = self._states[name]
            if old.down_since is not None:
                self._states[name] = DependencyState(None, old.failures, old.last_error)

    def states(self) -> dict[str, DependencyState]:
        """Return a snapshot of every dependency's state."""
        with self._lock:
            return dict(self._states)

    def all_reachable(self) -> bool:
        """Return True when no dependency is down now."""
        return all(state.down_since is None for state in self.states().values())


def dependency_of(problem: ApiProblem) -> str:
    """Return which dependency an outage error is about."""
    return STORAGE if isinstance(problem, StorageUnavailable) else BROKER


def retrying(
    call: Callable[[], T],
    uses: str,
    outages: Outages,
    policy: Backoff,
    sleep: Callable[[float], bool],
) -> T:
    """Return ``call()`` (which uses the dependency ``uses``), retried with backoff while it
    raises an outage error.

    Each failure and the recovery are recorded in ``outages``. ``sleep(seconds)`` waits and
    returns True when the wait was cut short by a stop; the last outage error is raised then.
    """
    attempt = 0
    while True:
        try:
            result = call()
        except Unavailable as problem:
            outages.failed(dependency_of(problem), problem.message)
            attempt += 1
            if sleep(backoff_delay(policy, attempt)):
                raise
            continue
        outages.recovered(uses)
        return result
