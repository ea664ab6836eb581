"""A folder nested 1,100 deep in the inbox, past Python's recursion limit, against the real
daemon: it starts (or keeps running), refuses the folder once with a reason, transcribes a
recording dropped beside it, and /metrics still answers."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from support.daemon import Daemon, MakeDaemon, wav_bytes
from support.deep_tree import PAST_RECURSION_LIMIT, make_deep, remove_deep

REFUSED = "/".join(["d"] * 33)  # the shallowest folder past the default cap of 32


@pytest.fixture
def deep_daemon(make_daemon: MakeDaemon) -> Iterator[tuple[Daemon, int]]:
    port = free_port()
    daemon = make_daemon(metrics={"listen": f"127.0.0.1:{port}"})
    daemon.inbox.mkdir(parents=True)
    yield daemon, port
    daemon.close()
    remove_deep(daemon.inbox / "d")  # pytest's clean-up would recurse into it
    remove_deep(daemon.root / "staging" / "d")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metrics_status(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return int(answer.status)


def assert_refused_and_transcribing(daemon: Daemon, port: int) -> None:
    (daemon.inbox / "beside.wav").write_bytes(wav_bytes("beside"))
    daemon.wait_for_published(1)
    refusals = daemon.wait_for_event("folder.refused")
    assert [event["folder"] for event in refusals] == [REFUSED]
    assert "more than 32 folders deep" in refusals[0]["reason"]
    assert metrics_status(port) == 200
    assert daemon.running()
    assert daemon.stop() == 0


def test_daemon_deep_folder_at_start_refused_and_transcribing(
    deep_daemon: tuple[Daemon, int],
) -> None:
    daemon, port = deep_daemon
    make_deep(daemon.inbox, PAST_RECURSION_LIMIT, leaf="deepest.wav")
    daemon.start_and_wait()
    assert_refused_and_transcribing(daemon, port)
    problems = [event["problem"] for event in daemon.events("inbox.problem")]
    assert any("nested too deep" in problem for problem in problems), problems


def test_daemon_deep_folder_moved_in_while_running_refused_and_transcribing(
    deep_daemon: tuple[Daemon, int],
) -> None:
    daemon, port = deep_daemon
    daemon.start_and_wait()
    staging = daemon.root / "staging"
    staging.mkdir()
    make_deep(staging, PAST_RECURSION_LIMIT)
    os.rename(staging / "d", daemon.inbox / "d")  # whole, as `mv` does
    daemon.wait_for_event("inbox.problem")  # the observer's end, said
    assert_refused_and_transcribing(daemon, port)
