"""Hostile files against a running daemon on the embedded engine: refused into failed/ with a
clear reason, memory bounded, the daemon still running."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.bombs import one_hertz_bomb
from support.daemon import DATA_PATHS, Daemon, MakeDaemon, wav_bytes

EMBEDDED_SETTINGS = {
    "paths": dict(DATA_PATHS),
    "watch": {"settle_seconds": 0.5},
    "poll": {"initial_seconds": 0.5, "max_seconds": 1},
}

#: Seconds the daemon may take to load the model and refuse the file on 2 busy cores.
REFUSAL_TIMEOUT = 120.0

#: Peak RSS the daemon may reach with the model loaded: the bomb once took it to 9.0 GB.
MAX_PEAK_RSS_BYTES = 1 << 30


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_daemon_one_hertz_bomb_goes_to_failed_with_reason_and_memory_bounded(
    tmp_path: Path,
) -> None:
    daemon = Daemon(tmp_path, EMBEDDED_SETTINGS)
    try:
        daemon.start_and_wait(REFUSAL_TIMEOUT)
        one_hertz_bomb(daemon.inbox / "bomb.wav")
        report = daemon.failed / "bomb.wav.error.json"
        daemon.wait_for(report.exists, REFUSAL_TIMEOUT, "bomb.wav in failed/")
        assert "sample rate of 1 Hz is too low for speech" in report.read_text(encoding="utf-8")
        assert peak_rss_bytes(daemon.pid) < MAX_PEAK_RSS_BYTES
        assert daemon.running()
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_daemon_link_at_outbox_subfolder_is_not_followed(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    daemon = make_daemon()
    daemon.outbox.mkdir(parents=True)
    (daemon.outbox / "sub").symlink_to(elsewhere)
    daemon.start_and_wait()
    (daemon.inbox / "sub").mkdir()
    (daemon.inbox / "sub" / "a.wav").write_bytes(wav_bytes("a"))
    report = daemon.failed / "sub" / "a.wav.error.json"
    daemon.wait_for(report.exists, what="sub/a.wav in failed/")
    assert "'sub' under" in report.read_text(encoding="utf-8")
    assert "not following it" in report.read_text(encoding="utf-8")
    assert list(elsewhere.iterdir()) == []
    (daemon.inbox / "good.wav").write_bytes(wav_bytes("good"))
    daemon.wait_for_published(1)
    assert daemon.running()


def test_daemon_link_at_failed_subfolder_is_not_followed(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    daemon = make_daemon(watch={"max_file_mb": 1})
    daemon.failed.mkdir(parents=True)
    (daemon.failed / "sub").symlink_to(elsewhere)
    daemon.start_and_wait()
    (daemon.inbox / "sub").mkdir()
    (daemon.inbox / "sub" / "empty.wav").write_bytes(b"")  # refused: bound for failed/sub
    (daemon.inbox / "good.wav").write_bytes(wav_bytes("good"))
    daemon.wait_for_published(1)
    # The refused entry cannot be moved through the link, so it stays where its owner left it.
    assert list(elsewhere.iterdir()) == []
    assert (daemon.inbox / "sub" / "empty.wav").exists()
    assert daemon.running()
