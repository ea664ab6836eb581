"""What to tell a person about a recording the service refused or lost, and which setting lifts
a refusal when one can.

Our servers (the embedded one, ``dropscribe serve``, scale-out workers) end the reason of a
refusal under a limit with the limit's name in parentheses: ``... accepts at most 26 h 0 min
(max_audio_hours)`` (``engine.audio.too_long``). The daemon knows what that limit is called in
its own configuration (``embedded.max_audio_hours`` when it runs the embedded server), so the
advice names the setting by its full dotted name; for a remote service it names the limit and
who can raise it.
"""

from __future__ import annotations

from collections.abc import Mapping

#: The limits a refusal may name, and the ``dropscribe serve`` / ``worker`` option that sets
#: each on a remote server of ours.
SERVER_OPTIONS: Mapping[str, str] = {"max_audio_hours": "--max-audio-hours"}

#: Advice for a recording the service ran and failed for a reason no setting lifts.
REMOTE_FAILURE_HINT = (
    "the service could not transcribe this recording (see error); polling the same request "
    "again would only fetch the same answer. Check that the file plays, then drop a repaired "
    "copy into the inbox (or run `dropscribe retry JOB_ID` to send this one again, a new "
    "request)"
)

#: Advice for a request the service no longer knows, after the resends allowed.
LOST_REQUEST_HINT = (
    "the service lost the request after accepting it, each time it was sent (see error); "
    "once it keeps its jobs again, run `dropscribe retry JOB_ID` to send the recording again "
    "from the upload"
)

#: Advice for a poll the service refused, other than losing the request: its job may be fine.
REFUSED_POLL_HINT = (
    "the service refused the request while it was polled (see error); `dropscribe retry "
    "JOB_ID` polls it again (no new submission), or drop the recording into the inbox again "
    "to send it anew"
)


def limit_named(reason: str) -> str | None:
    """Return the limit a refusal's ``reason`` names at its end (``(max_audio_hours)``), or
    None when it names none a setting can lift."""
    text = reason.rstrip()
    return next((name for name in SERVER_OPTIONS if text.endswith(f"({name})")), None)


def refusal_hint(reason: str, settings: Mapping[str, str]) -> str:
    """Return the advice for a recording the service failed for ``reason``: the setting that
    lifts the refusal when ``settings`` (limit -> the daemon's setting) names one, the
    server's option when the service is remote, else REMOTE_FAILURE_HINT."""
    limit = limit_named(reason)
    if limit is None:
        return REMOTE_FAILURE_HINT
    retry = "then run `dropscribe retry JOB_ID`: it sends the recording again from the upload"
    setting = settings.get(limit)
    if setting is not None:
        return (
            f"the recording is over a limit that the setting {setting} lifts; raise {setting} "
            f"in the configuration and restart dropscribe (it applies at start), {retry}"
        )
    return (
        f"the recording is over the service's limit {limit}; ask whoever runs the service to "
        f"raise it (dropscribe serve {SERVER_OPTIONS[limit]}), {retry}"
    )
