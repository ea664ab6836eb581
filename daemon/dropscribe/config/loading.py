"""Loading the settings: validated once, completely, at start.

``load_config(path)`` reads YAML with the safe loader (no tag can run code), validates it
against the schema (:mod:`dropscribe.config.schema`), in which unknown keys are errors,
resolves relative paths against the config file's folder, fills the state and log folders from
systemd's ``$STATE_DIRECTORY`` and ``$LOGS_DIRECTORY`` when left out, and finds the API key
for a remote service. Every problem is collected and raised at once as a :class:`ConfigError`
whose lines read ``<file>: <key.path>: <message>``. This is the only module that imports yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dropscribe.config.credentials import find_api_key, webhook_secret_problems
from dropscribe.config.schema.folders import Paths
from dropscribe.config.schema.receivers import Notify
from dropscribe.config.schema.service import Api
from dropscribe.config.schema.settings import Settings
from dropscribe.core.errors import ConfigError


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, folders: bool = True
) -> Settings:
    """Given a YAML file, return the validated settings.

    ``environ`` defaults to ``os.environ``. ``folders`` False is for a command that makes its
    own (``transcribe``): state_dir and log_dir may then stay unset (None). Raise ConfigError
    listing every problem found.
    """
    env = os.environ if environ is None else environ
    raw = _read_yaml(path)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        schema_problems = [_format_error(path, err) for err in exc.errors()]
        folder_problems = _path_problems(raw, path, env) if folders else []
        others = folder_problems + _key_problems(raw, path, env) + _secret_problems(raw, path, env)
        raise ConfigError(schema_problems + others) from None
    problems: list[str] = []
    unset: list[str] = []  # folders not set; problems only for a command that needs them
    paths = _resolve_paths(settings.paths, path.parent.resolve(), env, path, unset)
    problems += unset if folders else []
    key = find_api_key(settings.api, path.parent.resolve(), env, path, problems)
    problems += webhook_secret_problems(settings.notify, path, env)
    for index, profile in enumerate(settings.profiles):
        problems += webhook_secret_problems(profile.notify, path, env, f"profiles.{index}.notify")
    if problems:
        raise ConfigError(problems)
    return settings.model_copy(update={"paths": paths, "api_key": key, "source": path.resolve()})


def _path_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the folders' problems when other sections are invalid, so that every problem
    is reported at once (like _key_problems)."""
    try:
        paths = Paths.model_validate(raw.get("paths") or {})
    except ValidationError:
        return []
    problems: list[str] = []
    _resolve_paths(paths, path.parent.resolve(), env, path, problems)
    return problems


def _key_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the API key's problems when other sections are invalid, so that every problem
    is reported at once (the key is only looked for when the api section itself is valid)."""
    try:
        api = Api.model_validate(raw.get("api") or {})
    except ValidationError:
        return []
    problems: list[str] = []
    find_api_key(api, path.parent.resolve(), env, path, problems)
    return problems


def _secret_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the webhook secrets' problems when other sections are invalid (see
    _key_problems)."""
    try:
        notify = Notify.model_validate(raw.get("notify") or {})
    except ValidationError:
        return []
    return webhook_secret_problems(notify, path, env)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{path}{line}: not valid YAML: {detail}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections"])
    return data


def _format_error(path: Path, err: Mapping[str, Any]) -> str:
    where = ".".join(_printable(part) for part in err.get("loc", ())) or "(top level)"
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        message = "unknown setting (check its spelling and section)"
    return f"{path}: {where}: {message}"


def _printable(part: object) -> str:
    # A key is the user's text: a newline in it must not start a fake line of the report.
    text = str(part)
    return text if text.isprintable() else ascii(text)


def _resolve_paths(
    paths: Paths, base: Path, env: Mapping[str, str], source: Path, problems: list[str]
) -> Paths:
    def absolute(value: Path) -> Path:
        return value if value.is_absolute() else base / value

    fallbacks = {"state_dir": "STATE_DIRECTORY", "log_dir": "LOGS_DIRECTORY"}
    resolved: dict[str, Path] = {}
    for name in Paths.model_fields:
        value: Path | None = getattr(paths, name)
        if value is None:
            # systemd may pass several folders separated by ':'; the first is ours.
            from_env = env.get(fallbacks[name], "").split(":")[0]
            if not from_env:
                problems.append(f"{source}: paths.{name}: not set, and ${fallbacks[name]} is empty")
                continue
            value = Path(from_env)
        resolved[name] = absolute(value)
    return paths.model_copy(update=resolved)
