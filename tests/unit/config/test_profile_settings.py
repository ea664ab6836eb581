"""Folder profiles: which profile a recording runs with, and the settings in force for it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dropscribe.app import pipeline_options
from dropscribe.config.schema.profile import Profile, profile_for
from dropscribe.config.schema.settings import Settings, effective
from dropscribe.core.announcements import Channel, Topic
from dropscribe.core.jobs import Job, JobState
from dropscribe.notifications import Receiver, Receivers, announcer

PROFILES = (
    Profile(name="german", folder="de", whisper={"language": "de"}),  # type: ignore[arg-type]
    Profile(name="legal", folder="de/legal", output={"formats": ["txt", "json"]}),  # type: ignore[arg-type]
)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("de/a.wav", "german"),
        ("de/x/y/a.wav", "german"),
        ("de/legal/a.wav", "legal"),
        ("de/legal/deeper/a.wav", "legal"),
        ("a.wav", None),
        ("deutsch/a.wav", None),
        ("de.wav", None),
        ("x/de/a.wav", None),
    ],
)
def test_profile_for_longest_folder_holding_the_recording(source: str, name: str | None) -> None:
    found = profile_for(PROFILES, source)
    assert (None if found is None else found.name) == name


def test_effective_profile_keys_replace_the_top_level_keys_one_by_one() -> None:
    top = Settings.model_validate({"whisper": {"beam_size": 3, "language": "en"}})
    german = effective(top, PROFILES[0])

    assert (german.whisper.language, german.whisper.beam_size) == ("de", 3)
    assert german.output == top.output


def test_effective_without_profile_is_the_top_level() -> None:
    top = Settings()
    assert effective(top, None) is top


def test_effective_settings_make_another_fingerprint() -> None:
    top = Settings()
    assert (
        pipeline_options(effective(top, PROFILES[0])).fingerprint
        != pipeline_options(top).fingerprint
    )
    assert pipeline_options(effective(top, PROFILES[1])).fingerprint == (
        pipeline_options(top).fingerprint
    )  # formats do not change a transcript


def test_announcer_profile_receiver_hears_only_its_profile(tmp_path: Path) -> None:
    hook = Receiver(
        Channel.WEBHOOK, "https://h.example/x", frozenset(Topic), b"k" * 32, "env:S", "german"
    )
    announce = announcer(
        Receivers([hook]), tmp_path, lambda job: job.profile, lambda r: None, time.time
    )
    german = Job(id="j1", source="de/a.wav", state=JobState.PUBLISHED, profile="german")
    other = Job(id="j2", source="a.wav", state=JobState.PUBLISHED)

    (delivery,) = announce(JobState.SUCCEEDED, german, None)
    assert announce(JobState.SUCCEEDED, other, None) == []
    assert json.loads(delivery.body)["data"]["profile"] == "german"
