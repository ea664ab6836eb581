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


def help_of(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [DROPSCRIBE, *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_run_help_names_the_default_config_path() -> None:
    assert "(default: /etc/dropscribe/config.yaml;" in help_of("run")


def test_cli_run_help_names_the_config_path_from_the_environment() -> None:
    shown = help_of("run", env={"DROPSCRIBE_CONFIG": "/srv/dropscribe.yaml"})
    assert "(default: /srv/dropscribe.yaml;" in shown


def test_cli_log_format_has_help_text() -> None:
    for command in ("run", "once"):
        assert "audit.jsonl is always json" in help_of(command), command


def test_cli_transcribe_help_has_a_description() -> None:
    assert "Each file goes through the daemon's steps" in help_of("transcribe")
