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


class ChildProcess:
    """A ``dropscribe`` child whose stderr lines a thread collects (so a chatty child never
    blocks on a full pipe); ``start`` returns once a line matches ``ready``, whose ``url``
    group it keeps, and ``stop`` (or a with block) ends it."""

    #: What the child is, for the error that says it did not start.
    what = "the child"

    def __init__(self, ready: re.Pattern[str], start_timeout: float, stop_timeout: float) -> None:
        self._ready_line = ready
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self.lines: list[str] = []
        self.url = ""

    @property
    def pid(self) -> int:
        """Return the child's process id."""
        assert self._process is not None
        return self._process.pid

    def spawn(self, command: Sequence[str], env: dict[str, str]) -> None:
        """Start ``command``; return once its ready line came. Raise AssertionError if it
        exits or takes longer than the start timeout."""
        self._process = subprocess.Popen(
            list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._ready.wait(0.1):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.what} did not start:\n" + "".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.lines.append(line)
            match = self._ready_line.search(line)
            if match and not self._ready.is_set():
                self.url = match["url"]
                self._ready.set()

    def alive(self) -> bool:
        """Return True while the child runs."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the child, as a power cut or the OOM killer would."""
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the child (SIGKILL after ``timeout``, by default the stop timeout);
        return its exit code, or None if it never started."""
        if self._process is None:
            return None
        return terminate(self._process, self._reader, timeout or self._stop_timeout)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ServeProcess(ChildProcess):
    """One ``dropscribe serve --port 0`` child; ``start()`` then ``stop()`` (or a with block)."""

    what = "serve"

    def __init__(
        self,
        folder: Path,
        args: Sequence[str] = (),
        token: str = SERVE_TOKEN,
        file_limit: int | None = None,
    ) -> None:
        super().__init__(_LISTENING, START_TIMEOUT_SECONDS, stop_timeout=20.0)
        self.folder = folder
        self.token = token
        self._args = list(args)
        self._file_limit = file_limit

    @property
    def base_url(self) -> str:
        """Return the server's base URL (known once start() returned)."""
        return self.url

    def start(self) -> ServeProcess:
        """Start the server and return once it listens. Raise AssertionError if it does not."""
        command = [str(DROPSCRIBE), "serve", "--port", "0", "--data-dir", str(self.folder)]
        if self._file_limit is not None:
            # Soft and hard: the server cannot raise it, as under a unit's LimitNOFILE=.
            limit = self._file_limit
            command = ["prlimit", f"--nofile={limit}:{limit}", "--", *command]
        self.spawn([*command, *self._args], dict(os.environ, DROPSCRIBE_SERVE_TOKEN=self.token))
        return self

    def rss_bytes(self) -> int:
        """Return the server's resident memory now, in bytes."""
        return _status_kib(self.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        """Return the most resident memory the server has had so far, in bytes."""
        return _status_kib(self.pid, "VmHWM") * 1024

    def __enter__(self) -> ServeProcess:
        return self.start()


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
