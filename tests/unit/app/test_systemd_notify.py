"""The systemd notify protocol against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dropscribe.app.systemd_notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """Yield a bound datagram socket standing in for systemd, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(1.0)
        yield sock, str(path)


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


@pytest.mark.parametrize(
    ("send", "message"),
    [
        (Notifier.ready, "READY=1"),
        (Notifier.watchdog, "WATCHDOG=1"),
        (Notifier.stopping, "STOPPING=1"),
    ],
)
def test_notifier_with_socket_delivers_message(
    listener: tuple[socket.socket, str], send: Callable[[Notifier], None], message: str
) -> None:
    sock, address = listener
    send(Notifier({"NOTIFY_SOCKET": address}))
    assert received(sock) == message


def test_notifier_status_delivers_text(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    Notifier({"NOTIFY_SOCKET": address}).status("3 jobs waiting")
    assert received(sock) == "STATUS=3 jobs waiting"


def test_notifier_abstract_namespace_address_delivers() -> None:
    name = f"dropscribe-test-{os.getpid()}-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(1.0)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert received(sock) == "READY=1"


def test_notifier_reads_process_environment_by_default(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = listener
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    Notifier().ready()
    assert received(sock) == "READY=1"


def test_notifier_without_socket_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_socket(*args: object) -> socket.socket:
        raise AssertionError("a socket was opened outside systemd")

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(socket, "socket", no_socket)
    notifier = Notifier()
    notifier.ready()
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()


def test_notifier_socket_gone_send_does_not_raise(tmp_path: Path) -> None:
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")}).ready()


def test_notifier_watchdog_usec_parsed_to_seconds() -> None:
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_seconds == 30.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5"])
def test_notifier_watchdog_usec_missing_or_malformed_is_zero(value: str) -> None:
    assert Notifier({"WATCHDOG_USEC": value}).watchdog_seconds == 0.0


def test_notifier_watchdog_usec_absent_is_zero() -> None:
    assert Notifier({}).watchdog_seconds == 0.0
