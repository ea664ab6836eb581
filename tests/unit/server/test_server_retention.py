"""The retention sweep."""

from __future__ import annotations

from pathlib import Path

from dropscribe.server.records import UploadRecord
from dropscribe.server.retention import sweep, sweep_interval
from dropscribe.server.store import JobStore


def test_sweep_interval_tiny_and_huge_retention_clamped() -> None:
    assert sweep_interval(0.1) == 1.0
    assert sweep_interval(72 * 3600) == 3600.0
    assert sweep_interval(400.0) == 100.0


def test_sweep_old_upload_deletes_file_and_keeps_new_one(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    (tmp_path / "old.wav").write_bytes(b"x")
    (tmp_path / "new.wav").write_bytes(b"x")
    store.record_upload(UploadRecord("old", "wav", 1, 10.0))
    store.record_upload(UploadRecord("new", "wav", 1, 90.0))
    assert sweep(store, tmp_path, cutoff=50.0) == 1
    assert not (tmp_path / "old.wav").exists() and (tmp_path / "new.wav").exists()
    assert store.find_upload("old") is None
    store.close()
