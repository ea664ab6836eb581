"""The bucket of a scale-out front end and worker, on the real SeaweedFS store: created only
when asked (``--create-bucket``), never by a worker, and reached with the keys it was given."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests

from dropscribe.cli.scale_secrets import find_storage_keys
from dropscribe.core.errors import ConfigError
from dropscribe.scaleout.book import RedisJobBook, connect
from dropscribe.scaleout.frontend import assemble_front_end
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.tasks import task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from dropscribe.server.locations import storage_location
from support import tiyaro_flow as flow
from support.scale import ACCESS_KEY, SECRET_KEY, ScaleOut
from support.serve import wait_until
from support.server_doubles import TOKEN, FakeEngine


def unused_bucket() -> str:
    return f"missing-{uuid.uuid4().hex[:12]}"


def front_end(tmp_path: Path, scale: ScaleOut, storage: str, **extra: object) -> EmbeddedServer:
    options = ServerOptions(
        tmp_path / f"unused-{time.monotonic_ns()}", token=TOKEN, broker=scale.broker,
        storage=storage, workers=0, **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return EmbeddedServer(options, engine=FakeEngine(), scale_out=assemble_front_end)


def bucket_names(scale: ScaleOut) -> set[str]:
    return {bucket["Name"] for bucket in scale.s3.client().list_buckets()["Buckets"]}


def test_front_end_missing_bucket_refuses_to_start_and_creates_nothing(
    tmp_path: Path, scale_out: ScaleOut
) -> None:
    bucket = unused_bucket()
    server = front_end(tmp_path, scale_out, f"s3://{bucket}/jobs")
    try:
        with pytest.raises(ConfigError, match=f"the bucket '{bucket}' does not exist.*--create"):
            server.start()
    finally:
        server.stop()
    assert bucket not in bucket_names(scale_out)


def test_front_end_create_bucket_creates_a_missing_bucket(
    tmp_path: Path, scale_out: ScaleOut
) -> None:
    bucket = unused_bucket()
    with front_end(tmp_path, scale_out, f"s3://{bucket}/jobs", create_bucket=True):
        assert bucket in bucket_names(scale_out)


def test_worker_missing_bucket_reports_storage_down_and_creates_nothing(
    scale_out: ScaleOut,
) -> None:
    bucket = unused_bucket()
    client = connect(scale_out.broker)
    objects = ObjectStore(s3_client(), storage_location(f"s3://{bucket}/jobs"))
    node = WorkerNode(
        task_broker(client), RedisJobBook(client, 3600), objects, FakeEngine(), ["bundled"], 1
    )
    node.start()
    try:
        wait_until(lambda: node.health()["dependencies"]["storage"]["failures"] >= 1, 30)
        storage = node.health()["dependencies"]["storage"]
        assert storage["reachable"] is False
    finally:
        node.stop(10)
    assert bucket not in bucket_names(scale_out)


def test_front_end_keys_from_a_credentials_file_sign_uploads_the_store_accepts(
    tmp_path: Path, scale_out: ScaleOut, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    keys_file = tmp_path / "aws_credentials"
    keys_file.write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    keys = find_storage_keys(keys_file, {})
    with front_end(tmp_path, scale_out, scale_out.storage, storage_keys=keys) as server:
        url = flow.get_upload_url(server.base_url, TOKEN, "wav")
        assert requests.put(url, data=b"RIFF....", timeout=10).status_code == 200
