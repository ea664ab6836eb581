"""Each profile's outbox writes with the ``output`` settings in force for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dropscribe.app.profile_parts import outbox_of
from dropscribe.config import Settings, effective
from dropscribe.core.redaction import Redactor
from dropscribe.outbox import CueLimits


def settings_of(output: dict[str, object], tmp_path: Path, **more: object) -> Settings:
    paths = {"state_dir": str(tmp_path / "s"), "log_dir": str(tmp_path / "l")}
    return Settings.model_validate({"paths": paths, "output": output, **more})


def test_outbox_of_default_settings_usual_subtitle_limits(tmp_path: Path) -> None:
    box = outbox_of(settings_of({}, tmp_path), Redactor())
    assert box.rendering.subtitles == CueLimits(7.0, 42, 2)


def test_outbox_of_configured_subtitle_limits_reach_the_outbox(tmp_path: Path) -> None:
    subtitles = {"max_cue_seconds": 5, "max_line_chars": 32, "max_lines": 1}
    box = outbox_of(settings_of({"subtitles": subtitles}, tmp_path), Redactor())
    assert box.rendering.subtitles == CueLimits(5.0, 32, 1)


def test_outbox_of_profile_subtitle_limits_over_the_top_level(tmp_path: Path) -> None:
    profile = {"name": "tv", "folder": "tv", "output": {"subtitles": {"max_line_chars": 37}}}
    configured = settings_of({}, tmp_path, profiles=[profile])
    box = outbox_of(effective(configured, configured.profiles[0]), Redactor())
    assert box.rendering.subtitles == CueLimits(7.0, 37, 2)


@pytest.mark.parametrize(
    "subtitles",
    [{"max_cue_seconds": 0.5}, {"max_line_chars": 5}, {"max_lines": 0}, {"max_words": 3}],
)
def test_subtitle_settings_out_of_bounds_or_unknown_refused(
    subtitles: dict[str, object], tmp_path: Path
) -> None:
    with pytest.raises(ValidationError):
        settings_of({"subtitles": subtitles}, tmp_path)
