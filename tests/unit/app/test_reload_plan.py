"""Which changes a reload applies and which wait for a restart (service.reload.plan_reload)."""

from __future__ import annotations

from pathlib import Path

from dropscribe.app.reload import plan_reload
from dropscribe.config import Settings


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
