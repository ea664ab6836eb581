"""The embedded server's own upload site: presigned PUTs to this server, files on its disk.

URLs are signed by presign.Presigner; bodies land in ``<data_dir>/uploads`` (uploads.py); the
SQLite store remembers which uploads completed and which were submitted.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

from dropscribe.server.presign import Presigner, SignedUpload
from dropscribe.server.problems import ApiProblem
from dropscribe.server.records import UploadRecord
from dropscribe.server.store import JobStore
from dropscribe.server.uploads import (
    DRAFT_SUFFIX,
    FILE_MODE,
    new_upload_id,
    parse_stored_name,
    upload_path,
)

#: Path of a presigned upload URL, below the server's base URL.
UPLOAD_PATH = "/v1/input/uploads/{name}"

_UPLOAD_PATH_TAIL = re.compile(r"/v1/input/uploads/(?P<name>[^/]+)$")


class LocalUploads:
    """Uploads PUT to this server with its own HMAC-presigned URLs."""

    def __init__(
        self,
        store: JobStore,
        presigner: Presigner,
        uploads_dir: Path,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._presigner = presigner
        self._uploads_dir = uploads_dir
        self._clock = clock

    def issue(self, extension: str, base_url: str) -> str:
        """Return a presigned PUT URL to this server for a new upload."""
        return _url(self._presigner.issue(new_upload_id(), extension), extension, base_url)

    def store(self, extension: str, source: BinaryIO, base_url: str) -> str:
        """Copy a recording received in a request into a new upload; return its upload URL."""
        signed = self._presigner.issue(new_upload_id(), extension)
        target = upload_path(self._uploads_dir, signed.upload_id, extension)
        draft = target.with_name(f"{target.name}.{secrets.token_hex(4)}{DRAFT_SUFFIX}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                shutil.copyfileobj(source, handle)
            os.replace(draft, target)
        finally:
            draft.unlink(missing_ok=True)
        self.record(target, target.stat().st_size)
        return _url(signed, extension, base_url)

    def target(self, name: str, expires: str | None, signature: str | None) -> Path:
        """Return where a presigned PUT stores its body. Raise 403 unless the URL is valid now."""
        parsed = self._authentic(name, expires, signature)
        if parsed is None:
            raise ApiProblem(403, "upload URL signature is invalid; request a new upload URL")
        upload_id, ext, expiry = parsed
        if self._presigner.is_expired(expiry):
            raise ApiProblem(403, "upload URL has expired; request a new upload URL")
        target = upload_path(self._uploads_dir, upload_id, ext)
        self.check_replaceable(target)
        return target

    def check_replaceable(self, target: Path) -> None:
        """Raise 409 if the upload stored at ``target`` was submitted: a job may be reading it.

        Checked when a PUT starts and again just before its body replaces the file.
        """
        if self._store.is_submitted(target.name.split(".", 1)[0]):
            raise ApiProblem(
                409, "this upload was already submitted; request a new upload URL for a new file"
            )

    def record(self, target: Path, size: int) -> None:
        """Remember that the upload stored at ``target`` is complete."""
        upload_id, ext = target.name.split(".", 1)
        self._store.record_upload(UploadRecord(upload_id, ext, size, self._clock()))

    def resolve(self, url: str) -> UploadRecord:
        """Return the completed upload behind a submitted URL. Raise 400 for a URL this server
        did not issue or whose upload never happened."""
        parts = urlsplit(url)
        tail = _UPLOAD_PATH_TAIL.search(parts.path)
        query = parse_qs(parts.query)
        parsed = tail and self._authentic(
            tail["name"], _single(query, "expires"), _single(query, "signature")
        )
        if not parsed:
            raise ApiProblem(400, "URL was not issued by this server's upload-url endpoint")
        upload = self._store.find_upload(parsed[0])
        if upload is None:
            raise ApiProblem(400, "nothing has been uploaded to this URL yet; PUT the file first")
        return upload

    def _authentic(
        self, name: str, expires: str | None, signature: str | None
    ) -> tuple[str, str, int] | None:
        parsed = parse_stored_name(name)
        if parsed is None or expires is None or signature is None or not expires.isdigit():
            return None
        upload_id, ext = parsed
        if not self._presigner.is_authentic(upload_id, ext, int(expires), signature):
            return None
        return upload_id, ext, int(expires)


def _url(signed: SignedUpload, extension: str, base_url: str) -> str:
    path = UPLOAD_PATH.format(name=f"{signed.upload_id}.{extension}")
    return f"{base_url}{path}?expires={signed.expires}&signature={signed.signature}"


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name, [])
    return values[0] if len(values) == 1 else None
