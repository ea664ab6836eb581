"""A folder profile's own embedded model: where its recordings are submitted, which model
the embedded server serves for it, the config errors around it, and reloads that change it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dropscribe.app import pipeline_options
from dropscribe.app.reload import plan_reload
from dropscribe.config.loading import load_config
from dropscribe.config.schema.settings import Settings, effective, profile_models
from dropscribe.core.errors import ConfigError

LOCAL_PATHS = {"state_dir": "s", "log_dir": "l"}
GERMAN = {"name": "german", "folder": "de", "whisper": {"language": "de"}}


def settings_with(*profiles: dict[str, Any], **top: Any) -> Settings:
    return Settings.model_validate({"profiles": list(profiles), **top})


def problems_of(tmp_path: Path, config: dict[str, Any]) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"paths": LOCAL_PATHS, **config}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return caught.value.problems


def test_effective_profile_model_submits_to_its_own_model_path() -> None:
    top = settings_with({**GERMAN, "embedded": {"model": "base"}}, whisper={"beam_size": 3})
    german = effective(top, top.profiles[0])

    assert german.embedded.model == "base"
    assert german.api.async_path == "/v1/async/ent/tiyarofs/1/openai/profile-german"
    assert (german.whisper.language, german.whisper.beam_size) == ("de", 3)
    assert german.embedded.workers == top.embedded.workers
    assert (top.embedded.model, top.api.async_path) == ("bundled", Settings().api.async_path)
    assert profile_models(top) == {"profile-german": "base"}


def test_effective_profile_model_makes_another_fingerprint() -> None:
    plain = settings_with({"name": "p", "folder": "p"})
    own = settings_with({"name": "p", "folder": "p", "embedded": {"model": "base.en"}})

    assert pipeline_options(effective(own, own.profiles[0])).fingerprint != (
        pipeline_options(effective(plain, plain.profiles[0])).fingerprint
    )


def test_profile_models_only_profiles_that_set_one() -> None:
    top = settings_with(
        {"name": "a", "folder": "a"},
        {"name": "b", "folder": "b", "embedded": {"model": "small.en"}},
    )
    assert profile_models(top) == {"profile-b": "small.en"}


def test_profile_model_with_a_remote_backend_is_a_config_error(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        {
            "api": {"base_url": "https://api.example.org"},
            "profiles": [{"name": "p", "folder": "p", "embedded": {"model": "small"}}],
        },
    )
    # Listed with the rest (here: no API key for the remote service).
    assert len(problems) == 2
    assert any("profiles: p: embedded.model needs api.base_url: embedded" in p for p in problems)


def test_profile_model_and_async_path_together_are_a_config_error(tmp_path: Path) -> None:
    profile = {
        "name": "p",
        "folder": "p",
        "embedded": {"model": "small"},
        "api": {"async_path": "/v1/async/ent/tiyarofs/1/openai/whisper-small"},
    }
    (problem,) = problems_of(tmp_path, {"profiles": [profile]})
    assert "profiles: p: set embedded.model or api.async_path, not both" in problem
    assert "profile-p" in problem


@pytest.mark.parametrize(
    ("top", "profile"),
    [
        # The profile's own English-only model and the top level's language.
        ({"whisper": {"language": "de"}, "embedded": {"model": "small"}}, {"model": "small.en"}),
        # The profile's own language and the top level's bundled tiny.en.
        ({}, None),
    ],
)
def test_profile_language_with_an_english_only_model_is_a_config_error(
    tmp_path: Path, top: dict[str, Any], profile: dict[str, str] | None
) -> None:
    german: dict[str, Any] = {**GERMAN} if profile is None else {"name": "german", "folder": "de"}
    if profile is not None:
        german["embedded"] = profile
    (problem,) = problems_of(tmp_path, {**top, "profiles": [german]})
    assert "profiles: german: whisper.language 'de' needs a multilingual" in problem


def test_profile_language_with_its_multilingual_model_accepted() -> None:
    top = settings_with({**GERMAN, "embedded": {"model": "base"}})
    assert effective(top, top.profiles[0]).whisper.language == "de"


def test_profile_model_empty_is_refused() -> None:
    with pytest.raises(ValueError, match=r"profiles\.0\.embedded\.model"):
        settings_with({"name": "p", "folder": "p", "embedded": {"model": ""}})


@pytest.mark.parametrize(
    ("before", "after", "key"),
    [
        (None, "base", "profiles.german.embedded.model"),  # added
        ("base", None, "profiles.german.embedded.model"),  # removed
        ("base", "small", "profiles.german.embedded.model"),  # changed
    ],
)
def test_plan_reload_profile_model_change_waits_for_a_restart(
    before: str | None, after: str | None, key: str
) -> None:
    def config(model: str | None, prompt: str) -> Settings:
        profile: dict[str, Any] = {**GERMAN, "whisper": {"language": "de"}}
        profile["whisper"]["initial_prompt"] = prompt
        if model is not None:
            profile["embedded"] = {"model": model}
        return settings_with(profile, embedded={"model": "small"})

    old, new = config(before, "old"), config(after, "new")
    plan = plan_reload(old, new)

    assert key in plan.restart_needed
    assert "profiles" in plan.restart_needed
    assert plan.settings.profiles == old.profiles  # held as a whole, the prompt too
    assert not any(k.startswith("profiles") for k in plan.applied)


def test_plan_reload_profile_change_without_model_change_is_applied() -> None:
    old = settings_with({**GERMAN, "embedded": {"model": "base"}})
    new = settings_with(
        {**GERMAN, "embedded": {"model": "base"}, "output": {"formats": ["txt", "json"]}}
    )
    plan = plan_reload(old, new)

    assert plan.settings.profiles == new.profiles
    assert plan.restart_needed == ()
    assert plan.applied == ("profiles",)
