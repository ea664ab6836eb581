"""`dropscribe worker` and `dropscribe serve --broker`: usage and configuration errors, before
anything is loaded or connected."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from support.daemon import DROPSCRIBE

TOKEN_ENV = dict(os.environ, DROPSCRIBE_SERVE_TOKEN="serve-test-token-0123456789")
Done = subprocess.CompletedProcess[str]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DROPSCRIBE, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_cli_worker_help_lists_its_options() -> None:
    done = run_cli("worker", "--help")
    assert done.returncode == 0
    assert all(flag in done.stdout for flag in ("--broker", "--storage", "--model", "--workers"))


def test_cli_worker_without_broker_exits_64() -> None:
    done = run_cli("worker", "--storage", "s3://bucket/prefix")
    assert done.returncode == 64
    assert "--broker" in done.stderr


def test_cli_worker_bad_storage_exits_78_with_reason() -> None:
    done = run_cli("worker", "--broker", "redis://127.0.0.1:1/0", "--storage", "http://bucket/x")
    assert done.returncode == 78
    assert "is not s3://BUCKET/PREFIX" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serve_broker_without_storage_exits_78(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--broker", "redis://127.0.0.1:1/0")
    done = run_cli("serve", *args, env=TOKEN_ENV)
    assert done.returncode == 78
    assert "give both broker and storage" in done.stderr


def test_cli_serve_bad_broker_exits_78(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--broker", "http://x:1/0", "--storage", "s3://b-1/p")
    done = run_cli("serve", *args, env=TOKEN_ENV)
    assert done.returncode == 78
    assert "is not redis://HOST:PORT/DB" in done.stderr


#: Runs the command line in a Python where the `scale` extra's modules cannot be imported, as
#: on an install without the extra (the test environment has it).
WITHOUT_SCALE_EXTRA = """
import sys
class NoScaleExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("redis", "dramatiq", "boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoScaleExtra())
from dropscribe.cli.main import main
main(sys.argv[1:])
"""

CANARY_PASSWORD = "canary-broker-pw-0123"


def run_without_scale_extra(*args: str, env: dict[str, str] | None = None) -> Done:
    command = [sys.executable, "-c", WITHOUT_SCALE_EXTRA, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_cli_worker_help_without_scale_extra_lists_its_options() -> None:
    done = run_without_scale_extra("worker", "--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert all(flag in done.stdout for flag in ("--broker-file", "--storage", "--model"))


def test_cli_worker_without_scale_extra_exits_69_naming_the_install_command() -> None:
    done = run_without_scale_extra(
        "worker", "--broker", "redis://127.0.0.1:1/0", "--storage", "s3://bucket/x"
    )
    assert done.returncode == 69
    assert "pip install 'dropscribe[scale]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serve_broker_without_scale_extra_exits_69_naming_the_install_command(
    tmp_path: Path,
) -> None:
    args = (
        "--data-dir",
        str(tmp_path),
        "--broker",
        "redis://127.0.0.1:1/0",
        "--storage",
        "s3://b-1/p",
    )
    done = run_without_scale_extra("serve", *args, env=TOKEN_ENV)
    assert done.returncode == 69
    assert "pip install 'dropscribe[scale]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_worker_bad_broker_in_file_exits_78_without_its_password(tmp_path: Path) -> None:
    broker_file = tmp_path / "broker_url"
    broker_file.write_text(f"redis://dropscribe:{CANARY_PASSWORD}@redis.lan:notaport/0\n")
    done = run_cli("worker", "--broker-file", str(broker_file), "--storage", "s3://bucket/x")
    assert done.returncode == 78
    assert "has no usable port" in done.stderr
    assert CANARY_PASSWORD not in done.stderr and "dropscribe:" not in done.stderr


def test_cli_worker_broker_from_credentials_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "broker_url").write_text(f"redis://:{CANARY_PASSWORD}@h:notaport/0\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(tmp_path))
    done = run_cli("worker", "--storage", "s3://bucket/x", env=env)
    # The credential's URL is the one checked (and refused): it was read, and not shown.
    assert (done.returncode, "has no usable port" in done.stderr) == (78, True)
    assert CANARY_PASSWORD not in done.stderr


def test_cli_worker_health_port_taken_exits_75_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            "worker", "--broker", "redis://127.0.0.1:1/0", "--storage", "s3://bucket/x",
            "--health-port", str(port),
        )  # fmt: skip
    assert done.returncode == 75
    assert done.stderr.splitlines() == [
        f"dropscribe worker: /healthz: cannot listen on 127.0.0.1:{port}: the port is in use by "
        "another process; stop what uses it, or pass another --health-port"
    ]


def test_cli_worker_health_host_not_on_this_machine_exits_69() -> None:
    done = run_cli(
        "worker", "--broker", "redis://127.0.0.1:1/0", "--storage", "s3://bucket/x",
        "--health-host", "192.0.2.1",
    )  # fmt: skip
    assert done.returncode == 69
    assert "cannot listen on 192.0.2.1:8751" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serve_port_taken_exits_75_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(port), env=TOKEN_ENV)
    assert done.returncode == 75
    assert done.stderr.splitlines()[-1] == (
        f"dropscribe serve: cannot listen on 127.0.0.1:{port}: the port is in use by another "
        "process; stop what uses it, or pass another --port"
    )
    assert "Traceback" not in done.stderr
