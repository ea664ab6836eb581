"""Wrong arguments exit with EX_USAGE (64), for every command."""

from __future__ import annotations

import subprocess

from support.daemon import DROPSCRIBE


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DROPSCRIBE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_unknown_command_exits_64() -> None:
    done = run_cli("bogus")
    assert done.returncode == 64
    assert "invalid choice: 'bogus'" in done.stderr


def test_cli_retry_without_a_target_exits_64() -> None:
    done = run_cli("retry", "-c", "config.yaml")
    assert done.returncode == 64
    assert "job_id --all-failed" in done.stderr


def test_cli_serve_unknown_option_exits_64() -> None:
    done = run_cli("serve", "--bogus")
    assert done.returncode == 64
    assert "unrecognized arguments: --bogus" in done.stderr
