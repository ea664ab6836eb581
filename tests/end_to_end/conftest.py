"""Fixtures of the end-to-end suite: a fault server on loopback and daemons in temp folders.

Every daemon a test makes through ``make_daemon`` is killed in the teardown, whatever the test
did; every fault server is stopped, which also ends its hung requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, MakeDaemon, fault_server_settings
from support.fault_server import FaultServer

#: The API key the fault server expects and the daemons get in $TIYARO_API_KEY.
API_KEY = "e2e-test-key-0123456789"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """Yield a running fault server that answers the first poll of each job "processing"."""
    with FaultServer(token=API_KEY, polls_before_success=1) as srv:
        yield srv


@pytest.fixture
def make_daemon(tmp_path: Path, server: FaultServer) -> Iterator[MakeDaemon]:
    """Yield a factory of daemons talking to ``server``; sections given to it are merged over
    the fast defaults (``watch={"rescan_seconds": 3600}``). Each daemon gets its own folder."""
    made: list[Daemon] = []

    def make(name: str = "daemon", **sections: Any) -> Daemon:
        daemon = Daemon(tmp_path / name, fault_server_settings(server, **sections), api_key=API_KEY)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()
