"""Every command exits quietly when the reader of its output goes away (``status | head``)."""

from __future__ import annotations

import os
import subprocess

from support.daemon import DROPSCRIBE, MakeDaemon

#: 128 + SIGPIPE, what a shell reports for a writer whose reader went away.
EXIT_CLOSED_PIPE = 141


def run_into_closed_pipe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``dropscribe ARGS`` with stdout a real pipe whose reading end is already closed."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [str(DROPSCRIBE), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)


def test_status_closed_pipe_exits_quietly(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    assert daemon.run("once").returncode == 0

    done = run_into_closed_pipe(["status", "-c", str(daemon.config)], daemon.env())

    assert done.stderr == ""
    assert done.returncode == EXIT_CLOSED_PIPE


def test_status_json_closed_pipe_exits_quietly(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()

    done = run_into_closed_pipe(["status", "--json", "-c", str(daemon.config)], daemon.env())

    assert done.stderr == ""
    assert done.returncode == EXIT_CLOSED_PIPE
