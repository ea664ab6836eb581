"""A recording the embedded server refuses as too long: the report names the setting that
lifts the limit, and once it is raised, ``dropscribe retry`` sends the recording again from the
upload (the old request is not polled again): it is published, its old report is gone and
``status`` no longer lists the failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.daemon import DATA_PATHS, Daemon

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
#: Seconds `once` may take: loading tiny.en and transcribing 11 s of speech on 2 busy cores.
ONCE_TIMEOUT = 150.0


def settings(max_audio_hours: float) -> dict[str, object]:
    return {
        "paths": dict(DATA_PATHS),
        "watch": {"settle_seconds": 0.5},
        "poll": {"initial_seconds": 0.5, "max_seconds": 1},
        "embedded": {"max_audio_hours": max_audio_hours},
    }


@pytest.mark.slow
def test_retry_of_a_recording_refused_as_too_long_publishes_it_after_the_limit_is_raised(
    tmp_path: Path,
) -> None:
    daemon = Daemon(tmp_path, settings(0.001))  # 3.6 s; jfk.flac holds 11 s
    daemon.inbox.mkdir(parents=True)
    shutil.copyfile(SPEECH / "jfk.flac", daemon.inbox / "jfk.flac")
    daemon.run("once", timeout=ONCE_TIMEOUT)
    report_path = daemon.path("failed") / "jfk.flac.error.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert "max_audio_hours" in report["error"]
    assert "raise embedded.max_audio_hours" in report["hint"]
    (failed,) = daemon.events("job.failed")

    daemon.write_config(settings(1.0))
    retried = daemon.run("retry", failed["job_id"])
    assert retried.returncode == 0, retried.stderr[-2000:]
    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr[-3000:]
    assert (daemon.outbox / "jfk.txt").exists()
    (published,) = daemon.events("job.published")
    assert published["job_id"] == failed["job_id"]
    assert published["request_id"] != failed["request_id"]  # a new request, not the refused one
    assert list(daemon.path("failed").rglob("*")) == []
    status = json.loads(daemon.run("status", "--json").stdout)
    assert status["recent_failures"] == []
