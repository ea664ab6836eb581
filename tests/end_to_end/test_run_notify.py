"""`dropscribe run` under systemd: READY, STATUS and WATCHDOG while it runs, STOPPING on the way
out, over a real $NOTIFY_SOCKET."""

from __future__ import annotations

import signal
from pathlib import Path

from support.daemon import MakeDaemon, NotifySocket

# systemd asks for a ping every WATCHDOG_USEC; the daemon pings at half that (here every 1 s).
WATCHDOG_USEC = "2000000"


def test_run_speaks_the_notify_protocol_over_its_life(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    with NotifySocket(tmp_path / "notify.sock") as sock:
        daemon = make_daemon()
        daemon.extra_env = {"NOTIFY_SOCKET": sock.address, "WATCHDOG_USEC": WATCHDOG_USEC}
        daemon.start()

        def running(got: list[str]) -> bool:
            return "READY=1" in got and got.count("WATCHDOG=1") >= 3

        early = list(sock.receive_until(running, timeout=30))
        assert running(early), early
        assert early.index("READY=1") < early.index("WATCHDOG=1")
        status = [m for m in early if m.startswith("STATUS=")]
        assert status and status[0] == "STATUS=idle"

        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit() == 0
        late = sock.receive_until(lambda got: "STOPPING=1" in got, timeout=5)
        assert "STOPPING=1" in late[len(early) :]
