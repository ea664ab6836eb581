"""The ``quality`` settings reach the daemon's verdict and the embedded engine alike."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dropscribe.app import pipeline_options
from dropscribe.config.schema.settings import Settings
from dropscribe.core.coverage import DEFAULT_MAX_GAP_SECONDS


def test_quality_max_gap_seconds_defaults_to_the_guards_limit() -> None:
    assert Settings().quality.max_gap_seconds == DEFAULT_MAX_GAP_SECONDS


def test_pipeline_options_carry_the_max_gap() -> None:
    settings = Settings.model_validate({"quality": {"max_gap_seconds": 7.5}})
    assert pipeline_options(settings).quality.max_gap_seconds == 7.5


def test_quality_max_gap_seconds_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"quality": {"max_gap_seconds": 0}})
