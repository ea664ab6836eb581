"""After the README's install steps under a real systemd: accounts, folders, the unit, the
credential, a drop that becomes a transcript for the drop group, and the journal."""

from __future__ import annotations

import json
import re

import pytest

from support.container import wait_for
from support.installed_service import (
    DAEMON,
    DROPPER,
    OUTBOX,
    OUTSIDER,
    SYSTEM_TEST_TIMEOUT_SECONDS,
    Service,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(SYSTEM_TEST_TIMEOUT_SECONDS)]

#: What tmpfiles must have made: mode, owner, group.
FOLDERS = {
    "/etc/dropscribe": "750 root dropscribe",
    "/etc/dropscribe/tiyaro_api_key": "600 root root",
    "/srv/dropscribe": "2750 dropscribe dropscribe-drop",
    "/srv/dropscribe/inbox": "3770 dropscribe dropscribe-drop",
    "/srv/dropscribe/processing": "2750 dropscribe dropscribe-drop",
    "/srv/dropscribe/done": "2750 dropscribe dropscribe-drop",
    "/srv/dropscribe/failed": "2750 dropscribe dropscribe-drop",
    "/srv/dropscribe/outbox": "2750 dropscribe dropscribe-drop",
}
#: The daemon sends STATUS= every 5 s; room for a busy machine.
STATUS_TIMEOUT_SECONDS = 20.0
JFK_WORDS = "ask not what your country can do for you"


def proc_status(service: Service, pid: int) -> dict[str, str]:
    """Return /proc/PID/status inside as a dict."""
    text = service.container.sh(f"cat /proc/{pid}/status").stdout
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_readme_steps_leave_the_unit_enabled_active_and_ready(service: Service) -> None:
    service.use_embedded()
    state = service.show(DAEMON, "ActiveState", "SubState", "UnitFileState")
    assert state["ActiveState"] == "active", service.journal_tail(DAEMON)
    assert (state["SubState"], state["UnitFileState"]) == ("running", "enabled")
    # Type=notify: STATUS= from the daemon, the jobs per state (or "idle"), every 5 s.
    status = wait_for(
        lambda: service.show(DAEMON, "StatusText")["StatusText"],
        STATUS_TIMEOUT_SECONDS,
        "STATUS= from the daemon",
        lambda: service.journal_tail(DAEMON),
    )
    assert status == "idle" or re.fullmatch(r"\d+ \w+(, \d+ \w+)*", status), status


def test_sysusers_makes_the_daemon_account_in_the_drop_group(service: Service) -> None:
    passwd = service.container.sh("getent passwd dropscribe").stdout
    drop_group = service.container.sh("getent group dropscribe-drop").stdout
    assert re.fullmatch(r"dropscribe:x:\d+:\d+:[^:]*:/var/lib/dropscribe:\S+\n", passwd)
    assert drop_group.strip().split(":")[3].split(",") == ["dropscribe", DROPPER]


def test_tmpfiles_makes_the_folders_with_their_modes(service: Service) -> None:
    paths = " ".join(FOLDERS)
    out = service.container.sh(f"stat -c '%n %a %U %G' {paths}").stdout
    actual = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines()}
    assert actual == FOLDERS


def test_unit_runs_the_daemon_as_dropscribe_with_the_drop_group(service: Service) -> None:
    service.use_embedded()
    status = proc_status(service, service.main_pid())
    ids = service.container.sh("id -u dropscribe; getent group dropscribe-drop").stdout.split()
    uid, drop_gid = ids[0], ids[1].split(":")[2]
    assert status["Uid"].split() == [uid] * 4
    assert drop_gid in status["Groups"].split()
    assert status["CapEff"].strip() == "0000000000000000"
    assert status["NoNewPrivs"].strip() == "1"


def test_api_key_arrives_as_a_credential_file_only_the_daemon_reads(service: Service) -> None:
    service.use_embedded()
    pid = service.main_pid()
    environ = service.container.sh(f"tr '\\0' '\\n' < /proc/{pid}/environ").stdout.splitlines()
    credentials = "/run/credentials/dropscribe.service"
    assert f"CREDENTIALS_DIRECTORY={credentials}" in environ
    assert not [line for line in environ if line.startswith("TIYARO_API_KEY=")]
    listing = service.container.sh(f"stat -c '%a %U' {credentials}/tiyaro_api_key").stdout
    assert listing.split() == ["400", "dropscribe"]
    refused = service.container.sh(f"runuser -u {DROPPER} -- ls {credentials}", check=False)
    assert refused.returncode != 0


def test_drop_by_a_group_member_becomes_a_transcript_the_group_reads(service: Service) -> None:
    service.use_embedded()
    mark = len(service.events())
    service.drop("jfk.flac", "meeting.flac")
    service.wait_event(mark, "job.published", timeout=90, source="meeting.flac")

    transcript = service.container.sh(f"runuser -u {DROPPER} -- cat {OUTBOX}/meeting.txt")
    assert JFK_WORDS in transcript.stdout.lower()
    modes = service.container.sh(f"stat -c '%a %G' {OUTBOX}/meeting.txt").stdout.split()
    assert modes == ["640", "dropscribe-drop"]
    outsider = service.container.sh(
        f"runuser -u {OUTSIDER} -- cat {OUTBOX}/meeting.txt", check=False
    )
    assert outsider.returncode != 0
    assert "Permission denied" in outsider.stderr


def test_journal_holds_the_daemon_lines_as_json_events(service: Service) -> None:
    service.use_embedded()
    # Only what this run of the daemon wrote, not systemd's lines about the unit.
    run = service.show(DAEMON, "InvocationID")["InvocationID"]
    out = service.container.sh(f"journalctl _SYSTEMD_INVOCATION_ID={run} -o cat --no-pager").stdout
    lines = [line for line in out.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert all({"event", "level", "timestamp"} <= set(e) for e in events), lines
    assert "daemon.started" in {e["event"] for e in events}
