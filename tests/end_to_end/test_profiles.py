"""Folder profiles end to end: recordings under a profile's folder run with its settings, key
by key over the top level's; the longest folder wins; the outbox keeps the relative path; the
.json provenance, status and webhooks name the profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.daemon import MakeDaemon, drop_all, sha256_of, wav_bytes
from support.fault_server import FaultServer

GERMAN = {"name": "german", "folder": "de", "whisper": {"language": "de"}}
GERMAN_TEXT_ONLY = {**GERMAN, "output": {"formats": ["txt", "json"]}}
OWN_MODEL = {"embedded": {"model": "small"}}
LEGAL = {"name": "legal", "folder": "de/legal/", "whisper": {"initial_prompt": "Court"}}


def _drop(daemon: Any, files: dict[str, bytes]) -> None:
    for rel in files:
        for root in (daemon.root / "staging", daemon.inbox):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
    drop_all(daemon.root / "staging", daemon.inbox, files)


def _provenance(daemon: Any, stem: str) -> dict[str, Any]:
    data = json.loads((daemon.path("outbox") / f"{stem}.json").read_text())
    return dict(data)


def test_profiles_longest_folder_wins_key_by_key_and_outbox_keeps_the_path(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon(whisper={"beam_size": 3}, profiles=[GERMAN_TEXT_ONLY, LEGAL])
    daemon.start_and_wait()
    files = {
        "de/a.wav": wav_bytes("a"),
        "de/legal/b.wav": wav_bytes("b"),
        "c.wav": wav_bytes("c"),
        "de/same.wav": wav_bytes("same"),
        "same.wav": wav_bytes("same"),
        "de/empty.wav": b"",
    }
    _drop(daemon, files)
    daemon.wait_for_published(5)
    daemon.wait_for_event("file.rejected")
    status = json.loads(daemon.run("status", "--json").stdout)
    assert daemon.stop() == 0

    outbox = sorted(p.as_posix() for p in daemon.files("outbox"))
    assert [p for p in outbox if p.startswith("de/a.")] == ["de/a.json", "de/a.txt"]
    assert [p for p in outbox if p.startswith("de/legal/b.")] == [
        f"de/legal/b.{ext}" for ext in ("json", "srt", "txt", "vtt")
    ]
    assert [p for p in outbox if p.startswith("c.")] == [
        f"c.{ext}" for ext in ("json", "srt", "txt", "vtt")
    ]
    german, legal, top = (_provenance(daemon, s) for s in ("de/a", "de/legal/b", "c"))
    assert (german["profile"], legal["profile"], top["profile"]) == ("german", "legal", None)
    assert (german["input"]["language"], german["input"]["beam_size"]) == ("de", 3)
    # legal is the longest match: its own keys over the top level's, not over german's.
    assert (legal["input"]["language"], legal["input"]["initial_prompt"]) == ("en", "Court")
    assert legal["input"]["beam_size"] == 3
    assert (top["input"]["language"], top["input"]["initial_prompt"]) == ("en", None)
    # The same audio under two profiles is not a duplicate: the settings differ.
    assert server.submissions_by_sha256()[sha256_of(wav_bytes("same"))] == 2
    assert server.submissions_total() == 5
    (failure,) = status["recent_failures"]
    assert (failure["source"], failure["profile"]) == ("de/empty.wav", "german")


def test_profiles_async_path_submits_to_the_profile_model(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    unknown_model = "/v1/async/ent/tiyarofs/1/openai/whisper-none"
    profile = {"name": "served", "folder": "served", "api": {"async_path": server.async_path}}
    daemon = make_daemon(api={"async_path": unknown_model}, profiles=[profile])
    daemon.start_and_wait()
    _drop(daemon, {"served/a.wav": wav_bytes("a"), "b.wav": wav_bytes("b")})
    daemon.wait_for_published(1)
    (failed,) = daemon.wait_for_event("job.failed")
    assert daemon.stop() == 0

    assert failed["source"] == "b.wav"  # the top level's model path is not served
    assert all(p.as_posix().startswith("served/a.") for p in daemon.files("outbox"))


def test_profiles_config_errors_are_listed_with_the_rest(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    daemon = make_daemon(
        watch={"settle_seconds": -1},
        profiles=[
            {"name": "a", "folder": "x", "whisper": {"langauge": "de"}},
            {"name": "b", "folder": "x/"},
            {"name": "c", "folder": "../outside"},
            {"name": "d", "folder": "/srv/abs"},
            {"name": "e", "folder": "y", "embedded": {"modell": "small"}},
        ],
    )
    result = daemon.run("check-config")

    assert result.returncode == 78
    problems = result.stderr
    assert "watch.settle_seconds" in problems
    assert "profiles.0.whisper.langauge: unknown setting" in problems
    assert "profiles.2.folder" in problems and "inside the inbox" in problems
    assert "profiles.3.folder" in problems and "relative to the inbox" in problems
    assert "profiles.4.embedded.modell: unknown setting" in problems
    # The duplicate folder is checked once the profiles themselves are valid.
    ok = make_daemon(
        "second", profiles=[{"name": "a", "folder": "x"}, {"name": "b", "folder": "x/"}]
    )
    second = ok.run("check-config")
    assert second.returncode == 78
    assert "folder 'x' is also the folder of 'a'" in second.stderr
    # A profile's own embedded model needs the embedded engine (this daemon's is remote).
    remote = make_daemon("third", profiles=[{"name": "e", "folder": "y", **OWN_MODEL}])
    third = remote.run("check-config")
    assert third.returncode == 78
    assert "profiles: e: embedded.model needs api.base_url: embedded" in third.stderr
