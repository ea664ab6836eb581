"""``dropscribe once`` with the real embedded engine (the default ``api.base_url: embedded``):
the speech fixtures become transcripts in every format, close enough to their references.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.daemon import DATA_PATHS, Daemon, expect_outputs
from support.wer import word_error_rate

#: The shared/ folder beside the checkout (CI clones elsewhere with a copy of it beside).
SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
FIXTURES = ("OSR_us_000_0034_8k.wav", "jfk.flac")
MAX_WER = 0.10
#: Seconds `once` may take: loading tiny.en and transcribing 47 s of speech on 2 busy cores.
ONCE_TIMEOUT = 150.0

EMBEDDED_SETTINGS = {
    "paths": dict(DATA_PATHS),
    "watch": {"settle_seconds": 0.5},
    "poll": {"initial_seconds": 0.5, "max_seconds": 1},
}


@pytest.mark.slow
def test_once_embedded_engine_transcribes_fixtures_within_10_percent_wer(tmp_path: Path) -> None:
    references = json.loads((SPEECH / "references.json").read_text(encoding="utf-8"))
    daemon = Daemon(tmp_path, EMBEDDED_SETTINGS)
    daemon.inbox.mkdir(parents=True)
    for name in FIXTURES:
        shutil.copyfile(SPEECH / name, daemon.inbox / name)

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr[-3000:]
    stems = [Path(name).stem for name in FIXTURES]
    assert daemon.outputs() == expect_outputs(stems)
    for name, stem in zip(FIXTURES, stems, strict=True):
        text = (daemon.outbox / f"{stem}.txt").read_text(encoding="utf-8")
        wer = word_error_rate(references[name]["reference"], text)
        assert wer <= MAX_WER, f"{name}: WER {wer:.1%} > {MAX_WER:.0%}: {text!r}"


@pytest.mark.slow
def test_once_embedded_after_success_delete_leaves_no_copy_of_the_recording(
    tmp_path: Path,
) -> None:
    settings = {**EMBEDDED_SETTINGS, "output": {"after_success": "delete"}}
    daemon = Daemon(tmp_path, settings)
    daemon.inbox.mkdir(parents=True)
    shutil.copyfile(SPEECH / "jfk.flac", daemon.inbox / "jfk.flac")

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr[-3000:]
    assert (daemon.outbox / "jfk.txt").exists()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".flac"]
    assert leftovers == []
