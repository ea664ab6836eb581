"""The outbox on real files: formats, atomicity, ownership, collisions, redaction, sweeping."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dropscribe.core import fsio
from dropscribe.core.fsio import TEMP_PREFIX
from dropscribe.core.redaction import MASK, Redactor
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox import CueLimits, Outbox

RESULT: RemoteTranscript = {
    "text": "Hello there. An hour in.",
    "segments": [
        {"start": 0.0, "end": 1.5, "text": "Hello there."},
        {"start": 3661.0, "end": 3662.0, "text": "An hour in."},
    ],
}
PROVENANCE = {"source": "talks/monday.mp3", "sha256": "ab" * 32, "request_id": "req-1"}


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no cleanup code runs for it."""


def fail_on_call(n: int, exc: BaseException) -> Callable[[Any, Any], None]:
    """Return an os.replace stand-in that raises ``exc`` on its ``n``-th call."""
    real = os.replace
    calls = 0

    def replace(src: Any, dst: Any, **dir_fds: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            raise exc
        real(src, dst, **dir_fds)

    return replace


def names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_publish_txt_line_per_segment_writes_one_line_per_segment(tmp_path: Path) -> None:
    Outbox(tmp_path, txt_line_per_segment=True).publish("m", "job-1", RESULT, PROVENANCE)
    assert (tmp_path / "m.txt").read_text() == "Hello there.\nAn hour in.\n"


def test_publish_all_formats_written_json_first(tmp_path: Path) -> None:
    paths = Outbox(tmp_path).publish("talks/monday", "job-1", RESULT, PROVENANCE)
    assert [p.name for p in paths] == ["monday.json", "monday.txt", "monday.srt", "monday.vtt"]
    assert names(tmp_path) == {f"talks/monday.{ext}" for ext in ("json", "txt", "srt", "vtt")}
    # An hour of silence between the two segments: two paragraphs.
    assert (tmp_path / "talks/monday.txt").read_text() == "Hello there.\n\nAn hour in.\n"
    assert (tmp_path / "talks/monday.vtt").read_text().startswith("WEBVTT\n\n00:00:00.000")
    assert "01:01:01,000 --> 01:01:02,000" in (tmp_path / "talks/monday.srt").read_text()


def test_publish_incomplete_txt_names_the_json_of_its_own_stem(tmp_path: Path) -> None:
    incomplete: RemoteTranscript = {**RESULT, "complete": False}
    Outbox(tmp_path).publish("talks/monday", "job-1", RESULT, PROVENANCE)
    Outbox(tmp_path).publish("talks/monday", "job-2", incomplete, PROVENANCE)
    first_line = (tmp_path / "talks/monday (2).txt").read_text().split("\n")[0]
    assert first_line.endswith("see monday (2).json]")
    assert (tmp_path / "talks/monday.txt").read_text() == "Hello there.\n\nAn hour in.\n"


def test_publish_subtitle_limits_reach_the_cues(tmp_path: Path) -> None:
    # 13 characters in 4.5 s: "one two three" is too long for a line of 10, "two three"
    # (from 1.04 s) for a cue of 3 s.
    result: RemoteTranscript = {"segments": [{"start": 0.0, "end": 4.5, "text": "one two three"}]}
    Outbox(tmp_path, subtitles=CueLimits(3.0, 10, 1)).publish("m", "job-1", result, {})
    assert (tmp_path / "m.srt").read_text() == (
        "1\n00:00:00,000 --> 00:00:02,423\none two\n\n2\n00:00:02,423 --> 00:00:04,500\nthree\n"
    )


def test_publish_json_carries_provenance_and_result(tmp_path: Path) -> None:
    Outbox(tmp_path).publish("monday", "job-1", RESULT, PROVENANCE)
    doc = json.loads((tmp_path / "monday.json").read_text())
    assert doc == {"dropscribe": 1, "job_id": "job-1", **PROVENANCE, "result": RESULT}


def test_publish_result_without_segments_only_txt_and_json(tmp_path: Path) -> None:
    Outbox(tmp_path).publish("monday", "job-1", {"text": "hi"}, PROVENANCE)
    assert names(tmp_path) == {"monday.json", "monday.txt"}


def test_publish_formats_configured_without_subtitles_only_txt_and_json(tmp_path: Path) -> None:
    Outbox(tmp_path, formats=("txt", "json")).publish("monday", "job-1", RESULT, PROVENANCE)
    assert names(tmp_path) == {"monday.json", "monday.txt"}


def test_outbox_unknown_format_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="docx"):
        Outbox(tmp_path, formats=("txt", "docx"))


def test_publish_files_readable_as_umask_allows(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        paths = Outbox(tmp_path).publish("monday", "job-1", RESULT, PROVENANCE)
    finally:
        os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in paths} == {0o644}


def test_publish_crash_between_renames_no_partial_final_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", fail_on_call(2, Crash()))
    with pytest.raises(Crash):
        Outbox(tmp_path).publish("monday", "job-1", RESULT, PROVENANCE)
    final = {n for n in names(tmp_path) if not n.startswith(TEMP_PREFIX)}
    assert final == {"monday.json"}  # complete: it was renamed whole
    assert json.loads((tmp_path / "monday.json").read_text())["job_id"] == "job-1"
    assert len(names(tmp_path) - final) == 1  # the txt, still a temp


def test_publish_crash_before_first_rename_no_final_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", fail_on_call(1, Crash()))
    with pytest.raises(Crash):
        Outbox(tmp_path).publish("monday", "job-1", RESULT, PROVENANCE)
    assert all(n.startswith(TEMP_PREFIX) for n in names(tmp_path))


def test_sweep_temp_after_crash_removes_leftovers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", fail_on_call(2, Crash()))
        with pytest.raises(Crash):
            box.publish("talks/monday", "job-1", RESULT, PROVENANCE)
    (tmp_path / "other.txt").write_text("keep me")
    assert box.sweep_temp() == 1
    assert names(tmp_path) == {"talks/monday.json", "other.txt"}


def test_publish_again_after_crash_completes_under_same_stem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", fail_on_call(3, Crash()))
        with pytest.raises(Crash):
            box.publish("monday", "job-1", RESULT, PROVENANCE)
    box.sweep_temp()
    box.publish("monday", "job-1", RESULT, PROVENANCE)
    assert names(tmp_path) == {f"monday.{ext}" for ext in ("json", "txt", "srt", "vtt")}


def test_publish_os_error_removes_temp_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", fail_on_call(1, OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        Outbox(tmp_path).publish("monday", "job-1", RESULT, PROVENANCE)
    assert names(tmp_path) == set()


def test_publish_same_job_again_overwrites_own_files(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.publish("monday", "job-1", {"text": "first"}, PROVENANCE)
    paths = box.publish("monday", "job-1", {"text": "second"}, PROVENANCE)
    assert [p.name for p in paths] == ["monday.json", "monday.txt"]
    assert (tmp_path / "monday.txt").read_text() == "second\n"
    assert names(tmp_path) == {"monday.json", "monday.txt"}


def test_publish_other_job_same_stem_gets_numbered_suffix(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.publish("monday", "job-1", {"text": "first"}, PROVENANCE)
    second = box.publish("monday", "job-2", {"text": "second"}, PROVENANCE)
    third = box.publish("monday", "job-3", {"text": "third"}, PROVENANCE)
    assert [p.name for p in second] == ["monday (2).json", "monday (2).txt"]
    assert [p.name for p in third] == ["monday (3).json", "monday (3).txt"]
    assert (tmp_path / "monday.txt").read_text() == "first\n"


def test_publish_txt_left_by_someone_else_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "monday.txt").write_text("my own notes")
    paths = Outbox(tmp_path).publish("monday", "job-1", {"text": "hi"}, PROVENANCE)
    assert (tmp_path / "monday.txt").read_text() == "my own notes"
    assert [p.name for p in paths] == ["monday (2).json", "monday (2).txt"]


def test_publish_foreign_json_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "monday.json").write_text('{"job_id": "job-1"}')  # not written by us
    Outbox(tmp_path).publish("monday", "job-1", {"text": "hi"}, PROVENANCE)
    assert (tmp_path / "monday.json").read_text() == '{"job_id": "job-1"}'
    assert (tmp_path / "monday (2).txt").read_text() == "hi\n"


def test_publish_concurrent_jobs_same_stem_get_distinct_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fsio.write_atomic_at

    def slow_write(root: Path, rel: str, data: bytes, prefix: str) -> Path:
        time.sleep(0.05)  # widens the window between choosing a stem and claiming it
        return real(root, rel, data, prefix)

    monkeypatch.setattr("dropscribe.outbox.publishing.write_atomic_at", slow_write)
    box = Outbox(tmp_path, formats=("txt", "json"))
    threads = [
        threading.Thread(target=box.publish, args=("a", f"job-{i}", {"text": str(i)}, {}))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    owners = {json.loads(p.read_text())["job_id"] for p in tmp_path.glob("*.json")}
    assert owners == {f"job-{i}" for i in range(4)}


def test_publish_signature_and_known_secret_masked_everywhere(tmp_path: Path) -> None:
    secret = "sk-canary-7f3a9c"
    signed = "https://bucket.example/up?X-Amz-Signature=deadbeef&X-Amz-Date=1"
    provenance = {**PROVENANCE, "upload_url": signed, "steps": [{"note": f"key {secret}"}]}
    result: RemoteTranscript = {
        "text": f"said {secret}",
        "segments": [{"start": 0, "end": 1, "text": signed}],
    }
    Outbox(tmp_path, redactor=Redactor([secret])).publish("m", "job-1", result, provenance)
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert secret not in text, path.name
        assert "deadbeef" not in text, path.name
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["upload_url"] == f"https://bucket.example/up?X-Amz-Signature={MASK}&X-Amz-Date=1"


def test_publish_default_redactor_masks_url_signature(tmp_path: Path) -> None:
    provenance = {"upload_url": "https://h/x?sig=deadbeef"}
    Outbox(tmp_path).publish("m", "job-1", {"text": "hi"}, provenance)
    assert "deadbeef" not in (tmp_path / "m.json").read_text()


def test_publish_hostile_name_stays_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "outbox"
    paths = Outbox(root).publish("../../etc/-x\nname", "job-1", {"text": "hi"}, {})
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "etc/_x_name.json",
        "etc/_x_name.txt",
    ]
    assert names(tmp_path) == {"outbox/etc/_x_name.json", "outbox/etc/_x_name.txt"}


def test_sweep_temp_nested_folders_counted(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    for rel in (f"{TEMP_PREFIX}1", f"a/{TEMP_PREFIX}2", f"a/b/{TEMP_PREFIX}3", "a/b/keep.txt"):
        (tmp_path / rel).write_text("x")
    assert Outbox(tmp_path).sweep_temp() == 3
    assert names(tmp_path) == {"a/b/keep.txt"}


def test_sweep_temp_missing_root_zero(tmp_path: Path) -> None:
    assert Outbox(tmp_path / "absent").sweep_temp() == 0


def test_publish_fifo_under_an_output_name_neither_blocks_nor_is_overwritten(
    tmp_path: Path,
) -> None:
    root = tmp_path / "outbox"
    root.mkdir()
    os.mkfifo(root / "talk.json")
    written = Outbox(root).publish("talk", "job-1", {"text": "hi"}, {})
    assert written[0] == root / "talk (2).json"
    assert stat.S_ISFIFO(os.lstat(root / "talk.json").st_mode)
