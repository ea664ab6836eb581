"""A folder profile's own speaker labels (``profiles[].diarize``): call recordings under one
folder labelled by channel while the rest are labelled by voice, or not at all."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dropscribe.app import pipeline_options
from dropscribe.config.schema.settings import Settings, effective
from dropscribe.speakers import ChannelLabeller, VoiceLabeller

CALLS = {
    "name": "calls",
    "folder": "calls",
    "diarize": {"enabled": True, "method": "channels", "channel_names": ["Agent", "Caller"]},
}


def settings(top: dict[str, Any], *profiles: dict[str, Any]) -> Settings:
    return Settings.model_validate({"api": {"base_url": "embedded"}, **top, "profiles": profiles})


def test_profile_diarize_channels_under_its_folder_only() -> None:
    top = settings({}, CALLS)
    calls = effective(top, top.profiles[0])
    assert isinstance(pipeline_options(calls).speakers, ChannelLabeller)
    assert calls.whisper_input["split_channels"] is True
    assert pipeline_options(top).speakers is None
    assert "split_channels" not in top.whisper_input


def test_profile_diarize_keys_replace_the_top_levels_one_by_one() -> None:
    top = settings(
        {"diarize": {"enabled": True, "min_speakers": 2, "max_speakers": 3}},
        {"name": "panel", "folder": "panel", "diarize": {"max_speakers": 6}},
    )
    panel = effective(top, top.profiles[0]).diarize
    assert (panel.enabled, panel.method, panel.min_speakers, panel.max_speakers) == (
        True,
        "model",
        2,
        6,
    )
    assert isinstance(pipeline_options(effective(top, top.profiles[0])).speakers, VoiceLabeller)


def test_profile_diarize_off_where_the_top_level_labels_voices() -> None:
    top = settings(
        {"diarize": {"enabled": True}},
        {"name": "dictation", "folder": "dictation", "diarize": {"enabled": False}},
    )
    assert pipeline_options(effective(top, top.profiles[0])).speakers is None


def test_profile_diarize_checked_as_in_force_min_above_the_top_levels_max() -> None:
    with pytest.raises(ValidationError, match=r"profiles: big: diarize: min_speakers \(4\)"):
        settings(
            {"diarize": {"max_speakers": 3}},
            {"name": "big", "folder": "big", "diarize": {"enabled": True, "min_speakers": 4}},
        )


def test_profile_diarize_channels_refused_without_the_embedded_engine() -> None:
    with pytest.raises(ValidationError, match=r"profiles: calls: diarize.method channels needs"):
        Settings.model_validate(
            {"api": {"base_url": "https://api.example.org"}, "profiles": [CALLS]}
        )


def test_profile_diarize_unknown_key_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        settings({}, {**CALLS, "diarize": {"speakers": 2}})
