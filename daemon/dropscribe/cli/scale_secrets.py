"""Where ``serve`` and ``worker`` find the scale-out secrets, so that neither has to stand on
the command line, which every user reads in ``ps`` and ``systemctl show``:

- the broker URL (it holds the Redis user and password), from ``--broker-file FILE``, then
  ``--broker URL``, then systemd's credential ``broker_url`` (``LoadCredential=``, under
  ``$CREDENTIALS_DIRECTORY``), then ``$DROPSCRIBE_BROKER_URL``;
- the S3 keys, from ``--s3-credentials-file FILE``, then the credential ``aws_credentials``
  (both an AWS shared-credentials file: ``[default]`` or ``$AWS_PROFILE``'s section with
  ``aws_access_key_id`` and ``aws_secret_access_key``), then ``$AWS_ACCESS_KEY_ID`` and
  ``$AWS_SECRET_ACCESS_KEY``; with none of them, boto3's own chain (``~/.aws``, an instance
  role).

Every secret found goes into the Redactor the command logs through. A message names the file or
the variable, never what is in it.
"""

from __future__ import annotations

import argparse
import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dropscribe.core.redaction import Redactor
from dropscribe.server.locations import StorageKeys

BROKER_ENV = "DROPSCRIBE_BROKER_URL"
BROKER_CREDENTIAL = "broker_url"  # file name under $CREDENTIALS_DIRECTORY (LoadCredential=)
S3_CREDENTIAL = "aws_credentials"  # an AWS shared-credentials file, as a systemd credential
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
DEFAULT_PROFILE = "default"

#: Printed when the broker URL with a password came from the command line.
BROKER_IN_PS_WARNING = (
    f"warning: the password in --broker is visible to every user of this machine (ps, "
    f"/proc); pass the URL with --broker-file, ${BROKER_ENV} or systemd's "
    f"LoadCredential={BROKER_CREDENTIAL}:... instead"
)


class SecretProblem(ValueError):
    """A secret's source exists but cannot be used; the message says which and why."""


@dataclass(frozen=True)
class BrokerSource:
    """The broker URL found, and whether it came from the command line itself."""

    url: str
    on_command_line: bool

    @property
    def shows_password(self) -> bool:
        """Return True if the URL holds a password and was given as --broker."""
        return self.on_command_line and bool(urlsplit(self.url).password)


def find_broker(flag: str | None, file: Path | None, env: Mapping[str, str]) -> BrokerSource | None:
    """Given ``--broker`` and ``--broker-file`` (None when not given) and the environment,
    return the broker URL from the first source that has one, or None if none has. Raise
    SecretProblem if a file named cannot be read or is empty."""
    if file is not None:
        return BrokerSource(_read_secret_file(file, "--broker-file"), on_command_line=False)
    if flag:
        return BrokerSource(flag, on_command_line=True)
    credential = _credential(env, BROKER_CREDENTIAL)
    if credential is not None:
        return BrokerSource(_read_secret_file(credential, "credential"), on_command_line=False)
    value = env.get(BROKER_ENV, "").strip()
    return BrokerSource(value, on_command_line=False) if value else None


def find_storage_keys(file: Path | None, env: Mapping[str, str]) -> StorageKeys | None:
    """Given ``--s3-credentials-file`` (None when not given) and the environment, return the S3
    keys from the first source that has them, or None to leave them to boto3's own chain. Raise
    SecretProblem if a file named cannot be read or lacks the keys."""
    profile = env.get("AWS_PROFILE", "").strip() or DEFAULT_PROFILE
    if file is not None:
        return _keys_from_file(file, "--s3-credentials-file", profile)
    credential = _credential(env, S3_CREDENTIAL)
    if credential is not None:
        return _keys_from_file(credential, "credential", profile)
    key_id = env.get("AWS_ACCESS_KEY_ID", "").strip()
    secret = env.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if key_id and secret:
        return StorageKeys(key_id, secret, env.get("AWS_SESSION_TOKEN", "").strip() or None)
    return None


def hide(redactor: Redactor, broker: str | None, keys: StorageKeys | None) -> None:
    """Add the broker's password and the S3 secrets to ``redactor`` (URL users and passwords
    are masked by it anyway; the password alone is masked wherever it occurs too)."""
    if broker is not None:
        redactor.add(urlsplit(broker).password)
    if keys is not None:
        redactor.add(keys.secret_access_key)
        redactor.add(keys.session_token)


def _credential(env: Mapping[str, str], name: str) -> Path | None:
    folder = env.get(CREDENTIALS_ENV)
    path = Path(folder) / name if folder else None
    return path if path is not None and path.is_file() else None


def _read_secret_file(path: Path, where: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretProblem(f"{where} {path}: cannot read it: {type(exc).__name__}") from None
    if not value:
        raise SecretProblem(f"{where} {path}: the file is empty")
    return value


def _keys_from_file(path: Path, where: str, profile: str) -> StorageKeys:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(_read_secret_file(path, where), source=str(path))
    except configparser.Error as exc:
        # The parser's message quotes lines of the file, which may hold a key.
        raise SecretProblem(
            f"{where} {path}: not an AWS credentials file ({type(exc).__name__})"
        ) from None
    section = parser[profile] if parser.has_section(profile) else None
    key_id = section.get("aws_access_key_id", "").strip() if section else ""
    secret = section.get("aws_secret_access_key", "").strip() if section else ""
    if not key_id or not secret:
        raise SecretProblem(
            f"{where} {path}: no aws_access_key_id and aws_secret_access_key in [{profile}]"
        )
    token = section.get("aws_session_token", "").strip() if section else ""
    return StorageKeys(key_id, secret, token or None)


def add_arguments(cli: argparse.ArgumentParser) -> None:
    """Add ``--broker-file`` and ``--s3-credentials-file`` to a scale-out command's parser."""
    cli.add_argument(
        "--broker-file",
        type=Path,
        help=f"file holding the broker URL (wins over --broker, which ps shows); also read from "
        f"${BROKER_ENV} or the systemd credential {BROKER_CREDENTIAL}",
    )
    cli.add_argument(
        "--s3-credentials-file",
        type=Path,
        help=f"AWS shared-credentials file with the S3 keys ([default], or $AWS_PROFILE's); "
        f"default: the systemd credential {S3_CREDENTIAL}, else the AWS_* variables",
    )
