"""Mounts: the filesystem holding the inbox, and so how the inbox can be watched.

inotify only sees changes made through the local kernel: on NFS, SMB, sshfs and other network
or FUSE filesystems a file written by another machine raises no event, so ``auto`` picks the
polling observer there. The type comes from /proc/self/mounts; nothing here imports watchdog.
"""

from __future__ import annotations

import os
from pathlib import Path

from dropscribe.core.watch_mode import WatchMode

# Filesystem types where inotify does not see changes made by other machines; "fuse.*" is
# matched too (sshfs reports "fuse.sshfs").
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "sshfs", "9p", "afs", "ceph",
        "glusterfs", "lustre", "gpfs", "davfs", "fuse", "fuseblk", "virtiofs", "vboxsf",
        "vmhgfs", "drvfs",
    }
)  # fmt: skip


def choose_observer_kind(mode: WatchMode, fs_type: str) -> WatchMode:
    """Given the configured mode and the inbox's filesystem type, return NATIVE or POLLING."""
    if mode is not WatchMode.AUTO:
        return mode
    if fs_type in NETWORK_FILESYSTEMS or fs_type.startswith("fuse."):
        return WatchMode.POLLING
    return WatchMode.NATIVE


def _unescape_mount_field(field: str) -> str:
    # /proc/self/mounts writes space, tab, newline and backslash as three-digit octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_type_for(path: str, mounts_text: str) -> str:
    """Given an absolute path and the text of /proc/self/mounts, return the filesystem type
    of the longest mount point containing it (the last such line wins, as later mounts hide
    earlier ones), or "" when no line matches."""
    best, best_len = "", -1
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape_mount_field(fields[1])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best_len:
            best, best_len = fields[2], len(point)
    return best


def filesystem_type(path: Path) -> str:
    """Return the filesystem type holding ``path`` (e.g. "ext4", "nfs4"), or "" if unknown."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return ""
    return mount_type_for(os.path.realpath(path), mounts)
