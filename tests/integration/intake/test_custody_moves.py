"""Custody moves on real folders: claim, complete, fail, restore, and the layout checks."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from dropscribe.core.errors import InputRejected
from dropscribe.intake.custody import Custody, Folders, check_layout, ensure_layout, report_mode
from dropscribe.intake.recordings import Identity, identity_of

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    folders = Folders(
        inbox=tmp_path / "inbox",
        processing=tmp_path / "processing",
        done=tmp_path / "done",
        failed=tmp_path / "failed",
    )
    ensure_layout(folders, tmp_path / "outbox")
    return folders


@pytest.fixture
def custody(folders: Folders) -> Custody:
    return Custody(folders)


def claim(custody: Custody, rel: str) -> Path:
    """Claim inbox/``rel`` as the file it is now (as though just inspected)."""
    path = custody.inbox_path(rel)
    inspected = identity_of(os.lstat(path)) if os.path.lexists(path) else Identity(0, 0, 1)
    return custody.claim(rel, inspected)


def drop(folders: Folders, rel: str, data: bytes = AUDIO) -> Path:
    path = folders.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_custody_claim_keeps_subfolders(folders: Folders, custody: Custody) -> None:
    drop(folders, "team/monday/standup.wav")
    claimed = claim(custody, "team/monday/standup.wav")
    assert claimed == folders.processing / "team/monday/standup.wav"
    assert claimed.read_bytes() == AUDIO
    assert not (folders.inbox / "team/monday/standup.wav").exists()


def test_custody_claim_gone_raises_file_not_found(custody: Custody) -> None:
    with pytest.raises(FileNotFoundError):
        claim(custody, "never.wav")


def test_custody_claim_collision_gets_numbered_name(folders: Folders, custody: Custody) -> None:
    drop(folders, "a.wav", b"first")
    first = claim(custody, "a.wav")
    drop(folders, "a.wav", b"second")
    second = claim(custody, "a.wav")
    assert second == folders.processing / "a (2).wav"
    assert (first.read_bytes(), second.read_bytes()) == (b"first", b"second")


def test_custody_claim_rejects_escaping_rel(custody: Custody) -> None:
    with pytest.raises(ValueError, match="not a safe relative path"):
        claim(custody, "../outside.wav")


def test_custody_claim_through_folder_link_refused(
    tmp_path: Path, folders: Folders, custody: Custody
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.wav").write_bytes(AUDIO)
    (folders.inbox / "sub").symlink_to(elsewhere)
    with pytest.raises(InputRejected):
        claim(custody, "sub/private.wav")
    assert (elsewhere / "private.wav").exists()


def test_custody_complete_moves_to_done_and_prunes_processing(
    folders: Folders, custody: Custody
) -> None:
    drop(folders, "sub/a.wav")
    claim(custody, "sub/a.wav")
    done = custody.complete("sub/a.wav")
    assert done == folders.done / "sub/a.wav"
    assert done.read_bytes() == AUDIO
    assert list(folders.processing.iterdir()) == []


def test_custody_complete_collision_never_overwrites(folders: Folders, custody: Custody) -> None:
    (folders.done / "a.wav").write_bytes(b"older")
    drop(folders, "a.wav")
    claim(custody, "a.wav")
    assert custody.complete("a.wav") == folders.done / "a (2).wav"
    assert (folders.done / "a.wav").read_bytes() == b"older"


def test_custody_complete_delete_removes_source(folders: Folders, custody: Custody) -> None:
    drop(folders, "a.wav")
    claimed = claim(custody, "a.wav")
    assert custody.complete("a.wav", delete=True) is None
    assert not claimed.exists()
    assert list(folders.done.iterdir()) == []


def test_custody_fail_writes_report_beside_with_redacted_urls(
    folders: Folders, custody: Custody
) -> None:
    drop(folders, "sub/a.wav")
    claim(custody, "sub/a.wav")
    report = {
        "step": "upload",
        "attempts": 3,
        "last_error": "PUT https://s3/x?X-Amz-Signature=abc123&v=1 failed",
        "urls": ["https://h/p?sig=zzz"],
    }
    failed = custody.fail("sub/a.wav", report)
    assert failed == folders.failed / "sub/a.wav"
    assert failed.read_bytes() == AUDIO
    body = json.loads((folders.failed / "sub/a.wav.error.json").read_text(encoding="utf-8"))
    assert body["source"] == "sub/a.wav"
    assert body["attempts"] == 3
    assert "abc123" not in body["last_error"]
    assert body["urls"] == ["https://h/p?sig=[REDACTED]"]
    assert not any(p.name.endswith(".tmp") for p in folders.failed.rglob("*"))


def test_custody_fail_never_overwrites_earlier_failure(folders: Folders, custody: Custody) -> None:
    (folders.failed / "a.wav").write_bytes(b"older")
    (folders.failed / "a.wav.error.json").write_text("{}", encoding="utf-8")
    drop(folders, "a.wav")
    claim(custody, "a.wav")
    failed = custody.fail("a.wav", {"step": "submit"})
    assert failed == folders.failed / "a (2).wav"
    assert (folders.failed / "a.wav").read_bytes() == b"older"
    assert (folders.failed / "a.wav.error.json").read_text(encoding="utf-8") == "{}"
    assert (folders.failed / "a (2).wav.error.json").exists()


def test_custody_fail_orphan_report_name_also_avoided(folders: Folders, custody: Custody) -> None:
    (folders.failed / "a.wav.error.json").write_text("{}", encoding="utf-8")
    drop(folders, "a.wav")
    claim(custody, "a.wav")
    assert custody.fail("a.wav", {}) == folders.failed / "a (2).wav"


def test_custody_fail_from_inbox_moves_symlink_itself(
    tmp_path: Path, folders: Folders, custody: Custody
) -> None:
    target = tmp_path / "target.wav"
    target.write_bytes(AUDIO)
    (folders.inbox / "link.wav").symlink_to(target)
    failed = custody.fail("link.wav", {"reason": "is a symbolic link"}, from_inbox=True)
    assert failed.is_symlink()
    assert target.read_bytes() == AUDIO
    assert not os.path.lexists(folders.inbox / "link.wav")


def test_custody_fail_from_inbox_moves_fifo_and_socket_without_opening(
    folders: Folders, custody: Custody
) -> None:
    os.mkfifo(folders.inbox / "pipe.wav")  # opening it would block: the test would time out
    assert custody.fail("pipe.wav", {}, from_inbox=True) == folders.failed / "pipe.wav"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folders.inbox / "sock.wav"))
        assert custody.fail("sock.wav", {}, from_inbox=True) == folders.failed / "sock.wav"


def test_custody_fail_gone_leaves_no_draft(folders: Folders, custody: Custody) -> None:
    with pytest.raises(FileNotFoundError):
        custody.fail("gone.wav", {})
    assert list(folders.failed.iterdir()) == []


def test_custody_restore_moves_back_and_removes_report(folders: Folders, custody: Custody) -> None:
    drop(folders, "sub/a.wav")
    claim(custody, "sub/a.wav")
    custody.fail("sub/a.wav", {})
    restored = custody.restore("sub/a.wav")
    assert restored == folders.processing / "sub/a.wav"
    assert restored.read_bytes() == AUDIO
    assert list(folders.failed.joinpath("sub").iterdir()) == []


def test_custody_restore_as_original_rel(folders: Folders, custody: Custody) -> None:
    (folders.failed / "a (2).wav").write_bytes(AUDIO)
    assert custody.restore("a (2).wav", as_rel="a.wav") == folders.processing / "a.wav"


def test_custody_restore_report_refused(folders: Folders, custody: Custody) -> None:
    with pytest.raises(ValueError, match="error report"):
        custody.restore("a.wav.error.json")


AWKWARD = [
    "with spaces.wav",
    "ünïcødé 録音.wav",
    "new\nline.wav",
    "-leading-dash.wav",
    "x" * 246 + ".wav",  # 250 bytes
    "é" * 125 + ".wav",  # 254 bytes
]


@pytest.mark.parametrize("name", AWKWARD, ids=range(len(AWKWARD)))
def test_custody_awkward_name_survives_claim_and_complete(
    folders: Folders, custody: Custody, name: str
) -> None:
    drop(folders, name)
    drop(folders, "sub/" + name)
    assert claim(custody, name).name == name
    assert custody.complete(name) == folders.done / name
    (folders.done / "sub").mkdir()
    (folders.done / "sub" / name).write_bytes(b"older")
    claim(custody, "sub/" + name)
    again = custody.complete("sub/" + name)
    assert again is not None and again.read_bytes() == AUDIO
    assert len(os.fsencode(again.name)) <= 255


@pytest.mark.parametrize("name", AWKWARD, ids=range(len(AWKWARD)))
def test_custody_awkward_name_survives_fail(folders: Folders, custody: Custody, name: str) -> None:
    drop(folders, name)
    claim(custody, name)
    failed = custody.fail(name, {"step": "upload"})
    assert failed.read_bytes() == AUDIO
    report = failed.with_name(failed.name + ".error.json")
    assert json.loads(report.read_text(encoding="utf-8"))["source"] == name


def test_check_layout_good_layout_has_no_problems(tmp_path: Path, folders: Folders) -> None:
    assert check_layout(folders, tmp_path / "outbox") == []


def test_check_layout_missing_folders_judged_by_parent(tmp_path: Path) -> None:
    folders = Folders(tmp_path / "i", tmp_path / "p", tmp_path / "d", tmp_path / "f")
    assert check_layout(folders, tmp_path / "o") == []


def test_check_layout_folder_inside_inbox_reported(tmp_path: Path, folders: Folders) -> None:
    nested = Folders(folders.inbox, folders.inbox / "processing", folders.done, folders.failed)
    problems = check_layout(nested, tmp_path / "outbox")
    assert problems == [
        f"the processing folder {folders.inbox / 'processing'} is inside the inbox folder "
        f"{folders.inbox}; keep them apart"
    ]


def test_check_layout_inbox_inside_another_reported(tmp_path: Path, folders: Folders) -> None:
    nested = Folders(folders.done / "inbox", folders.processing, folders.done, folders.failed)
    assert "the inbox folder" in check_layout(nested, tmp_path / "outbox")[0]


def test_check_layout_outbox_inside_inbox_reported(folders: Folders) -> None:
    assert "outbox" in check_layout(folders, folders.inbox / "out")[0]


def test_check_layout_same_folder_twice_reported(tmp_path: Path, folders: Folders) -> None:
    same = Folders(folders.inbox, folders.processing, folders.done, folders.done)
    assert "are the same folder" in check_layout(same, tmp_path / "outbox")[0]


def test_check_layout_other_filesystem_reported(tmp_path: Path, folders: Folders) -> None:
    shm = Path("/dev/shm")
    assert shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev, (
        "this test needs /dev/shm on another filesystem than the temporary folder"
    )
    apart = Folders(
        folders.inbox, folders.processing, shm / f"dropscribe-{os.getpid()}", folders.failed
    )
    problems = check_layout(apart, tmp_path / "outbox")
    assert len(problems) == 1
    assert "the done folder" in problems[0] and "another filesystem" in problems[0]


def other_group() -> int:
    """Return a group the recording can be given that differs from ours where possible: any
    group as root, else one of our supplementary groups, else our own."""
    if os.geteuid() == 0:
        return os.getegid() + 4242
    others = [gid for gid in os.getgroups() if gid != os.getegid()]
    return others[0] if others else os.getegid()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o755])
def test_custody_fail_report_gets_the_recordings_mode_and_group(
    folders: Folders, custody: Custody, mode: int
) -> None:
    recording = drop(folders, "a.wav")
    gid = other_group()
    os.chown(recording, -1, gid)
    recording.chmod(mode)
    claim(custody, "a.wav")
    custody.fail("a.wav", {"step": "poll"})
    report = (folders.failed / "a.wav.error.json").stat()
    assert stat.S_IMODE(report.st_mode) == mode & 0o666
    assert report.st_gid == gid


def test_report_mode_never_executable_always_owner_readable() -> None:
    assert report_mode(stat.S_IFREG | 0o4755) == 0o644
    assert report_mode(stat.S_IFREG | 0o044) == 0o644
