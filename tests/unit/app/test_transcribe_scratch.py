"""`transcribe` runs the daemon's steps in a scratch folder: it announces nothing and serves
no metrics, whatever the configuration says."""

from __future__ import annotations

from pathlib import Path

from dropscribe.app.commands.transcribe import scratch_settings
from dropscribe.config import Settings


def test_scratch_settings_drop_receivers_metrics_and_profiles(tmp_path: Path) -> None:
    configured = Settings.model_validate(
        {
            "notify": {
                "webhooks": [{"url": "https://h.example/x", "secret_env": "S"}],
                "apprise": ["json://127.0.0.1:1/x"],
            },
            "metrics": {"listen": "127.0.0.1:9464"},
            "profiles": [{"name": "de", "folder": "de"}],
        }
    )
    scratch = scratch_settings(configured, tmp_path)

    assert scratch.notify.webhooks == () and scratch.notify.apprise == ()
    assert scratch.metrics.listen is None
    assert scratch.profiles == ()
    assert scratch.paths.inbox == tmp_path / "inbox"
