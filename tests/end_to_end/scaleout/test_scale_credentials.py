"""`dropscribe worker` with its secrets out of the command line: the broker URL (with the
password of a Redis that requires one) and the S3 keys from systemd's credentials folder, as
dropscribe-worker.service hands them over; nothing of either in what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from support.scale import ACCESS_KEY, SECRET_KEY, RedisServer, ScaleOut, WorkerProcess

#: The password the test's own Redis requires (any value; never printed).
REDIS_PASSWORD = "canary-redis-password-0123"


def test_worker_secrets_from_credentials_directory_reach_redis_and_the_bucket(
    tmp_path: Path, scale_out: ScaleOut, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the endpoint stays in the environment: the keys must come from the credential.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    with RedisServer(tmp_path / "redis", password=REDIS_PASSWORD) as redis_server:
        (credentials / "broker_url").write_text(redis_server.url() + "\n")
        (credentials / "aws_credentials").write_text(
            f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        )
        env = {"CREDENTIALS_DIRECTORY": str(credentials)}
        with WorkerProcess(None, scale_out.storage, env, ["--workers", "1"]) as worker:
            report = requests.get(worker.health_url + "/healthz", timeout=10).json()
        output = "".join(worker.lines)
    assert report["dependencies"]["broker"]["reachable"] is True, report
    assert report["dependencies"]["storage"]["reachable"] is True, report
    assert report["status"] == "ok"
    assert REDIS_PASSWORD not in output and SECRET_KEY not in output
