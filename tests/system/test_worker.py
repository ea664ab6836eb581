"""dropscribe-worker.service under a real systemd, beside the daemon: the worker runs as an
account of its own that cannot read the daemon's recordings, state or logs, with a capped /tmp
and its secrets from credentials.

The unit's command is replaced, in a drop-in, by a probe that tries what a decoder exploit in
a worker would try; every other line of the unit (user, sandbox, credentials) is the shipped
one. A real worker needs Redis and a bucket, which the container does not have; the
scale-out tests run the worker program itself."""

from __future__ import annotations

import re
import shlex

import pytest

from support.installed_service import (
    REPO,
    SYSTEM_TEST_TIMEOUT_SECONDS,
    Service,
    in_checkout,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(SYSTEM_TEST_TIMEOUT_SECONDS)]

WORKER = "dropscribe-worker.service"
WORKER_UNIT_FILE = REPO / "systemd" / WORKER
#: The unit's comment gives the broker URL's install line; the test runs it.
BROKER_LINE = re.compile(r"^#\s+(install -m 0600 .*broker_url.*)$", re.MULTILINE)
PROBE = "/usr/local/lib/dropscribe-worker-probe.sh"
PROBE_OUTPUT = "/run/dropscribe-worker-probe.txt"
#: What the daemon has that a worker must not read: its state, its audit trail, the drops and
#: transcripts, its configuration.
DAEMON_PATHS = (
    "/var/lib/dropscribe",
    "/var/lib/dropscribe/state.db",
    "/var/log/dropscribe",
    "/var/log/dropscribe/audit.jsonl",
    "/srv/dropscribe",
    "/srv/dropscribe/inbox",
    "/srv/dropscribe/outbox",
    "/etc/dropscribe/config.yaml",
)
#: The cap of the worker's /tmp (TemporaryFileSystem=/tmp:size=2560M), in bytes.
TMP_CAP_BYTES = 2560 << 20
PROBE_SCRIPT = f"""#!/bin/sh
echo "user $(id -un) $(id -u)"
for path in {" ".join(DAEMON_PATHS)}; do
    if cat "$path" >/dev/null 2>&1 || ls "$path" >/dev/null 2>&1; then
        echo "readable $path"
    else
        echo "denied $path"
    fi
done
stat -f -c 'tmp %T %b %S' /tmp
test -r "$CREDENTIALS_DIRECTORY/broker_url" && echo "credential broker_url"
test -r "$CREDENTIALS_DIRECTORY/aws_credentials" && echo "credential aws_credentials"
"""
DROP_IN = f"""[Service]
Type=oneshot
ExecStart=
ExecStart=/bin/sh {PROBE}
StandardOutput=truncate:{PROBE_OUTPUT}
"""
AWS_CREDENTIALS = "[default]\naws_access_key_id = probe\naws_secret_access_key = probe-secret\n"


def probe_the_worker_unit(service: Service) -> list[str]:
    """Install the worker unit and its credentials as its comment says, run the probe in its
    place, and return what the probe printed."""
    container = service.container
    match = BROKER_LINE.search(WORKER_UNIT_FILE.read_text(encoding="utf-8"))
    assert match is not None, "the worker unit no longer says how to install the broker URL"
    container.sh(match.group(1))
    aws = "/etc/dropscribe/aws_credentials"
    container.sh(f"install -m 0600 /dev/stdin {aws} <<< {shlex.quote(AWS_CREDENTIALS)}")
    container.sh(f"install -m 0755 /dev/stdin {PROBE} <<'SH'\n{PROBE_SCRIPT}SH\n")
    drop_in = f"/etc/systemd/system/{WORKER}.d"
    container.sh(f"mkdir -p {drop_in}\ncat > {drop_in}/probe.conf <<'INI'\n{DROP_IN}INI\n")
    install = f"install -m 0644 systemd/{WORKER} /etc/systemd/system/"
    container.sh(in_checkout(f"{install}\nsystemctl daemon-reload"))
    container.sh(f"systemctl start {WORKER}")
    return container.sh(f"cat {PROBE_OUTPUT}").stdout.splitlines()


def test_worker_unit_user_cannot_read_the_daemons_folders(service: Service) -> None:
    service.use_embedded()
    container = service.container
    for path in DAEMON_PATHS:
        # Each exists, and the daemon's own user can read it: what the probe is denied is real.
        container.sh(f"runuser -u dropscribe -- sh -c 'cat {path} >/dev/null 2>&1 || ls {path}'")
    modes = container.sh("stat -c '%n %a' /var/lib/dropscribe /var/log/dropscribe").stdout.split()
    assert modes == ["/var/lib/dropscribe", "700", "/var/log/dropscribe", "750"]
    lines = probe_the_worker_unit(service)
    user = lines[0].split()
    daemon_uid = container.sh("id -u dropscribe").stdout.strip()
    assert user[:2] == ["user", "dropscribe-worker"] and user[2] != daemon_uid, lines
    assert [line for line in lines if line.startswith(("readable", "denied"))] == [
        f"denied {path}" for path in DAEMON_PATHS
    ]


def test_worker_unit_tmp_is_a_capped_memory_file_system(service: Service) -> None:
    lines = probe_the_worker_unit(service)
    tmp = next(line.split() for line in lines if line.startswith("tmp "))
    assert tmp[1] == "tmpfs", lines
    assert int(tmp[2]) * int(tmp[3]) == TMP_CAP_BYTES


def test_worker_unit_gets_its_broker_url_and_keys_as_credentials(service: Service) -> None:
    lines = probe_the_worker_unit(service)
    assert "credential broker_url" in lines and "credential aws_credentials" in lines
    shown = service.show(WORKER, "Environment")
    assert "redis://" not in " ".join(shown.values())
