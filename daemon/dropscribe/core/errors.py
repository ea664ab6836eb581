"""The exception tree of dropscribe.

Every error the daemon reasons about is one of these; library exceptions are translated into
them at the boundary (``raise X(...) from exc``). Each class says whether the failed step may
simply be tried again later (``retryable``)::

    DropscribeError                      retryable?
    ├── ConfigError                      no   bad or incomplete configuration; stops the start
    ├── InputRejected                    no   a recording we must not or cannot send
    ├── IncompleteTranscript             no   the transcript misses speech (quality: fail)
    ├── StorageFull                      no   state.db cannot be written (full, read-only,
    │                                         I/O error): all work pauses until it can
    ├── CannotListen                     no   a server's address is taken or not usable here
    └── ApiError                              a remote call went wrong
        ├── TransientApiError            yes  connection trouble, timeouts, 408/429/5xx, bad bodies
        │   └── UploadUrlExpired         yes  the presigned URL is no longer good: get a new one
        ├── AuthError                    yes  401/403: the key is wrong or revoked; all work pauses
        ├── PermanentApiError            no   any other 4xx: the request itself is wrong
        ├── RemoteJobFailed              no   the service ran the job and reports failed/cancelled
        └── PollDeadlinePassed           no   no result in time; polling again later may help
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import ClassVar


class DropscribeError(Exception):
    """Base of every error dropscribe raises on purpose."""

    retryable: ClassVar[bool] = False


class ConfigError(DropscribeError):
    """The configuration cannot be used; ``problems`` lists every problem found, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputRejected(DropscribeError):
    """A recording that must not be sent (a symlink, a FIFO, not audio, too big, ...)."""

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(reason)


class IncompleteTranscript(DropscribeError):
    """The transcript covers too little of the recording's speech, and ``quality.on_incomplete``
    says such a recording goes to failed/ rather than to the outbox."""

    step = "publish"


class ApiError(DropscribeError):
    """A remote call failed; ``status`` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None, step: str = "") -> None:
        self.status = status
        self.step = step
        super().__init__(message)


class TransientApiError(ApiError):
    """The call may succeed if tried again; ``retry_after`` (seconds) is the server's wish."""

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        step: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, step=step)
        self.retry_after = retry_after


class UploadUrlExpired(TransientApiError):
    """The presigned upload URL was refused; the upload restarts with a fresh URL."""


class AuthError(ApiError):
    """The service refused our key (401/403); every job waits until the key works again."""

    retryable: ClassVar[bool] = True


class PermanentApiError(ApiError):
    """The service refused the request itself; sending it again would fail the same way."""


class RemoteJobFailed(ApiError):
    """The service finished the job as failed or cancelled; ``message`` is its reason."""


class PollDeadlinePassed(ApiError):
    """The service had no result by the poll deadline; the request may still finish."""


class StorageFull(DropscribeError):
    """The state file cannot be written: its disk is full (SQLITE_FULL), it became read-only,
    or the disk reports I/O errors. Not a verdict on any job: all work pauses until a probe
    can write again."""


class CannotListen(DropscribeError):
    """A server could not listen on its address: another process has the port (``in_use``:
    it may be free again soon), or the address is not usable here (not this machine's, a
    privileged port)."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        self.host = host
        self.port = port
        self.in_use = exc.errno == errno.EADDRINUSE
        reason = "the port is in use by another process" if self.in_use else exc.strerror
        super().__init__(f"cannot listen on {host}:{port}: {reason or exc}")
