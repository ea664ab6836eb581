"""Mounts: which observer kind runs on which filesystem, and the filesystem type of a path."""

from __future__ import annotations

import pytest

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.mounts import choose_observer_kind, mount_type_for


@pytest.mark.parametrize(
    "fs_type", ["nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "fuse"]
)
def test_choose_observer_kind_auto_on_network_fs_polls(fs_type: str) -> None:
    assert choose_observer_kind(WatchMode.AUTO, fs_type) is WatchMode.POLLING


@pytest.mark.parametrize("fs_type", ["ext4", "xfs", "btrfs", "tmpfs", "zfs", ""])
def test_choose_observer_kind_auto_on_local_fs_is_native(fs_type: str) -> None:
    assert choose_observer_kind(WatchMode.AUTO, fs_type) is WatchMode.NATIVE


def test_choose_observer_kind_explicit_mode_wins() -> None:
    assert choose_observer_kind(WatchMode.NATIVE, "nfs4") is WatchMode.NATIVE
    assert choose_observer_kind(WatchMode.POLLING, "ext4") is WatchMode.POLLING


MOUNTS = """\
/dev/vda / ext4 rw 0 0
server:/export /mnt/share nfs4 rw 0 0
//nas/rec /mnt/share/rec cifs rw 0 0
tmpfs /mnt/my\\040drive tmpfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/me/inbox", "ext4"),
        ("/mnt/share", "nfs4"),
        ("/mnt/share/inbox", "nfs4"),
        ("/mnt/shared", "ext4"),
        ("/mnt/share/rec/inbox", "cifs"),
        ("/mnt/my drive/inbox", "tmpfs"),
    ],
)
def test_mount_type_for_longest_mount_point_wins(path: str, expected: str) -> None:
    assert mount_type_for(path, MOUNTS) == expected


def test_mount_type_for_later_mount_hides_earlier() -> None:
    assert mount_type_for("/data/x", "a /data ext4 rw 0 0\nb /data nfs rw 0 0\n") == "nfs"
