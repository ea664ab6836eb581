"""InboxWatcher with real files and real watchdog observers, in both observer modes.

The callback plays the part of the pipeline's claim: it records what it saw and moves the
entry out of the inbox, so "reported exactly once" is tested the way the daemon uses it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dropscribe.config import Watch
from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake import inbox as inbox_module
from dropscribe.intake.inbox import Entry, InboxWatcher

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48
SETTLE = 0.3  # seconds; short so the suite stays quick
TICK = 0.05  # seconds between settle checks
DEADLINE = 10.0  # seconds any expected delivery may take, generous for a busy machine


class Claimer:
    """Records each offered entry (its size at that moment) and moves it away."""

    def __init__(self, claimed: Path, *, move: bool = True) -> None:
        self.claimed = claimed
        self.move = move
        self.seen: list[tuple[str, int]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, entry: Entry) -> None:
        size = os.lstat(entry.path).st_size
        with self.lock:
            self.seen.append((entry.rel, size))
        if self.move:
            target = self.claimed / entry.rel.replace("/", "__")
            os.rename(entry.path, target)

    def rels(self) -> list[str]:
        with self.lock:
            return [rel for rel, _ in self.seen]

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.rels()) < count:
            time.sleep(TICK)
        return self.rels()


@pytest.fixture(params=[WatchMode.NATIVE, WatchMode.POLLING], ids=["native", "polling"])
def mode(request: pytest.FixtureRequest) -> WatchMode:
    return WatchMode(request.param)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def claimer(tmp_path: Path) -> Claimer:
    claimed = tmp_path / "claimed"
    claimed.mkdir()
    return Claimer(claimed)


@pytest.fixture
def watch(inbox: Path, claimer: Claimer, mode: WatchMode) -> Iterator[Callable[..., InboxWatcher]]:
    started: list[InboxWatcher] = []

    def start(**overrides: object) -> InboxWatcher:
        defaults = Watch()
        options: dict[str, object] = {
            "on_ready": claimer,
            "mode": mode,
            "recursive": defaults.recursive,
            "rescan_seconds": defaults.rescan_seconds,
            "extensions": defaults.extensions,
            "ignore": defaults.ignore,
            "settle_seconds": SETTLE,
            "check_interval": TICK,
            "on_problem": claimer.problems.append,
        }
        options.update(overrides)
        watcher = InboxWatcher(inbox, **options)  # type: ignore[arg-type]
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop(timeout=5.0)


def test_watcher_mode_runs_requested_observer(watch: Callable[..., InboxWatcher], mode: WatchMode
                                              ) -> None:  # fmt: skip
    watcher = watch()
    assert watcher.observer_kind is mode
    assert watcher.is_alive()


def test_watcher_file_present_at_start_reported_once(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    (inbox / "early.wav").write_bytes(AUDIO)
    watch()
    assert claimer.wait_for(1) == ["early.wav"]


def test_watcher_file_still_since_before_start_taken_without_waiting_to_settle(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    settle = 1.0
    (inbox / "z-old.wav").write_bytes(AUDIO)
    time.sleep(settle + 0.2)  # its ctime now lies further back than the settle time
    (inbox / "a-new.wav").write_bytes(AUDIO)
    watch(settle_seconds=settle)
    # Seen at the same scan, the new file must still settle; the old one needs no wait.
    assert claimer.wait_for(2) == ["z-old.wav", "a-new.wav"]


def test_watcher_cp_copy_reported_once_with_full_size(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    source = tmp_path / "src.wav"
    source.write_bytes(AUDIO * 100)
    shutil.copyfile(source, inbox / "copied.wav")
    claimer.wait_for(1)
    time.sleep(SETTLE + 4 * TICK)
    assert claimer.seen == [("copied.wav", len(AUDIO) * 100)]


def test_watcher_mv_within_filesystem_reported_once(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    source = tmp_path / "moved.wav"
    source.write_bytes(AUDIO)
    os.rename(source, inbox / "moved.wav")
    assert claimer.wait_for(1) == ["moved.wav"]


def test_watcher_rsync_temp_then_rename_reports_final_name_only(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    temp = inbox / ".synced.wav.Xa81Qz"
    temp.write_bytes(AUDIO)
    time.sleep(SETTLE + 4 * TICK)  # long enough that the temp name would have settled
    os.rename(temp, inbox / "synced.wav")
    claimer.wait_for(1)
    time.sleep(SETTLE + 4 * TICK)
    assert claimer.rels() == ["synced.wav"]


def test_watcher_slow_writer_never_taken_early(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch(settle_seconds=1.0)
    with open(inbox / "slow.wav", "wb") as handle:
        for _ in range(10):  # a chunk every 0.3 s for about 3 s
            handle.write(AUDIO)
            handle.flush()
            time.sleep(0.3)
    claimer.wait_for(1)
    assert claimer.seen == [("slow.wav", len(AUDIO) * 10)]


def test_watcher_writer_reopens_and_appends_taken_once_at_final_size(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch(settle_seconds=1.0)
    path = inbox / "reopened.wav"
    path.write_bytes(AUDIO)
    time.sleep(0.4)  # closed, but for less than settle_seconds
    with open(path, "ab") as handle:
        handle.write(AUDIO)
    claimer.wait_for(1)
    time.sleep(1.0 + 4 * TICK)
    assert claimer.seen == [("reopened.wav", 2 * len(AUDIO))]


def test_watcher_thousand_files_each_reported_exactly_once(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch(check_interval=0.1)
    staging = tmp_path / "staging"
    staging.mkdir()
    for number in range(1000):
        (staging / f"f{number:04}.wav").write_bytes(AUDIO)
    for path in staging.iterdir():
        os.rename(path, inbox / path.name)
    claimer.wait_for(1000, timeout=30.0)
    time.sleep(SETTLE + 0.3)
    counts = Counter(claimer.rels())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}


def test_watcher_ignored_and_foreign_names_skipped(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    for name in [".hidden.wav", "x.wav.part", "y.tmp", "~$z.wav", ".syncthing.a.wav.tmp", "n.txt"]:
        (inbox / name).write_bytes(AUDIO)
    (inbox / ".stversions").mkdir()
    (inbox / ".stversions" / "old.wav").write_bytes(AUDIO)
    (inbox / "ok.wav").write_bytes(AUDIO)
    claimer.wait_for(1)
    time.sleep(SETTLE + 4 * TICK)
    assert claimer.rels() == ["ok.wav"]


def test_watcher_recursive_subfolders_keep_relative_path(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / "a" / "b" / "deep.wav").write_bytes(AUDIO)
    assert claimer.wait_for(1) == ["a/b/deep.wav"]


def test_watcher_folder_moved_in_reports_its_files(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    album = tmp_path / "album"
    album.mkdir()
    (album / "one.wav").write_bytes(AUDIO)
    (album / "two.wav").write_bytes(AUDIO)
    os.rename(album, inbox / "album")
    assert sorted(claimer.wait_for(2)) == ["album/one.wav", "album/two.wav"]


def test_watcher_not_recursive_ignores_subfolders(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch(recursive=False)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "deep.wav").write_bytes(AUDIO)
    (inbox / "top.wav").write_bytes(AUDIO)
    claimer.wait_for(1)
    time.sleep(SETTLE + 4 * TICK)
    assert claimer.rels() == ["top.wav"]


def test_watcher_hostile_entries_offered_for_the_caller_to_fail(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watch()
    outside = tmp_path / "secret.wav"
    outside.write_bytes(AUDIO)
    (inbox / "link.wav").symlink_to(outside)
    (inbox / "dirlink").symlink_to(tmp_path)
    os.mkfifo(inbox / "pipe.wav")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inbox / "sock"))
        assert sorted(claimer.wait_for(4)) == ["dirlink", "link.wav", "pipe.wav", "sock"]
    assert outside.read_bytes() == AUDIO


def test_watcher_unchanged_file_left_in_place_not_offered_again(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    claimer.move = False
    watcher = watch()
    (inbox / "stays.wav").write_bytes(AUDIO)
    claimer.wait_for(1)
    watcher.rescan_now()
    time.sleep(SETTLE + 6 * TICK)
    assert claimer.rels() == ["stays.wav"]
    with open(inbox / "stays.wav", "ab") as handle:
        handle.write(AUDIO)
    assert claimer.wait_for(2) == ["stays.wav", "stays.wav"]


def test_watcher_callback_raising_is_retried(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    calls: list[str] = []

    def flaky(entry: Entry) -> None:
        calls.append(entry.rel)
        if len(calls) == 1:
            raise RuntimeError("queue full")
        claimer(entry)

    watch(on_ready=flaky)
    (inbox / "retry.wav").write_bytes(AUDIO)
    assert claimer.wait_for(1) == ["retry.wav"]
    assert calls == ["retry.wav", "retry.wav"]


def test_watcher_missed_event_found_by_rescan_now(
    inbox: Path,
    claimer: Claimer,
    watch: Callable[..., InboxWatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every event is lost, as after an inotify queue overflow.
    monkeypatch.setattr(inbox_module._EventHints, "dispatch", lambda self, event: None)
    watcher = watch(rescan_seconds=3600.0)
    (inbox / "unseen.wav").write_bytes(AUDIO)
    time.sleep(SETTLE + 6 * TICK)
    assert claimer.rels() == []
    watcher.rescan_now()
    assert claimer.wait_for(1) == ["unseen.wav"]


def test_watcher_missed_event_found_by_periodic_rescan(
    inbox: Path,
    claimer: Claimer,
    watch: Callable[..., InboxWatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inbox_module._EventHints, "dispatch", lambda self, event: None)
    watch(rescan_seconds=0.5)
    (inbox / "unseen.wav").write_bytes(AUDIO)
    assert claimer.wait_for(1) == ["unseen.wav"]


def test_watcher_inbox_deleted_and_recreated_recovers(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    watcher = watch(rescan_seconds=3600.0)
    (inbox / "before.wav").write_bytes(AUDIO)
    claimer.wait_for(1)
    shutil.rmtree(inbox)
    deadline = time.monotonic() + DEADLINE
    while not claimer.problems and time.monotonic() < deadline:
        time.sleep(TICK)
    assert any("cannot be read" in problem for problem in claimer.problems)
    inbox.mkdir()
    (inbox / "after.wav").write_bytes(AUDIO)
    assert claimer.wait_for(2) == ["before.wav", "after.wav"]
    assert watcher.is_alive()


def test_watcher_stop_ends_threads(watch: Callable[..., InboxWatcher]) -> None:
    watcher = watch()
    watcher.stop(timeout=5.0)
    assert not watcher.is_alive()


def test_watcher_inbox_replaced_between_ticks_still_sees_new_files(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    # A native observer dies with the folder it watched; the poller just polls the new one.
    watcher = watch(rescan_seconds=3600.0, check_interval=0.5)
    shutil.rmtree(inbox)
    inbox.mkdir()  # faster than a tick: the watcher never sees it missing
    (inbox / "after.wav").write_bytes(AUDIO)
    assert claimer.wait_for(1) == ["after.wav"]
    assert watcher.is_alive()


def test_watcher_unwatched_extension_reported_once_with_reason(
    inbox: Path, claimer: Claimer, watch: Callable[..., InboxWatcher]
) -> None:
    ignored: list[tuple[str, str]] = []
    (inbox / "call.mkv").write_bytes(AUDIO)
    watcher = watch(on_ignored=lambda rel, why: ignored.append((rel, why)))
    (inbox / "notes").write_bytes(b"no extension")
    (inbox / "late.wav").write_bytes(AUDIO)
    claimer.wait_for(1)
    for _ in range(3):  # later scans see the same files again
        watcher.rescan_now()
        time.sleep(4 * TICK)
    assert sorted(rel for rel, _ in ignored) == ["call.mkv", "notes"]
    reasons = dict(ignored)
    assert ".mkv is not in watch.extensions" in reasons["call.mkv"]
    assert "no extension" in reasons["notes"]
    assert claimer.rels() == ["late.wav"]


def test_watcher_stopped_inotify_emitter_error_kept_out_of_the_log(
    watch: Callable[..., InboxWatcher], caplog: pytest.LogCaptureFixture
) -> None:
    watch()
    emitter_log = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.ERROR, logger="watchdog.observers.inotify"):
        emitter_log.error("InotifyEmitter.queue_events() called when the thread is inactive")
        emitter_log.error("a real inotify failure")
    assert [r.getMessage() for r in caplog.records] == ["a real inotify failure"]
