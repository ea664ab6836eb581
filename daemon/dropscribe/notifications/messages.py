"""The short message for people that an Apprise receiver gets for an event.

Every value taken from the event is the drop user's text as much as ours (the source is their
file name, and reasons and outputs quote it), so each is shown printable (core.printable): a
newline in a name cannot start a line of its own. Markup is escaped by Apprise for Markdown
and HTML targets, because the message is sent as plain text (transport.send_message).
"""

from __future__ import annotations

import json

from dropscribe.core.announcements import Topic
from dropscribe.core.printable import printable

#: What an Apprise message says for each topic, before the recording's name.
_HEADLINES = {
    Topic.JOB_PUBLISHED: "transcript ready",
    Topic.JOB_FAILED: "transcription failed",
    Topic.FILE_REJECTED: "file refused",
    Topic.JOB_DUPLICATE: "same recording as before, earlier transcript reused",
    Topic.TRANSCRIPT_INCOMPLETE: "transcript incomplete",
}


def message_of(body: str) -> tuple[str, str]:
    """Given a stored event body, return (title, text) of the short message for people: one
    line per fact, each value on its own line whatever it contains."""
    event = json.loads(body)
    topic = Topic(event["type"])
    data = event["data"]
    title = f"dropscribe: {_HEADLINES[topic]}"
    lines = [f"{printable(str(data['source']))}: {_HEADLINES[topic]}"]
    if data.get("outputs"):
        lines.append("outputs: " + ", ".join(printable(str(o)) for o in data["outputs"]))
    if data.get("error"):
        lines.append(f"reason: {printable(str(data['error']))}")
    lines.append(f"job {printable(str(data['job_id']))}")
    return title, "\n".join(lines)
