"""The configured audit trail end to end: real audit.jsonl files, a captured stream, stdlib
loggers, tracebacks, reconfiguration."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from dropscribe import audit
from dropscribe.audit import AUDIT_FILE, Event, get_logger
from dropscribe.core.redaction import MASK, Redactor

CANARY = "sk-CANARY-0123456789"
SIGNED_URL = "https://bucket.example/rec.wav?X-Amz-Signature=c0ffee1234&X-Amz-Date=20260101"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


#: Every test here configures logging; the fixture gives the state back afterwards.
pytestmark = pytest.mark.usefixtures("restore_logging")


def configure(tmp_path: Path, stream: io.StringIO, **options: str) -> Path:
    audit.configure(log_dir=tmp_path, redactor=Redactor([CANARY]), stream=stream, **options)
    return tmp_path / AUDIT_FILE


def file_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def open_fds_to(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own fd, closed meanwhile
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


def assert_nowhere(secret: str, stream: io.StringIO, audit_file: Path) -> None:
    audit.shutdown()
    assert secret not in stream.getvalue()
    assert secret not in audit_file.read_text(encoding="utf-8")


def test_audit_canary_in_event_value_masked_on_stream_and_file(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out)
    get_logger().info(Event.UPLOAD_STARTED, job_id="j1", url=SIGNED_URL, header=f"key {CANARY}")
    assert MASK in out.getvalue()
    assert_nowhere(CANARY, out, audit_file)
    assert_nowhere("c0ffee1234", out, audit_file)


def test_audit_canary_in_exception_traceback_masked(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out)
    try:
        raise PermissionError(f"refused key {CANARY} for {SIGNED_URL}")
    except PermissionError:
        get_logger().exception(Event.JOB_FAILED, job_id="j1")
    record = json.loads(file_lines(audit_file)[0])
    assert "Traceback (most recent call last)" in record["exception"]
    assert f"PermissionError: refused key {MASK}" in record["exception"]
    assert_nowhere(CANARY, out, audit_file)
    assert_nowhere("c0ffee1234", out, audit_file)


def test_audit_canary_in_console_traceback_masked(tmp_path: Path) -> None:
    out = Terminal()
    audit_file = configure(tmp_path, out)
    try:
        raise PermissionError(f"refused key {CANARY}")
    except PermissionError:
        get_logger().exception(Event.JOB_FAILED, job_id="j1")
    assert "PermissionError: refused key" in out.getvalue()
    assert_nowhere(CANARY, out, audit_file)


def test_audit_stdlib_urllib3_signed_url_masked(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out)
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s (%s)", SIGNED_URL, CANARY)
    record = json.loads(file_lines(audit_file)[0])
    assert record["logger"] == "urllib3.connectionpool"
    assert record["level"] == "warning"
    assert record["event"].startswith(
        f"Retrying https://bucket.example/rec.wav?X-Amz-Signature={MASK}"
    )
    assert_nowhere("c0ffee1234", out, audit_file)
    assert_nowhere(CANARY, out, audit_file)


def test_audit_stdlib_exception_traceback_masked(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out)
    try:
        raise ConnectionError(SIGNED_URL)
    except ConnectionError:
        logging.getLogger("requests").exception("request failed")
    assert "ConnectionError" in json.loads(file_lines(audit_file)[0])["exception"]
    assert_nowhere("c0ffee1234", out, audit_file)


def test_audit_urllib3_debug_hidden_even_at_debug_level(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out, level="debug")
    logging.getLogger("urllib3").debug("Starting new HTTPS connection")
    get_logger().debug(Event.POLL_STATUS, job_id="j1", status="running")
    assert [json.loads(line)["event"] for line in file_lines(audit_file)] == ["poll.status"]


def test_audit_faster_whisper_info_lines_kept_out(tmp_path: Path) -> None:
    out = io.StringIO()
    audit_file = configure(tmp_path, out)
    logging.getLogger("faster_whisper").info("Processing audio with duration 00:11.000")
    logging.getLogger("faster_whisper").warning("a model warning")
    events = [json.loads(line)["event"] for line in file_lines(audit_file)]
    assert events == ["a model warning"]


def test_audit_level_info_drops_debug_events(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    get_logger().debug(Event.POLL_STATUS, job_id="j1")
    get_logger().info(Event.JOB_CLAIMED, job_id="j1")
    assert [json.loads(line)["event"] for line in file_lines(audit_file)] == ["job.claimed"]


def test_audit_file_one_json_object_per_line_with_event_timestamp_level(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    log = get_logger(job_id="j1")
    log.info(Event.JOB_CLAIMED, source="a\nb.wav", sha256="ab")
    log.warning(Event.JOB_RETRY, step="upload", attempt=2, delay_seconds=1.5)
    logging.getLogger("watchdog").error("observer died")
    records = [json.loads(line) for line in file_lines(audit_file)]
    assert [(r["event"], r["level"]) for r in records] == [
        ("job.claimed", "info"),
        ("job.retry", "warning"),
        ("observer died", "error"),
    ]
    for record in records:
        assert datetime.fromisoformat(record["timestamp"]).utcoffset() == timedelta(0)
    assert records[0]["source"] == "a\nb.wav"  # kept, and escaped within its one line


def test_audit_file_line_written_before_shutdown(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    get_logger().info(Event.DAEMON_STARTED, pid=1)
    assert json.loads(file_lines(audit_file)[0])["event"] == "daemon.started"


def test_audit_file_appended_across_runs(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    get_logger().info(Event.DAEMON_STARTED)
    configure(tmp_path, io.StringIO())
    get_logger().info(Event.DAEMON_STOPPED)
    events = [json.loads(line)["event"] for line in file_lines(audit_file)]
    assert events == ["daemon.started", "daemon.stopped"]


def test_audit_stream_on_pipe_json_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    configure(tmp_path, out)
    get_logger().info(Event.JOB_CLAIMED, job_id="j1")
    assert json.loads(out.getvalue())["event"] == "job.claimed"


def test_audit_stream_on_terminal_human_readable(tmp_path: Path) -> None:
    out = Terminal()
    configure(tmp_path, out)
    get_logger().info(Event.JOB_CLAIMED, job_id="j1")
    assert "job.claimed" in out.getvalue()
    assert "\x1b[" in out.getvalue()  # colours, for a person
    with pytest.raises(ValueError):
        json.loads(out.getvalue())


def test_audit_stream_forced_json_on_terminal(tmp_path: Path) -> None:
    out = Terminal()
    configure(tmp_path, out, console="json")
    get_logger().info(Event.JOB_CLAIMED, job_id="j1")
    assert json.loads(out.getvalue())["job_id"] == "j1"


def test_audit_stream_forced_console_on_pipe_without_colours(tmp_path: Path) -> None:
    out = io.StringIO()
    configure(tmp_path, out, console="console")
    get_logger().info(Event.JOB_CLAIMED, job_id="j1")
    assert "job.claimed" in out.getvalue()
    assert "job_id=j1" in out.getvalue()
    assert "\x1b[" not in out.getvalue()


def test_audit_stream_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    audit.configure(log_dir=None, redactor=Redactor([CANARY]))
    get_logger().info(Event.CONFIG_INVALID, problems=[f"api.key: {CANARY}"])
    out = capsys.readouterr().out
    assert json.loads(out)["event"] == "config.invalid"
    assert CANARY not in out


def test_audit_without_log_dir_no_file(tmp_path: Path) -> None:
    audit.configure(log_dir=None, redactor=Redactor(), stream=io.StringIO())
    get_logger().info(Event.DAEMON_STARTED)
    assert list(tmp_path.iterdir()) == []


def test_audit_foreign_root_handler_removed(tmp_path: Path) -> None:
    leaked = io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(leaked))
    configure(tmp_path, io.StringIO())
    logging.getLogger("urllib3").warning("GET %s", SIGNED_URL)
    assert leaked.getvalue() == ""


def test_configure_called_again_closes_previous_audit_file(tmp_path: Path) -> None:
    first = configure(tmp_path / "a", io.StringIO())
    second = configure(tmp_path / "b", io.StringIO())
    third = configure(tmp_path / "b", io.StringIO())
    assert (open_fds_to(first), open_fds_to(second)) == (0, 1)
    assert third == second


def test_shutdown_closes_audit_file(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    get_logger().info(Event.DAEMON_STOPPED)
    audit.shutdown()
    assert open_fds_to(audit_file) == 0
    assert len(file_lines(audit_file)) == 1


def test_shutdown_keeps_stream_for_late_events(tmp_path: Path) -> None:
    out = io.StringIO()
    configure(tmp_path, out)
    audit.shutdown()
    get_logger().info(Event.DAEMON_STOPPED, url=SIGNED_URL)
    assert json.loads(out.getvalue())["event"] == "daemon.stopped"
    assert "c0ffee1234" not in out.getvalue()


def test_get_logger_used_before_configure_follows_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = get_logger(job_id="j1")  # as a module-level logger is, at import time
    log.info(Event.DAEMON_STARTED)  # structlog's defaults still: must not pin them
    capsys.readouterr()
    audit_file = configure(tmp_path, io.StringIO())
    log.info(Event.JOB_CLAIMED, url=SIGNED_URL)
    assert json.loads(file_lines(audit_file)[0])["event"] == "job.claimed"
    assert "c0ffee1234" not in capsys.readouterr().out


def test_get_logger_used_under_earlier_configure_seen_by_capture_logs(tmp_path: Path) -> None:
    log = get_logger(job_id="j1")
    configure(tmp_path, io.StringIO())
    log.info(Event.DAEMON_STARTED)  # first use: a cached logger would keep this configuration
    configure(tmp_path, io.StringIO())
    with capture_logs() as logs:
        log.info(Event.JOB_CLAIMED)
    assert [entry["event"] for entry in logs] == ["job.claimed"]


def test_get_logger_events_seen_by_capture_logs_with_fields(tmp_path: Path) -> None:
    configure(tmp_path, io.StringIO())
    log = get_logger(job_id="j1")
    with capture_logs() as logs:
        log.info(Event.JOB_CLAIMED, source="a.wav", sha256="ab")
    assert logs == [
        {
            "event": "job.claimed",
            "log_level": "info",
            "job_id": "j1",
            "source": "a.wav",
            "sha256": "ab",
        }
    ]


def test_get_logger_bound_fields_on_every_event(tmp_path: Path) -> None:
    audit_file = configure(tmp_path, io.StringIO())
    log = get_logger(job_id="j1", source="a.wav")
    log.info(Event.UPLOAD_STARTED)
    log.info(Event.UPLOAD_DONE, duration_seconds=0.5)
    records = [json.loads(line) for line in file_lines(audit_file)]
    assert [(r["job_id"], r["source"]) for r in records] == [("j1", "a.wav")] * 2
    assert records[1]["duration_seconds"] == 0.5
