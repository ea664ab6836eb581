"""Command-line options of ``dropscribe serve``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dropscribe.cli.arguments import parse
from dropscribe.cli.exit_codes import EXIT_CONFIG
from dropscribe.cli.serve import options_from, run
from dropscribe.server.embedded import ServerOptions

#: A token long enough to be accepted (16 characters or more).
LONG_TOKEN = "token-0123456789ab"


def serve_args(argv: list[str]) -> argparse.Namespace:
    """Return ``dropscribe serve`` ARGV parsed as the command line parses it."""
    return parse(["serve", *argv])


def test_run_without_token_returns_ex_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DROPSCRIBE_SERVE_TOKEN", raising=False)
    assert run(serve_args(["--data-dir", str(tmp_path)])) == EXIT_CONFIG == 78
    assert "--token" in capsys.readouterr().err


def test_run_zero_workers_returns_ex_config(tmp_path: Path) -> None:
    assert (
        run(serve_args(["--data-dir", str(tmp_path), "--token", LONG_TOKEN, "--workers", "0"]))
        == EXIT_CONFIG
    )


def test_options_from_env_token_used_when_flag_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPSCRIBE_SERVE_TOKEN", "from-env-0123456789")
    args = serve_args(["--data-dir", str(tmp_path), "--model", "small", "--port", "0"])
    options = options_from(args)
    assert (options.token, options.model, options.port, options.host) == (
        "from-env-0123456789", "small", 0, "127.0.0.1"
    )  # fmt: skip


def test_server_options_without_token_raises() -> None:
    with pytest.raises(ValueError, match="token"):
        ServerOptions(Path("d"), token="")


def test_options_from_token_file_wins_over_flag_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPSCRIBE_SERVE_TOKEN", "from-env-0123456789")
    token_file = tmp_path / "serve_token"
    token_file.write_text("from-file-0123456789\n")
    args = serve_args(
        ["--data-dir", str(tmp_path), "--token", "flag", "--token-file", str(token_file)]
    )
    assert options_from(args).token == "from-file-0123456789"


def test_run_unreadable_token_file_returns_ex_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert (
        run(serve_args(["--data-dir", str(tmp_path), "--token-file", str(missing)])) == EXIT_CONFIG
    )
    assert "cannot read the token file" in capsys.readouterr().err


def test_server_options_short_token_raises() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        ServerOptions(Path("d"), token="fifteen-chars-x")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--tls-cert", "c.pem"], "both TLS cert and key"),
        (["--public-url", "https://u:p@example.org"], "public_url"),
        (["--max-audio-hours", "0"], "max_audio_hours"),
    ],
)
def test_options_from_unusable_security_option_raises(
    tmp_path: Path, extra: list[str], problem: str
) -> None:
    args = serve_args(["--data-dir", str(tmp_path), "--token", LONG_TOKEN, *extra])
    with pytest.raises(ValueError, match=problem):
        options_from(args)


def test_options_from_routes_become_the_model_map(tmp_path: Path) -> None:
    argv = ["--token", LONG_TOKEN, "--route", "whisper-large=large-v3", "--route", "x=bundled"]
    options = options_from(serve_args(argv))
    assert options.model_map == {"whisper-large": "large-v3", "x": "bundled"}


def test_parse_route_without_equals_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        serve_args(["--route", "whisper-large"])
    assert "is not PATH=MODEL" in capsys.readouterr().err


def test_run_route_with_unusable_path_returns_ex_config(tmp_path: Path) -> None:
    argv = ["--data-dir", str(tmp_path), "--token", LONG_TOKEN, "--route", "../x=small"]
    assert run(serve_args(argv)) == EXIT_CONFIG
