"""Naming one job on the command line by a prefix of its id, for ``retry`` and ``acknowledge``."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.jobs import Job

#: Jobs listed when a prefix names several.
CANDIDATES_SHOWN = 10


def not_one_job(prefix: str, jobs: Sequence[Job], nothing: str) -> str:
    """Return why ``prefix`` names no single job, given the jobs it starts (at most
    CANDIDATES_SHOWN + 1 of them); ``nothing`` is the sentence for none."""
    if not jobs:
        return nothing
    more = " ..." if len(jobs) > CANDIDATES_SHOWN else ""
    listed = "".join(f"\n  {j.id}  {j.source}" for j in jobs[:CANDIDATES_SHOWN])
    return f"{prefix!r} is not unique; it starts these jobs:{listed}{more}"
