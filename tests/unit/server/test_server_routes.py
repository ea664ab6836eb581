"""Pure parts of the HTTP adapters."""

from __future__ import annotations

import pytest

from dropscribe.server.routes import MAX_POLL_WAIT_SECONDS, capped_wait


@pytest.mark.parametrize(
    ("asked", "served"), [(0.0, 0.0), (12.5, 12.5), (30.0, 30.0), (60.0, 30.0)]
)
def test_capped_wait_above_the_maximum_is_the_maximum(asked: float, served: float) -> None:
    assert MAX_POLL_WAIT_SECONDS == 30.0
    assert capped_wait(asked) == served
