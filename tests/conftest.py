"""Fixtures shared by the whole suite.

``embedded_server``: one real EmbeddedServer (bundled tiny.en model, real faster-whisper engine)
for the whole test session, on an ephemeral loopback port. Its bearer token is
``embedded_server.options.token``. Its /healthz counters are lifetime totals for the session, so
compare before/after values rather than absolute ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dropscribe.localapi.server import EmbeddedServer, ServerOptions

#: Bearer token of the session's embedded server.
EMBEDDED_SERVER_TOKEN = "test-session-token"


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Yield a started EmbeddedServer with the real model, shared by the test session."""
    options = ServerOptions(tmp_path_factory.mktemp("embedded-server"), token=EMBEDDED_SERVER_TOKEN)
    server = EmbeddedServer(options)
    server.start()
    yield server
    server.stop()
