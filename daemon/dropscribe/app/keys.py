"""The API key, read again while running, and the auth pause, told to other processes.

The key source (api.api_key_file, the systemd credential or the environment) is read again
at every probe of an auth pause and on SIGHUP, so a fixed key resumes work without a restart.
A pause is written to ``<state_dir>/auth-pause.json`` for ``dropscribe status``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from dropscribe.api_client import ApiClient
from dropscribe.audit import Event
from dropscribe.config import Settings, read_api_key
from dropscribe.core.errors import ConfigError
from dropscribe.core.fsio import write_atomic
from dropscribe.pipeline.ports import Audit

PAUSE_FILE = "auth-pause.json"
#: Why the key source was read: at a probe of an auth pause, or on SIGHUP.
PROBE, SIGNAL = "probe", "signal"


def key_reloader(
    settings: Settings, clients: Callable[[], Sequence[ApiClient]], log: Audit
) -> Callable[[str], None]:
    """Return a function that reads the key source again and, if the key changed, has each
    of ``clients()`` (one per model path the profiles submit to) send the new one; its
    argument says why (PROBE or SIGNAL). Without clients (the embedded backend needs no key)
    it does nothing."""

    def reload(reason: str) -> None:
        in_use = clients()
        if not in_use:
            return
        try:
            key = read_api_key(settings)
        except ConfigError as exc:
            log.warning(Event.AUTH_KEY_UNREADABLE, reason=reason, error="; ".join(exc.problems))
            return
        changed = [client.use_key(key.get_secret_value()) for client in in_use]
        if any(changed):
            log.warning(Event.AUTH_KEY_RELOADED, reason=reason)

    return reload


def pause_recorder(
    state_dir: Path, name: str = PAUSE_FILE
) -> Callable[[float | None, float | None], None]:
    """Return a gate's record: write the pause's start and next probe (epoch seconds) to the
    pause file ``name``, or remove the file when (None, None) says the pause ended."""
    path = state_dir / name

    def record(since: float | None, next_probe: float | None) -> None:
        if since is None or next_probe is None:
            path.unlink(missing_ok=True)
            return
        data = json.dumps({"since": since, "next_probe": next_probe}).encode()
        write_atomic(path, data)

    return record


def read_pause(state_dir: Path, name: str = PAUSE_FILE) -> tuple[float, float] | None:
    """Return (since, next_probe) of the pause a daemon recorded in ``name``, or None."""
    try:
        data = json.loads((state_dir / name).read_text(encoding="utf-8"))
        return float(data["since"]), float(data["next_probe"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
