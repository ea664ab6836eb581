"""Which changes a reload applies and which wait for a restart (service.reload.plan_reload)."""

from __future__ import annotations

from pathlib import Path

from dropscribe.app.reload import LIVE_API_KEYS, LIVE_SECTIONS, plan_reload
from dropscribe.config import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def live_reload_paragraph() -> tuple[str, str]:
    """Return the README's live-reload paragraph in two parts: what a reload applies, and
    what waits for a restart ("Other changes ...")."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**Live reload.**")
    paragraph = " ".join(text[start : text.index("\n\n", start)].split())
    applied, _, restart = paragraph.partition("Other changes")
    return applied, restart


def test_plan_reload_applies_live_sections_and_model_path() -> None:
    old = Settings()
    new = Settings.model_validate(
        {
            "output": {"formats": ["txt", "json"]},
            "watch": {"settle_seconds": 5},
            "api": {"async_path": "/v1/async/x", "service_tier": "gpuflex"},
        }
    )
    plan = plan_reload(old, new)

    assert plan.settings.output.formats == ("txt", "json")
    assert plan.settings.watch.settle_seconds == 5
    assert (plan.settings.api.async_path, plan.settings.api.service_tier) == (
        "/v1/async/x",
        "gpuflex",
    )
    assert plan.restart_needed == ()
    assert set(plan.applied) == {
        "output.formats",
        "watch.settle_seconds",
        "api.async_path",
        "api.service_tier",
    }


def test_plan_reload_leaves_restart_only_keys_and_names_them() -> None:
    old = Settings()
    new = Settings.model_validate(
        {
            "paths": {"inbox": "/elsewhere"},
            "api": {"base_url": "https://api.example.org"},
            "workers": {"transfers": 8},
            "metrics": {"listen": "127.0.0.1:9999"},
            "embedded": {"model": "small.en"},
        }
    )
    plan = plan_reload(old, new)

    assert plan.settings == old
    assert plan.applied == ()
    assert set(plan.restart_needed) == {
        "paths.inbox",
        "api.base_url",
        "workers.transfers",
        "metrics.listen",
        "embedded.model",
    }
    assert plan.settings.paths.inbox == Path("data/inbox")


def test_plan_reload_diarize_enabled_waits_for_a_restart() -> None:
    old = Settings()
    new = Settings.model_validate({"diarize": {"enabled": True}})
    plan = plan_reload(old, new)

    assert plan.settings.diarize.enabled is False
    assert plan.restart_needed == ("diarize.enabled",)
    assert plan.applied == ()


def test_readme_live_reload_names_each_section_in_the_list_it_belongs_to() -> None:
    applied, restart = live_reload_paragraph()
    sections = [name for name in Settings.model_fields if name not in ("api_key", "source")]

    for name in sections:
        if name in LIVE_SECTIONS:
            assert f"`{name}`" in applied, name
        elif name != "api":
            assert f"`{name}`" in restart, name
    for key in LIVE_API_KEYS:
        assert f"`api.{key}`" in applied, key
    assert "`diarize` with `diarize.enabled`" in restart
