"""The scale-out upload site: presigned PUTs straight to the S3 bucket, so a front end never
carries a recording's bytes.

An upload URL is a real boto3 presigned PUT of ``<prefix>/uploads/<id>.<ext>``; the job book
remembers each id it issued, so a submit can only name an upload this service signed. What was
uploaded is learnt from the bucket (HEAD) at submit time: an upload over the size limit is
refused (413) and deleted then, and the size and ETag found are pinned with the job, so the
worker transcribes that version or none.

A presigned PUT can sign a Content-Length, but only an exact one (SeaweedFS and S3 refuse any
other length with 403), and the upload-url request does not say how long the file will be; so
the bound is enforced at submit, not by the bucket.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from dropscribe.scaleout.book import RedisJobBook
from dropscribe.scaleout.job_runner import upload_object_key
from dropscribe.scaleout.objects import ObjectStore
from dropscribe.server.problems import ApiProblem
from dropscribe.server.records import UploadRecord
from dropscribe.server.uploads import new_upload_id

_UPLOAD_TAIL = re.compile(r"/uploads/(?P<upload_id>[0-9a-f]{32})\.(?P<extension>[a-z0-9]{1,8})$")


class BucketUploads:
    """Uploads PUT to the bucket with boto3-presigned URLs."""

    def __init__(
        self,
        book: RedisJobBook,
        objects: ObjectStore,
        ttl_seconds: float,
        clock: Callable[[], float],
        max_upload_bytes: int,
    ) -> None:
        self._book = book
        self._objects = objects
        self._ttl = ttl_seconds
        self._limit = max_upload_bytes
        self._clock = clock

    def issue(self, extension: str, base_url: str) -> str:
        """Return a presigned PUT URL of a new object in the bucket (``base_url`` is unused:
        the URL points at the bucket, not at this front end)."""
        return self._objects.presigned_put(self._new_key(extension), self._ttl)

    def store(self, extension: str, source: BinaryIO, base_url: str) -> str:
        """Put a recording this front end received itself (OpenAI's transcription endpoint)
        into the bucket as a new upload; return its upload URL, as ``issue`` would have."""
        key = self._new_key(extension)
        self._objects.put(key, source)
        return self._objects.presigned_put(key, self._ttl)

    def _new_key(self, extension: str) -> str:
        """Return the object key of a new upload, remembered in the book as issued."""
        upload_id = new_upload_id()
        self._book.issue_upload(upload_id, extension, self._clock(), self._ttl)
        return upload_object_key(self._objects, upload_id, extension)

    def target(self, name: str, expires: str | None, signature: str | None) -> Path:
        """Refuse: uploads go to the bucket, never to a front end."""
        raise ApiProblem(
            404, "this server takes no uploads; PUT to the bucket URL that upload-url returned"
        )

    def check_replaceable(self, target: Path) -> None:
        """Refuse, as ``target`` does."""
        self.target(target.name, None, None)

    def record(self, target: Path, size: int) -> None:
        """Refuse, as ``target`` does."""
        self.target(target.name, None, None)

    def resolve(self, url: str) -> UploadRecord:
        """Return the upload a submitted bucket URL names, with its size and ETag. Raise 400 for
        a URL this service did not issue, or one nothing was uploaded to; 413 for an upload
        over the limit; 503 while the bucket is down."""
        match = _UPLOAD_TAIL.search(unquote(urlsplit(url).path))
        issued = match and self._book.issued_extension(match["upload_id"])
        if not match or issued != match["extension"]:
            raise ApiProblem(400, "URL was not issued by this service's upload-url endpoint")
        upload_id, extension = match["upload_id"], match["extension"]
        key = upload_object_key(self._objects, upload_id, extension)
        found = self._objects.head(key)
        if found is None:
            raise ApiProblem(400, "nothing has been uploaded to this URL yet; PUT the file first")
        if found.size > self._limit:
            # A presigned PUT cannot bound its length without knowing it in advance: the
            # bound is kept here, and the object is of no further use.
            self._objects.delete(key)
            raise ApiProblem(413, f"upload is larger than the limit of {self._limit} bytes")
        return UploadRecord(upload_id, extension, found.size, self._clock(), found.etag)
