"""The one exception the HTTP layer turns into a JSON error body.

Domain code raises ApiProblem with the status and a message meant for a person; the routes
module renders every ApiProblem as ``{"error": message}``. Engine failures are a separate tree
(see engine.py) because they end a job, not a request.
"""

from __future__ import annotations


class ApiProblem(Exception):
    """A request that cannot be served, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
