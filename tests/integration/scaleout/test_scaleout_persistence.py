"""The check at start of whether Redis keeps the job book across its restart, on real
redis-servers: with AOF, without any persistence, with snapshots only, and as a user whose ACL
forbids CONFIG."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dropscribe.scaleout.persistence import persistence_warning
from support.scale import RedisServer


@pytest.fixture
def memory_only(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        yield server


def test_persistence_with_the_append_only_file_gives_no_warning(redis_server: RedisServer) -> None:
    assert persistence_warning(redis.Redis.from_url(redis_server.url())) is None


def test_persistence_off_is_warned_about(memory_only: RedisServer) -> None:
    warning = persistence_warning(redis.Redis.from_url(memory_only.url()))
    assert warning is not None
    assert "in memory only" in warning and "appendonly yes" in warning


def test_persistence_by_snapshots_only_is_warned_about(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", appendonly=False, save="900 1") as server:
        warning = persistence_warning(redis.Redis.from_url(server.url()))
    assert warning is not None and "snapshots only" in warning


def test_persistence_check_forbidden_by_acl_is_said_not_raised(memory_only: RedisServer) -> None:
    admin = redis.Redis.from_url(memory_only.url())
    admin.acl_setuser(
        "limited", enabled=True, passwords=["+limited-pass-123"], keys=["*"],
        commands=["+@all", "-config"],
    )  # fmt: skip
    limited = redis.Redis(port=memory_only.port, username="limited", password="limited-pass-123")
    warning = persistence_warning(limited)
    assert warning is not None
    assert "could not be checked" in warning and "forbidden" in warning
