"""The daemon's /metrics on metrics.listen: every listed metric, counted from real jobs, and
the jobs per state read from the state file, so they are right again after a restart."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from support.daemon import MakeDaemon, drop_all, wav_bytes
from support.fault_server import Fault, FaultServer
from support.webhook_receiver import TEST_SECRET, WebhookReceiver

SECRET_ENV = "DROPSCRIBE_WEBHOOK_SECRET"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_real_jobs_and_jobs_per_state_survive_a_restart(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    port = free_port()
    server.plan("submit", [Fault.status(503)])
    with WebhookReceiver(statuses=[500]) as receiver:
        hook = {"url": receiver.url, "secret_env": SECRET_ENV}
        daemon = make_daemon(
            metrics={"listen": f"127.0.0.1:{port}"},
            notify={"webhooks": [hook], "first_retry_seconds": 0.1, "max_retry_seconds": 0.2},
            watch={"settle_seconds": 0.5, "rescan_seconds": 3600},
        )
        daemon.extra_env[SECRET_ENV] = TEST_SECRET
        daemon.start_and_wait()
        (daemon.inbox / "later.wav.part").write_bytes(b"x")  # not a recording yet
        drop_all(daemon.root / "staging", daemon.inbox, {"a.wav": wav_bytes("a"), "b.wav": b""})
        daemon.wait_for_published(1)
        receiver.wait_for(3)  # published, failed and its file.rejected
        (daemon.inbox / "waiting.wav").write_bytes(wav_bytes("w"))
        first = scrape(port)
        assert daemon.stop() == 0

        daemon.start_and_wait()
        after_restart = scrape(port)
        assert daemon.stop() == 0

    assert first[("dropscribe_jobs", (("state", "published"),))] == 1
    assert first[("dropscribe_jobs", (("state", "failed"),))] == 1
    assert first[("dropscribe_jobs_total", (("outcome", "published"),))] == 1
    assert first[("dropscribe_jobs_total", (("outcome", "failed"),))] == 1
    assert first[("dropscribe_jobs_total", (("outcome", "duplicate"),))] == 0
    assert first[("dropscribe_job_duration_seconds_count", ())] == 1
    assert first[("dropscribe_job_duration_seconds_sum", ())] > 0
    assert first[("dropscribe_api_requests_total", (("code", "503"), ("step", "submit")))] == 1
    assert first[("dropscribe_api_requests_total", (("code", "200"), ("step", "poll")))] >= 1
    assert first[("dropscribe_webhook_deliveries_total", (("outcome", "retry"),))] == 1
    assert first[("dropscribe_webhook_deliveries_total", (("outcome", "delivered"),))] == 3
    assert first[("dropscribe_auth_paused", ())] == 0
    assert first[("dropscribe_inbox_pending", ())] in (0, 1)  # waiting.wav, unless taken
    info = [k for k in first if k[0] == "dropscribe_info"]
    assert info and dict(info[0][1])["backend"] == "remote"
    # A new run: the counters start over, the jobs per state come from the state file.
    assert after_restart[("dropscribe_jobs", (("state", "published"),))] >= 1
    assert after_restart[("dropscribe_jobs", (("state", "failed"),))] == 1
    assert after_restart[("dropscribe_jobs_total", (("outcome", "failed"),))] == 0


def test_metrics_listen_taken_is_a_config_error(make_daemon: MakeDaemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = make_daemon(metrics={"listen": f"127.0.0.1:{port}"})
        result = daemon.run("once")

    assert result.returncode == 78
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}" in result.stderr
