"""The systemd notify protocol: a few datagrams to ``$NOTIFY_SOCKET``; silent outside systemd."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1 when run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        watchdog_usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_seconds = int(watchdog_usec) / 1e6 if watchdog_usec.isdigit() else 0.0

    def send(self, message: str) -> None:
        """Send one message; errors are swallowed, since notification is best effort."""
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError:
            pass

    def ready(self) -> None:
        """Tell systemd the service is up."""
        self.send("READY=1")

    def status(self, text: str) -> None:
        """Show ``text`` in `systemctl status`."""
        self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        """Tell systemd the service is alive."""
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        """Tell systemd the service is on its way out."""
        self.send("STOPPING=1")
