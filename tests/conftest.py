"""Fixtures shared by the whole suite, light enough for the unit tier.

``restore_logging``: gives back the stdlib and structlog state that ``audit.configure()``
changes, pytest's own handlers first.

The heavy fixtures live beside the tests that use them: the session's real embedded server in
``integration/server/conftest.py``, Redis and SeaweedFS in ``support/scale_fixtures.py``
(imported by the scale-out conftests), so ``pytest tests/unit`` imports no model, Redis or S3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from dropscribe import audit


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Give back the stdlib and structlog state configure() changes, pytest's handlers first."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in audit.NOISY_LOGGERS}
    yield
    audit.shutdown()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)
    structlog.reset_defaults()
