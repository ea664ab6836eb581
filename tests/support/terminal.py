"""`dropscribe once` run with stdout and stderr on a real pty, as on a user's terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess

from support.daemon import DROPSCRIBE, Daemon


def read_terminal(controller: int, proc: subprocess.Popen[bytes]) -> bytes:
    """Return what ``proc`` wrote to the terminal whose controlling end is ``controller``,
    read while it runs (Linux drops what is unread once the last writer closes)."""
    shown = b""
    while True:
        if not select.select([controller], [], [], 0.5)[0]:
            if proc.poll() is not None:
                return shown
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed with the process
            return shown
        if not chunk:
            return shown
        shown += chunk


def once_on_a_terminal(daemon: Daemon, timeout: float) -> bytes:
    """Run `dropscribe once` on a real pty; assert it exits 0 within ``timeout`` seconds;
    return what it showed."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(DROPSCRIBE), "once", "-c", str(daemon.config)],
            cwd=daemon.root,
            env=daemon.env(),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
        )
        os.close(terminal)
        shown = read_terminal(controller, proc)
        assert proc.wait(timeout=timeout) == 0, shown[-2000:]
        return shown
    finally:
        os.close(controller)
