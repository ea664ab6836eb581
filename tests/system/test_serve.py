"""dropscribe-serve.service under a real systemd: a private user namespace, its token from
${CREDENTIALS_DIRECTORY}, and a daemon served through it."""

from __future__ import annotations

import pytest

from support.installed_service import (
    DAEMON,
    DROPPER,
    OUTBOX,
    SERVE,
    SERVE_PORT,
    SYSTEM_TEST_TIMEOUT_SECONDS,
    TRANSCRIPT_TIMEOUT_SECONDS,
    Service,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(SYSTEM_TEST_TIMEOUT_SECONDS)]

UPLOAD_URL = f"http://127.0.0.1:{SERVE_PORT}/v1/input/upload-url?extension=wav"
CREDENTIALS = "/run/credentials/dropscribe-serve.service"


def test_serve_unit_runs_in_a_private_user_namespace(service: Service) -> None:
    service.use_serve()
    pid = service.main_pid(SERVE)
    uid = service.container.sh("id -u dropscribe").stdout.strip()
    rows = service.container.sh(f"cat /proc/{pid}/uid_map").stdout.splitlines()
    # PrivateUsers=yes: root and the service user mapped one to one, nobody else.
    assert sorted(row.split() for row in rows) == [["0", "0", "1"], [uid, uid, "1"]]
    assert service.show(SERVE, "PrivateUsers") == {"PrivateUsers": "yes"}


def test_serve_unit_takes_its_token_from_the_credentials_directory(service: Service) -> None:
    service.use_serve()
    pid = service.main_pid(SERVE)
    argv = service.container.sh(f"tr '\\0' '\\n' < /proc/{pid}/cmdline").stdout.splitlines()
    assert argv[argv.index("--token-file") + 1] == f"{CREDENTIALS}/serve_token"
    assert service.http_status("POST", UPLOAD_URL, None) == 401
    assert service.http_status("POST", UPLOAD_URL, "not-the-token") == 401
    assert service.http_status("POST", UPLOAD_URL, service.serve_token) == 201


def test_serve_unit_serves_the_daemon_its_key_from_the_credential(service: Service) -> None:
    service.use_serve()
    mark = len(service.events())
    service.drop("jfk-5.wav", "served.wav")
    published = service.wait_event(
        mark, "job.published", TRANSCRIPT_TIMEOUT_SECONDS, source="served.wav"
    )
    started = service.events_since(0, "daemon.started", pid=service.main_pid())
    assert started[-1]["backend"] == f"http://127.0.0.1:{SERVE_PORT}"
    transcript = service.container.sh(f"runuser -u {DROPPER} -- cat {OUTBOX}/served.txt")
    assert "ask not what your country" in transcript.stdout.lower()
    assert published["job_id"]
    assert service.show(DAEMON, "ActiveState") == {"ActiveState": "active"}
