"""A file swapped between its inspection and its claim, on real folders: the claim checks the
identity (device, inode, link count) of what it moved against what was inspected, puts a
stranger back in the inbox, and the watcher settles and inspects it again from the start.

The watcher runs on a manual clock, its settle thread parked; the test steps it with
``tick()`` and does the swap inside the offer, between the two steps the daemon takes
(:func:`inspect_entry`, then :meth:`Custody.claim`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.custody import Custody, Folders, ensure_layout
from dropscribe.intake.inbox import Entry, InboxWatcher
from dropscribe.intake.recordings import EntryChanged, Verdict, inspect_entry

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48
OTHER = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x01" * 48
SETTLE = 2.0  # settle_seconds, on the manual clock
PARKED = 3600.0  # check_interval (real seconds): the settle thread never ticks by itself


class Intake:
    """The daemon's two steps for a settled entry, with ``swap`` run between them once."""

    def __init__(self, custody: Custody, swap: Callable[[Path], None]) -> None:
        self.custody = custody
        self.swap: Callable[[Path], None] | None = swap
        self.verdicts: list[tuple[str, Verdict]] = []
        self.claimed: list[Path] = []
        self.changed: list[str] = []
        self.tick = 0  # the watcher's tick in progress
        self.inspected_at: list[int] = []  # the tick of each inspection

    def __call__(self, entry: Entry) -> None:
        verdict = inspect_entry(entry.path, max_bytes=1 << 20, extensions=("wav",))
        self.inspected_at.append(self.tick)
        self.verdicts.append((entry.rel, verdict))
        if not verdict.ok:
            return  # the daemon moves it to failed/; here it just stays refused
        assert verdict.identity is not None
        if self.swap is not None:
            swap, self.swap = self.swap, None
            swap(entry.path)
        try:
            self.claimed.append(self.custody.claim(entry.rel, verdict.identity))
        except EntryChanged:
            self.changed.append(entry.rel)
            raise


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    folders = Folders(*(tmp_path / name for name in ("inbox", "processing", "done", "failed")))
    ensure_layout(folders, tmp_path / "outbox")
    return folders


def run_watcher(folders: Folders, intake: Intake, ticks: int) -> None:
    clock = [1000.0]
    watcher = InboxWatcher(
        folders.inbox,
        on_ready=intake,
        mode=WatchMode.POLLING,
        recursive=True,
        settle_seconds=SETTLE,
        rescan_seconds=3600.0,
        extensions=("wav",),
        ignore=(".*",),
        check_interval=PARKED,
        clock=lambda: clock[0],
        wall_clock=lambda: 0.0,  # every file looks just changed: each one settles in full
    )
    watcher.start()
    try:
        for tick in range(ticks):
            clock[0] += SETTLE
            intake.tick = tick
            watcher.tick()
    finally:
        watcher.stop(timeout=5.0)


def test_claim_of_a_hard_link_swapped_in_puts_it_back_and_it_is_refused_next(
    folders: Folders, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.wav"  # someone else's recording, on the same filesystem
    elsewhere.write_bytes(OTHER)

    def swap_for_hard_link(path: Path) -> None:
        os.unlink(path)
        os.link(elsewhere, path)

    (folders.inbox / "talk.wav").write_bytes(AUDIO)
    intake = Intake(Custody(folders), swap_for_hard_link)
    run_watcher(folders, intake, ticks=6)

    assert intake.changed == ["talk.wav"]
    assert intake.claimed == []
    assert list(folders.processing.iterdir()) == []
    # Back in the inbox, settled again from the start, inspected again: a hard link, refused.
    assert [rel for rel, _ in intake.verdicts] == ["talk.wav", "talk.wav"]
    second = intake.verdicts[1][1]
    assert not second.ok and "hard link" in second.reason
    assert (folders.inbox / "talk.wav").read_bytes() == OTHER


def test_claim_of_another_file_swapped_in_settles_and_claims_that_one(
    folders: Folders, tmp_path: Path
) -> None:
    def swap_for_other_file(path: Path) -> None:
        staged = tmp_path / "staged.wav"
        staged.write_bytes(OTHER)
        os.rename(staged, path)  # a new inode under the inspected name

    (folders.inbox / "talk.wav").write_bytes(AUDIO)
    intake = Intake(Custody(folders), swap_for_other_file)
    run_watcher(folders, intake, ticks=6)

    assert intake.changed == ["talk.wav"]
    assert [path.name for path in intake.claimed] == ["talk.wav"]
    assert intake.claimed[0].read_bytes() == OTHER  # the new file, inspected in its own right
    assert list(folders.inbox.iterdir()) == []


def test_claim_of_the_inspected_file_linked_elsewhere_meanwhile_is_not_claimed(
    folders: Folders, tmp_path: Path
) -> None:
    def link_elsewhere(path: Path) -> None:
        os.link(path, tmp_path / "second-name.wav")  # same inode, now two links

    (folders.inbox / "talk.wav").write_bytes(AUDIO)
    intake = Intake(Custody(folders), link_elsewhere)
    run_watcher(folders, intake, ticks=6)

    assert intake.changed == ["talk.wav"]
    assert intake.claimed == []
    assert not intake.verdicts[-1][1].ok and "hard link" in intake.verdicts[-1][1].reason
    # Its size, mtime and inode never changed, yet it settled again from the start: two
    # observations a settle time apart before it was inspected again.
    first, second = intake.inspected_at
    assert second - first >= 2
