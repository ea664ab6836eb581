"""Live reload: SIGHUP reads the configuration again and applies profiles, formats, notify,
watch and quality settings without dropping work in flight; a change that needs a restart is
logged and left; a broken file is refused with every problem, the old settings stay."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from support.daemon import MakeDaemon, drop_all, merged, wav_bytes
from support.fault_server import FaultServer
from support.webhook_receiver import TEST_SECRET, WebhookReceiver

SECRET_ENV = "DROPSCRIBE_WEBHOOK_SECRET"
ALL_FORMATS = ("json", "srt", "txt", "vtt")


def outputs_of(daemon: object, stem: str) -> list[str]:
    outbox = daemon.path("outbox")  # type: ignore[attr-defined]
    return sorted(p.name.removeprefix(f"{stem}.") for p in outbox.glob(f"{stem}.*"))


def test_reload_applies_live_keys_keeps_work_in_flight_and_reports_restart_keys(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.polls_before_success = 8  # keep the first job in flight across the reload
    with WebhookReceiver() as receiver:
        daemon = make_daemon(poll={"initial_seconds": 0.3, "max_seconds": 0.3})
        daemon.extra_env[SECRET_ENV] = TEST_SECRET
        daemon.start_and_wait()
        drop_all(daemon.root / "staging", daemon.inbox, {"inflight.wav": wav_bytes("f")})
        daemon.wait_for_state("submitted")
        changes = {
            "output": {"formats": ["txt", "json"]},
            "profiles": [{"name": "german", "folder": "de", "whisper": {"language": "de"}}],
            "notify": {"webhooks": [{"url": receiver.url, "secret_env": SECRET_ENV}]},
            "quality": {"on_incomplete": "fail"},
            "paths": {**daemon.settings["paths"], "outbox": "data/elsewhere"},
        }
        daemon.write_config(merged(daemon.settings, changes))
        daemon.signal(signal.SIGHUP)
        (reloaded,) = daemon.wait_for_event("config.reloaded")
        (restart,) = daemon.wait_for_event("config.restart_required")
        server.polls_before_success = 0
        (daemon.inbox / "de").mkdir()
        drop_all(daemon.root / "staging", daemon.inbox, {"after.wav": wav_bytes("a")})
        (daemon.root / "staging" / "de").mkdir()
        drop_all(daemon.root / "staging", daemon.inbox, {"de/g.wav": wav_bytes("g")})
        daemon.wait_for_published(3)
        receiver.wait_for(3)
        assert daemon.stop() == 0

    assert set(reloaded["applied"]) >= {"output.formats", "profiles", "notify.webhooks"}
    assert restart["keys"] == ["paths.outbox"]
    assert not daemon.path("elsewhere").exists()  # the outbox in force did not move
    assert outputs_of(daemon, "inflight") in (list(ALL_FORMATS), ["json", "txt"])
    assert outputs_of(daemon, "after") == ["json", "txt"]
    german = json.loads((daemon.path("outbox") / "de" / "g.json").read_text())
    assert (german["profile"], german["input"]["language"]) == ("german", "de")
    sources = sorted(r.event["data"]["source"] for r in receiver.accepted())
    assert sources == ["after.wav", "de/g.wav", "inflight.wav"]


def test_reload_broken_file_is_refused_with_every_problem_and_old_settings_stay(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    good = dict(daemon.settings)
    broken = merged(good, {"output": {"formats": ["pdf"]}, "watch": {"settle_seconds": -1}})
    daemon.write_config(broken)
    daemon.signal(signal.SIGHUP)
    (failed,) = daemon.wait_for_event("config.reload_failed")
    drop_all(daemon.root / "staging", daemon.inbox, {"a.wav": wav_bytes("a")})
    daemon.wait_for_published(1)
    daemon.config.write_text("watch: [unclosed\n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    second = daemon.wait_for_event("config.reload_failed", count=2)[1]
    assert daemon.running()
    assert daemon.stop() == 0

    problems = "\n".join(failed["problems"])
    assert "output.formats" in problems and "watch.settle_seconds" in problems
    assert outputs_of(daemon, "a") == list(ALL_FORMATS)  # the formats in force stayed
    assert "not valid YAML" in second["problems"][0]
    assert not daemon.events("config.reloaded")


def test_reload_watch_settings_take_effect_for_the_next_entries(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    daemon.write_config(merged(daemon.settings, {"watch": {"extensions": ["flac"]}}))
    daemon.signal(signal.SIGHUP)
    (reloaded,) = daemon.wait_for_event("config.reloaded")
    drop_all(daemon.root / "staging", daemon.inbox, {"a.wav": wav_bytes("a")})
    (ignored,) = daemon.wait_for_event("file.ignored")
    assert daemon.stop() == 0

    assert reloaded["applied"] == ["watch.extensions"]
    assert ignored["source"] == "a.wav"
    assert daemon.files("inbox") == [Path("a.wav")]  # left where it is, not claimed
