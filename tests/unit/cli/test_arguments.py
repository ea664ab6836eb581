"""The command line's parser tree: serve's options on its subparser, and who refuses a word."""

from __future__ import annotations

import pytest

from dropscribe.cli.arguments import parse
from dropscribe.cli.exit_codes import EXIT_USAGE


def test_parse_serve_reads_its_options_into_the_namespace() -> None:
    args = parse(["serve", "--port", "0", "--route", "whisper-large=small"])
    assert (args.command, args.port, args.route) == ("serve", 0, [("whisper-large", "small")])


def test_parse_serve_unknown_option_is_refused_with_serve_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["serve", "--bogus"])
    err = capsys.readouterr().err
    assert exited.value.code == EXIT_USAGE
    assert err.startswith("usage: dropscribe serve [-h] [--host HOST]")
    assert "dropscribe serve: error: unrecognized arguments: --bogus" in err


def test_parse_run_unknown_option_is_refused_with_the_top_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["run", "--bogus"])
    err = capsys.readouterr().err
    assert exited.value.code == EXIT_USAGE
    assert err.startswith("usage: dropscribe [-h] [--version] COMMAND ...")
    assert "dropscribe: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("name", ["acknowledge", "ack"])
def test_parse_acknowledge_takes_a_job_id_or_source(name: str) -> None:
    args = parse([name, "-c", "c.yaml", "meeting.mp3"])
    assert (args.job_id, args.all_incomplete) == ("meeting.mp3", False)


def test_parse_acknowledge_all_incomplete() -> None:
    args = parse(["acknowledge", "--all-incomplete"])
    assert (args.job_id, args.all_incomplete) == (None, True)


def test_parse_acknowledge_needs_what_to_acknowledge() -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["ack"])
    assert exited.value.code == EXIT_USAGE
