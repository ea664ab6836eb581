"""The secrets a configuration names but does not hold: the service's API key (from
``api.api_key_file``, the systemd credential or the environment) and the webhooks'
``whsec_<base64>`` signing secrets. A secret itself is never part of a problem's text."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from dropscribe.config.schema.profile import ProfileNotify
from dropscribe.config.schema.receivers import Notify, Webhook
from dropscribe.config.schema.service import EMBEDDED, Api
from dropscribe.config.schema.settings import Settings
from dropscribe.core.errors import ConfigError

CREDENTIAL_NAME = "tiyaro_api_key"  # file name under $CREDENTIALS_DIRECTORY (LoadCredential=)
WEBHOOK_SECRET_PREFIX = "whsec_"
# The shortest webhook secret accepted, in bytes once decoded (the spec asks for 24 to 64).
MIN_WEBHOOK_SECRET_BYTES = 24


def read_api_key(settings: Settings, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Read the API key again from its configured source (api.api_key_file, the systemd
    credential or the environment), so a fixed key is used without a restart. Raise
    ConfigError saying why if there is none to read."""
    source = settings.source or Path("config")
    base = source.parent if settings.source else Path.cwd()
    problems: list[str] = []
    env = os.environ if environ is None else environ
    key = find_api_key(settings.api, base, env, source, problems)
    if key is None or problems:
        raise ConfigError(problems or [f"{source}: api: no API key for an embedded base_url"])
    return key


def find_api_key(
    api: Api, base: Path, env: Mapping[str, str], source: Path, problems: list[str]
) -> SecretStr | None:
    """Given the api section, return a remote service's key (None for the embedded one):
    from ``api.api_key_file`` (a relative one is found in ``base``), the systemd credential or
    the variable ``api.api_key_env``. Append why there is none to ``problems``, each problem
    naming the config file ``source``."""
    if api.base_url == EMBEDDED:
        return None
    if api.api_key_file is not None:
        file = api.api_key_file if api.api_key_file.is_absolute() else base / api.api_key_file
        return _key_from_file(file, f"{source}: api.api_key_file", problems)
    credentials = env.get("CREDENTIALS_DIRECTORY")
    credential = Path(credentials) / CREDENTIAL_NAME if credentials else None
    # An empty credential counts as absent: the unit ships one so that the embedded engine
    # starts without a key, and a key in the environment then still works.
    if credential is not None and credential.is_file() and credential.stat().st_size > 0:
        return _key_from_file(credential, f"{source}: api", problems)
    value = env.get(api.api_key_env, "").strip()
    if value:
        return SecretStr(value)
    problems.append(
        f"{source}: api: a remote base_url needs an API key: set ${api.api_key_env}, "
        f"api.api_key_file, or systemd's LoadCredential={CREDENTIAL_NAME}:..."
    )
    return None


def _key_from_file(file: Path, where: str, problems: list[str]) -> SecretStr | None:
    try:
        value = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{where}: cannot read the key file {file}: {exc}")
        return None
    if not value:
        problems.append(f"{where}: the key file {file} is empty")
        return None
    return SecretStr(value)


def webhook_secret(hook: Webhook, source: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """Read a webhook's ``whsec_<base64>`` secret from its variable or file (a relative file is
    found beside the config file ``source``); return the decoded key. Raise ConfigError saying
    why there is none. The secret itself is never part of the message."""
    env = os.environ if environ is None else environ
    if hook.secret_env is not None:
        where = f"secret_env ${hook.secret_env}"
        text = env.get(hook.secret_env, "").strip()
    else:
        assert hook.secret_file is not None  # the model requires one of the two
        file = (
            hook.secret_file if hook.secret_file.is_absolute() else source.parent / hook.secret_file
        )
        where = f"secret_file {file}"
        try:
            text = file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError([f"{where}: cannot read: {exc.__class__.__name__}"]) from None
    return _decoded_secret(text, where)


def _decoded_secret(text: str, where: str) -> bytes:
    if not text:
        raise ConfigError([f"{where}: empty or not set"])
    if not text.startswith(WEBHOOK_SECRET_PREFIX):
        raise ConfigError([f"{where}: must look like {WEBHOOK_SECRET_PREFIX}<base64>"])
    try:
        key = base64.b64decode(text[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ConfigError(
            [f"{where}: the part after {WEBHOOK_SECRET_PREFIX} is not base64"]
        ) from None
    if len(key) < MIN_WEBHOOK_SECRET_BYTES:
        raise ConfigError([f"{where}: shorter than {MIN_WEBHOOK_SECRET_BYTES} bytes once decoded"])
    return key


def webhook_secret_problems(
    notify: Notify | ProfileNotify, source: Path, env: Mapping[str, str], where: str = "notify"
) -> list[str]:
    """Return a problem for each webhook of ``notify`` whose secret cannot be read."""
    problems: list[str] = []
    for index, hook in enumerate(notify.webhooks):
        try:
            webhook_secret(hook, source, env)
        except ConfigError as exc:
            problems += [f"{source}: {where}.webhooks.{index}: {p}" for p in exc.problems]
    return problems
