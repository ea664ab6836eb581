"""The .json of a transcript: provenance and the raw result, and the job that owns the stem.

It is the ownership record of a stem (see :mod:`~dropscribe.outbox.publishing`), so its layout
is versioned and what it says of its owner cannot be forged by provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dropscribe.core.transcript import RemoteTranscript

# Version of the json layout, so readers can tell ours from anything else named *.json.
JSON_VERSION = 1


def render_json(job_id: str, result: RemoteTranscript, provenance: Mapping[str, Any]) -> str:
    """Return the json document of a job: our version, the job id, provenance, the result.

    ``dropscribe``, ``job_id`` and ``result`` are ours: provenance keys of those names are
    ignored, so provenance can never forge ownership.
    """
    reserved = {"dropscribe", "job_id", "result"}
    doc = {
        "dropscribe": JSON_VERSION,
        "job_id": job_id,
        **{k: v for k, v in provenance.items() if k not in reserved},
        "result": dict(result),
    }
    # default=str: provenance may hold datetimes or paths; a transcript must not fail on them.
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"


def owner_in_json(text: str) -> str | None:
    """Return the job id recorded in one of our json outputs, or None if it is not one."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("dropscribe") is None:
        return None
    owner = doc.get("job_id")
    return owner if isinstance(owner, str) else None
