"""``api.protocol``: tiyaro or openai, at the top level and per profile, never mixed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dropscribe.config.schema.settings import Settings, effective

OPENAI = {"protocol": "openai", "base_url": "http://127.0.0.1:8000"}


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(data)
    return str(caught.value)


def test_protocol_unknown_is_refused_with_the_choices() -> None:
    assert "'tiyaro' or 'openai'" in refusal({"api": {"protocol": "grpc"}})


def test_protocol_openai_with_an_async_path_is_a_mix() -> None:
    message = refusal({"api": {**OPENAI, "async_path": "/v1/async/x"}})
    assert "api.async_path belongs to protocol tiyaro" in message


def test_protocol_tiyaro_with_an_openai_section_is_a_mix() -> None:
    assert "api.openai needs api.protocol: openai" in refusal({"api": {"openai": {"model": "m"}}})


def test_profile_mixing_the_two_protocols_is_refused_by_name() -> None:
    profile = {"name": "calls", "folder": "calls", "api": {"service_tier": "gpuflex"}}
    message = refusal({"api": OPENAI, "profiles": [profile]})
    assert "profiles: calls: api.service_tier belongs to protocol tiyaro" in message


def test_profile_openai_keys_go_over_the_top_levels() -> None:
    top = {**OPENAI, "openai": {"model": "top", "max_upload_bytes": 2_000_000}}
    profile = {"name": "de", "folder": "de", "api": {"openai": {"model": "large"}}}
    settings = Settings.model_validate({"api": top, "profiles": [profile]})
    eff = effective(settings, settings.profiles[0]).api.openai
    assert (eff.model, eff.max_upload_bytes) == ("large", 2_000_000)


def test_openai_fields_may_not_set_what_the_backend_writes() -> None:
    message = refusal({"api": {**OPENAI, "openai": {"fields": {"response_format": "srt"}}}})
    assert "response_format" in message
