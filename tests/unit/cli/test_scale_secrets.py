"""Where serve and worker find the broker URL and the S3 keys, and that no message shows them."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from dropscribe.cli import scale_secrets
from dropscribe.cli.plain_log import RedactingFormatter
from dropscribe.cli.scale_extra import missing_extra
from dropscribe.cli.scale_secrets import SecretProblem, find_broker, find_storage_keys, hide
from dropscribe.core.redaction import MASK, Redactor
from dropscribe.server.locations import StorageKeys, broker_url

PASSWORD = "canary-redis-pw-0123"
SECRET_KEY = "canary-s3-secret-4567"
URL = f"redis://dropscribe:{PASSWORD}@redis.lan:6379/0"


def credentials_dir(tmp_path: Path, **files: str) -> dict[str, str]:
    folder = tmp_path / "credentials"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return {"CREDENTIALS_DIRECTORY": str(folder)}


def aws_file(key_id: str = "AKIDTEST", secret: str = SECRET_KEY, section: str = "default") -> str:
    return f"[{section}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def test_find_broker_file_wins_over_flag_credential_and_env(tmp_path: Path) -> None:
    file = tmp_path / "broker"
    file.write_text(URL + "\n")
    env = credentials_dir(tmp_path, broker_url="redis://cred:1/0")
    env[scale_secrets.BROKER_ENV] = "redis://env:1/0"
    found = find_broker("redis://flag:1/0", file, env)
    assert found is not None and (found.url, found.on_command_line) == (URL, False)


def test_find_broker_flag_wins_over_credential_and_env(tmp_path: Path) -> None:
    env = credentials_dir(tmp_path, broker_url="redis://cred:1/0")
    env[scale_secrets.BROKER_ENV] = "redis://env:1/0"
    found = find_broker("redis://flag:1/0", None, env)
    assert found is not None and (found.url, found.on_command_line) == ("redis://flag:1/0", True)


def test_find_broker_credential_wins_over_env(tmp_path: Path) -> None:
    env = credentials_dir(tmp_path, broker_url=URL)
    env[scale_secrets.BROKER_ENV] = "redis://env:1/0"
    found = find_broker(None, None, env)
    assert found is not None and found.url == URL


def test_find_broker_env_used_last() -> None:
    found = find_broker(None, None, {scale_secrets.BROKER_ENV: URL})
    assert found is not None and found.url == URL


def test_find_broker_no_source_is_none(tmp_path: Path) -> None:
    assert find_broker(None, None, credentials_dir(tmp_path)) is None


def test_find_broker_empty_file_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "broker"
    file.write_text("\n")
    with pytest.raises(SecretProblem, match="broker: the file is empty"):
        find_broker(None, file, {})


def test_broker_source_password_on_command_line_is_flagged() -> None:
    assert scale_secrets.BrokerSource(URL, on_command_line=True).shows_password
    assert not scale_secrets.BrokerSource(URL, on_command_line=False).shows_password
    assert not scale_secrets.BrokerSource("redis://h:1/0", on_command_line=True).shows_password


def test_find_storage_keys_file_wins_over_credential_and_env(tmp_path: Path) -> None:
    file = tmp_path / "aws"
    file.write_text(aws_file("FROMFILE"))
    env = credentials_dir(tmp_path, aws_credentials=aws_file("FROMCRED"))
    env |= {"AWS_ACCESS_KEY_ID": "FROMENV", "AWS_SECRET_ACCESS_KEY": "x" * 20}
    assert find_storage_keys(file, env) == StorageKeys("FROMFILE", SECRET_KEY)


def test_find_storage_keys_credential_wins_over_env(tmp_path: Path) -> None:
    env = credentials_dir(tmp_path, aws_credentials=aws_file("FROMCRED"))
    env |= {"AWS_ACCESS_KEY_ID": "FROMENV", "AWS_SECRET_ACCESS_KEY": "x" * 20}
    assert find_storage_keys(None, env) == StorageKeys("FROMCRED", SECRET_KEY)


def test_find_storage_keys_environment_with_session_token() -> None:
    env = {"AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": "t"}
    assert find_storage_keys(None, env) == StorageKeys("K", SECRET_KEY, "t")


def test_find_storage_keys_none_found_leaves_them_to_boto3() -> None:
    assert find_storage_keys(None, {"AWS_ACCESS_KEY_ID": "only-the-id"}) is None


def test_find_storage_keys_profile_section_from_aws_profile(tmp_path: Path) -> None:
    file = tmp_path / "aws"
    file.write_text(aws_file("DEFAULTID") + aws_file("TEAMID", section="team"))
    assert find_storage_keys(file, {"AWS_PROFILE": "team"}) == StorageKeys("TEAMID", SECRET_KEY)


def test_find_storage_keys_file_without_keys_says_so_without_the_file_text(tmp_path: Path) -> None:
    file = tmp_path / "aws"
    file.write_text(f"[default]\naws_secret_access_key = {SECRET_KEY}\n")
    with pytest.raises(SecretProblem, match=r"no aws_access_key_id .* in \[default\]") as caught:
        find_storage_keys(file, {})
    assert SECRET_KEY not in str(caught.value)


def test_find_storage_keys_unparsable_file_message_hides_its_lines(tmp_path: Path) -> None:
    file = tmp_path / "aws"
    file.write_text(f"aws_secret_access_key = {SECRET_KEY}\n")  # no section header
    with pytest.raises(SecretProblem, match="not an AWS credentials file") as caught:
        find_storage_keys(file, {})
    assert SECRET_KEY not in str(caught.value)


def test_storage_keys_repr_hides_the_secret() -> None:
    assert SECRET_KEY not in repr(StorageKeys("K", SECRET_KEY, SECRET_KEY + "-token"))


def test_hide_masks_the_broker_password_and_the_s3_secret_anywhere() -> None:
    redactor = Redactor()
    hide(redactor, URL, StorageKeys("K", SECRET_KEY))
    text = redactor.text(f"AUTH {PASSWORD} failed; signing with {SECRET_KEY}; url {URL}")
    assert PASSWORD not in text and SECRET_KEY not in text and "dropscribe:" not in text
    assert text == f"AUTH {MASK} failed; signing with {MASK}; url redis://{MASK}@redis.lan:6379/0"


def test_broker_url_problem_shows_no_user_or_password() -> None:
    with pytest.raises(ValueError, match="has no usable port") as caught:
        broker_url(f"redis://dropscribe:{PASSWORD}@redis.lan:notaport/0")
    assert PASSWORD not in str(caught.value) and "dropscribe:" not in str(caught.value)


def test_redacting_formatter_masks_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter(Redactor([SECRET_KEY]))
    try:
        raise RuntimeError(f"cannot reach {URL} with {SECRET_KEY}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "at %s", (URL,), sys.exc_info())
    line = formatter.format(record)
    assert PASSWORD not in line and SECRET_KEY not in line
    assert line.count(f"redis://{MASK}@redis.lan") == 2


def test_missing_extra_names_the_install_command() -> None:
    message = missing_extra(ModuleNotFoundError("No module named 'redis'", name="redis"))
    assert "pip install 'dropscribe[scale]'" in message and "'redis'" in message


def test_missing_extra_other_module_is_raised_again() -> None:
    with pytest.raises(ModuleNotFoundError):
        missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy"))
