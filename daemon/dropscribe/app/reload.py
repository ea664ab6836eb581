"""Live reload: which changes of a re-read configuration a running daemon applies, and which
wait for a restart. Pure: it compares two validated settings and returns the settings to run
with and what changed.

Applied at once: folder profiles, whisper, output, quality, notify, watch, and the model path
and tier (``api.async_path``, ``api.service_tier``): each is read where a job's next step or
the next inbox entry needs it. A profile's own ``embedded.model`` is served by the embedded
server started with the daemon: when one is added, removed or changed, the profiles stay as
they were (a restart applies them). Everything else (folders, backend and its connection, workers,
poll and retry timing, the embedded engine, the metrics address) is bound into parts built at
start; a change there is reported as needing a restart and not applied. So is any change of
``diarize`` (``enabled`` included): the speaker labeller is one of those parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropscribe.config import Settings

#: Top-level sections applied on reload, as a whole.
LIVE_SECTIONS = ("profiles", "whisper", "output", "quality", "notify", "watch")
#: Keys of ``api`` applied on reload.
LIVE_API_KEYS = ("async_path", "service_tier")


@dataclass(frozen=True)
class Reload:
    """The outcome of comparing the settings in force with a re-read file."""

    settings: Settings  # what to run with now
    applied: tuple[str, ...]  # the changed keys now in force
    restart_needed: tuple[str, ...]  # the changed keys left as they were


def plan_reload(current: Settings, new: Settings) -> Reload:
    """Given the settings in force and those just read, return what to run with and what
    changed (keys as ``section`` or ``section.key``)."""
    old_dump, new_dump = current.model_dump(mode="json"), new.model_dump(mode="json")
    changed = _changed_keys(old_dump, new_dump)
    held = _held_sections(current, new)
    live = [k for k in changed if _is_live(k) and k.partition(".")[0] not in held]
    held_keys = [k for k in changed if k not in live] + _model_changes(current, new)
    update: dict[str, Any] = {
        name: getattr(current if name in held else new, name) for name in LIVE_SECTIONS
    }
    api_update = {key: getattr(new.api, key) for key in LIVE_API_KEYS}
    update["api"] = current.api.model_copy(update=api_update)
    settings = current.model_copy(update=update)
    return Reload(settings, tuple(live), tuple(held_keys))


def _held_sections(current: Settings, new: Settings) -> set[str]:
    """Return the live sections kept as they are until a restart: the profiles, when the
    models the embedded server serves for them changed."""
    return set() if _own_models(current) == _own_models(new) else {"profiles"}


def _model_changes(current: Settings, new: Settings) -> list[str]:
    old, now = _own_models(current), _own_models(new)
    return [
        f"profiles.{name}.embedded.model"
        for name in sorted(set(old) | set(now))
        if old.get(name) != now.get(name)
    ]


def _own_models(settings: Settings) -> dict[str, str]:
    return {p.name: p.embedded.model for p in settings.profiles if p.embedded.model is not None}


def _is_live(key: str) -> bool:
    section, _, rest = key.partition(".")
    return section in LIVE_SECTIONS or (section == "api" and rest in LIVE_API_KEYS)


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    for section in sorted(set(old) | set(new)):
        before, after = old.get(section), new.get(section)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            keys = sorted(set(before) | set(after))
            changed += [f"{section}.{k}" for k in keys if before.get(k) != after.get(k)]
        else:
            changed.append(section)
    return changed
