"""Run the installed ``dropscribe serve`` as a subprocess on loopback, as an attacker sees it.

:class:`ServeProcess` starts the server with a token from the environment, learns its port
from the "listening on" log line, collects its log lines in a thread (so a chatty server never
blocks on a full pipe), and reads its memory from ``/proc``::

    with ServeProcess(tmp_path) as serve:
        requests.get(serve.base_url + "/healthz", timeout=5)
        assert serve.peak_rss_bytes() < 2 << 30
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from support.daemon import DROPSCRIBE

#: The bearer token of every served test server (at least 16 characters, as serve requires).
SERVE_TOKEN = "serve-test-token-0123456789"

#: Seconds a server may take to load its model and listen.
START_TIMEOUT_SECONDS = 90.0

_LISTENING = re.compile(r"listening on (?P<url>https?://\S+)")


def terminate(
    process: subprocess.Popen[str], reader: threading.Thread | None, timeout: float
) -> int:
    """SIGTERM ``process`` (SIGKILL after ``timeout``), let the thread reading its stderr
    finish, close that pipe; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if reader is not None:
        reader.join(5)
    if process.stderr is not None:
        process.stderr.close()
    return process.returncode


class ServeProcess:
    """One ``dropscribe serve --port 0`` child; ``start()`` then ``stop()`` (or a with block)."""

    def __init__(
        self,
        folder: Path,
        args: Sequence[str] = (),
        token: str = SERVE_TOKEN,
        file_limit: int | None = None,
    ) -> None:
        self.folder = folder
        self.token = token
        self._args = list(args)
        self._file_limit = file_limit
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.lines: list[str] = []
        self._url = ""
        self._listening = threading.Event()

    @property
    def base_url(self) -> str:
        """Return the server's base URL (known once start() returned)."""
        return self._url

    @property
    def pid(self) -> int:
        """Return the server's process id."""
        assert self._process is not None
        return self._process.pid

    def start(self) -> ServeProcess:
        """Start the server and return once it listens. Raise AssertionError if it does not."""
        env = dict(os.environ, DROPSCRIBE_SERVE_TOKEN=self.token)
        command = [str(DROPSCRIBE), "serve", "--port", "0", "--data-dir", str(self.folder)]
        if self._file_limit is not None:
            # Soft and hard: the server cannot raise it, as under a unit's LimitNOFILE=.
            limit = self._file_limit
            command = ["prlimit", f"--nofile={limit}:{limit}", "--", *command]
        self._process = subprocess.Popen(
            [*command, *self._args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._listening.wait(0.1):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("serve did not listen:\n" + "".join(self.lines[-30:]))
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.lines.append(line)
            match = _LISTENING.search(line)
            if match and not self._listening.is_set():
                self._url = match["url"]
                self._listening.set()

    def alive(self) -> bool:
        """Return True while the server process runs."""
        return self._process is not None and self._process.poll() is None

    def rss_bytes(self) -> int:
        """Return the server's resident memory now, in bytes."""
        return _status_kib(self.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        """Return the most resident memory the server has had so far, in bytes."""
        return _status_kib(self.pid, "VmHWM") * 1024

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the server with SIGTERM (SIGKILL after ``timeout``); return its exit code."""
        if self._process is None:
            return None
        return terminate(self._process, self._reader, timeout)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def wait_until(predicate: object, timeout: float, step: float = 0.05) -> None:
    """Wait until ``predicate()`` is true; raise AssertionError after ``timeout`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def open_slow_connection(base_url: str, source: str) -> socket.socket:
    """Open a connection from ``source`` (a 127.x address) that starts a request and never
    finishes its headers: one slowloris connection."""
    host, port = base_url.rsplit("//", 1)[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Return True if the server closes ``sock`` within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


class SourceAdapter(requests.adapters.HTTPAdapter):
    """Connects from a chosen loopback address (127.0.0.N), so one process can be several
    clients to the server's per-client limits; mount it on a ``requests.Session``."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)
