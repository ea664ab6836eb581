"""The one exception the HTTP layer turns into a JSON error body.

Domain code raises ApiProblem with the status and a message meant for a person; the routes
module renders every ApiProblem as ``{"error": message}``. Engine failures are a separate tree
(see engine.py) because they end a job, not a request.
"""

from __future__ import annotations


class ApiProblem(Exception):
    """A request that cannot be served, with the HTTP status that says why.

    ``retry_after`` (seconds), when given, is sent as the Retry-After header: the request may
    succeed later, as when a front end's broker is down (503).
    """

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
