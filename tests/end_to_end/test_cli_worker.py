"""`dropscribe worker` and `dropscribe serve --broker`: usage and configuration errors, before
anything is loaded or connected."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.daemon import DROPSCRIBE

TOKEN_ENV = dict(os.environ, DROPSCRIBE_SERVE_TOKEN="serve-test-token-0123456789")


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
