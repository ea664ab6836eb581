"""The S3 bucket, through boto3: presigned PUTs, sizes and ETags, downloads of one pinned
version, deletes, and listing by age.

Endpoint, region and credentials come from the standard AWS variables and files
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
``~/.aws``), as boto3 reads them. Presigning is local (no request), so a front end issues upload
URLs even while the bucket is down; every other call that fails on the network or the service
side leaves as StorageUnavailable (503, retryable).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import boto3
import botocore.config
import botocore.exceptions

from dropscribe.scaleout.outages import StorageUnavailable
from dropscribe.server.locations import StorageKeys, StorageLocation

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

#: Region used for signing when none is configured (S3-compatible stores accept any).
FALLBACK_REGION = "us-east-1"

#: Seconds to wait for the bucket's endpoint to accept a connection, and for an answer.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60

#: HTTP statuses that mean "this object is not there" rather than "the store is down".
_MISSING = {"404", "NoSuchKey", "NotFound"}

#: Statuses that mean "this object is no longer the version asked for" (If-Match failed).
_CHANGED = {"412", "PreconditionFailed"}

#: Bytes read from a download at a time (1 MiB).
READ_CHUNK_BYTES = 1 << 20

#: What a person reads when the upload was replaced after its submit.
CHANGED_AFTER_SUBMIT = (
    "the uploaded file was replaced after it was submitted; upload it again with a new URL"
)


class ObjectRefused(Exception):
    """An object that is not the one pinned, or larger than allowed; the message says which."""


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object: its size in bytes and its ETag (quoted, as S3 gives it)."""

    size: int
    etag: str


@dataclass(frozen=True)
class StoredObject:
    """An object in the bucket: its key and when it was last written (Unix time)."""

    key: str
    modified_at: float


def s3_client(keys: StorageKeys | None = None) -> S3Client:
    """Return an S3 client with ``keys`` (None: boto3's own chain of the AWS_* variables and
    files), configured from the environment, with path-style addressing (what S3-compatible
    stores on a plain host name need) and boto3's own retries turned down, so an outage is
    reported to our backoff rather than hidden for minutes."""
    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if keys is None:
        return boto3.client("s3", region_name=region or FALLBACK_REGION, config=config)
    return boto3.client(
        "s3",
        region_name=region or FALLBACK_REGION,
        config=config,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
    )


class ObjectStore:
    """One bucket and prefix; safe to share between threads (boto3 clients are)."""

    def __init__(self, client: S3Client, location: StorageLocation) -> None:
        self._s3 = client
        self._location = location

    @property
    def location(self) -> StorageLocation:
        """Return the bucket and prefix this store writes under."""
        return self._location

    def bucket_exists(self) -> bool:
        """Return True if the bucket exists, False if the store says there is none. Raise
        StorageUnavailable if the store cannot be reached."""
        with _reachable():
            try:
                self._s3.head_bucket(Bucket=self._location.bucket)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) not in _MISSING:
                    raise
                return False
        return True

    def check_bucket(self) -> None:
        """Return if the bucket answers. Raise StorageUnavailable if it is unreachable or gone
        (a worker never creates it: a bucket deleted by mistake is an outage to report)."""
        if not self.bucket_exists():
            raise StorageUnavailable(f"there is no bucket {self._location.bucket!r}")

    def create_bucket(self) -> None:
        """Create the bucket if it does not exist yet. Raise StorageUnavailable if unreachable."""
        if not self.bucket_exists():
            with _reachable():
                self._s3.create_bucket(Bucket=self._location.bucket)

    def presigned_put(self, key: str, ttl_seconds: float) -> str:
        """Return a presigned URL that PUTs ``key`` for ``ttl_seconds`` (signed locally)."""
        return self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._location.bucket, "Key": key},
            ExpiresIn=int(ttl_seconds),
        )

    def put(self, key: str, source: BinaryIO) -> None:
        """Write the bytes of ``source`` to ``key``. Raise StorageUnavailable if unreachable."""
        with _reachable():
            self._s3.upload_fileobj(source, self._location.bucket, key)

    def head(self, key: str) -> ObjectVersion | None:
        """Return the size and ETag of ``key``, or None if there is no such object."""
        with _reachable():
            try:
                head = self._s3.head_object(Bucket=self._location.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
        return ObjectVersion(int(head["ContentLength"]), str(head["ETag"]))

    def download(self, key: str, target: Path, pinned: ObjectVersion, limit: int) -> None:
        """Copy the version ``pinned`` of ``key`` into the new file ``target``, reading at most
        ``pinned.size`` bytes. Raise FileNotFoundError if it is not there, ObjectRefused if it
        changed or is larger than ``limit``."""
        if pinned.size > limit:
            raise ObjectRefused(f"the upload is larger than this worker's limit of {limit} bytes")
        with _reachable():
            try:
                answer = self._s3.get_object(
                    Bucket=self._location.bucket, Key=key, IfMatch=pinned.etag
                )
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING:
                    raise FileNotFoundError(key) from exc
                if _code(exc) in _CHANGED:
                    raise ObjectRefused(CHANGED_AFTER_SUBMIT) from exc
                raise
            found = ObjectVersion(int(answer["ContentLength"]), str(answer["ETag"]))
            if found != pinned:
                # A store that ignores If-Match still names the version it sends.
                raise ObjectRefused(CHANGED_AFTER_SUBMIT)
            _write_at_most(answer["Body"], target, pinned.size)

    def delete(self, key: str) -> None:
        """Delete ``key`` (no error if it is already gone)."""
        with _reachable():
            self._s3.delete_object(Bucket=self._location.bucket, Key=key)

    def older_than(self, folder: str, cutoff: float) -> list[StoredObject]:
        """Return the objects below ``folder`` (under the prefix) last written before cutoff."""
        found: list[StoredObject] = []
        with _reachable():
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self._location.bucket, Prefix=self._location.key(folder) + "/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    modified = _epoch(item["LastModified"])
                    if modified < cutoff:
                        found.append(StoredObject(item["Key"], modified))
        return found


def _write_at_most(body: StreamingBody, target: Path, size: int) -> None:
    """Write ``body`` into the new file ``target``; raise ObjectRefused past ``size`` bytes."""
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle, contextlib.closing(body):
            while chunk := body.read(READ_CHUNK_BYTES):
                written += len(chunk)
                if written > size:
                    raise ObjectRefused(CHANGED_AFTER_SUBMIT)
                handle.write(chunk)
        if written != size:
            raise ObjectRefused(CHANGED_AFTER_SUBMIT)
    except BaseException:
        # A broken transfer is retried into the same name.
        target.unlink(missing_ok=True)
        raise


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _reachable() -> Iterator[None]:
    """Translate boto3's connection and service errors into StorageUnavailable."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise StorageUnavailable(type(exc).__name__) from exc
