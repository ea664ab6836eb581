"""``dropscribe acknowledge`` (or ``ack``): incomplete transcripts a person has seen to, which
``status`` then stops listing; and its exit code."""

from __future__ import annotations

import sys

from dropscribe.app import commands
from dropscribe.cli.exit_codes import EXIT_NOT_FOUND, EXIT_NOT_INCOMPLETE, EXIT_OK
from dropscribe.cli.trail import events_to_trail
from dropscribe.config import Settings


def run(settings: Settings, target: str | None, all_incomplete: bool) -> int:
    """Acknowledge the incomplete transcript named (or every open one); print what was done
    and return the exit code: EXIT_NOT_FOUND when nothing goes by the name, and
    EXIT_NOT_INCOMPLETE when its transcript is not an open incomplete one."""
    with events_to_trail(settings):
        done = commands.acknowledge(settings, target, all_incomplete=all_incomplete)
    for line in done.problems:
        print(f"dropscribe: {line}", file=sys.stderr)
    print(f"acknowledged {len(done.jobs)} incomplete transcript(s)")
    for job in done.jobs:
        print(f"  {job.id[:12]}  {job.source}")
    if not done.found:
        return EXIT_NOT_FOUND
    return EXIT_NOT_INCOMPLETE if done.problems else EXIT_OK
