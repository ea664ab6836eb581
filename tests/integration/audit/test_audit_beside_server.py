"""The embedded server runs inside the daemon's process without disturbing its audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from dropscribe import audit
from dropscribe.core.redaction import Redactor
from dropscribe.server.embedded import EmbeddedServer, ServerOptions


class SilentEngine:
    """An engine that is never asked to transcribe in this test."""

    def label(self, spec: str) -> str:
        return f"silent-{spec}"

    def transcribe(self, spec: str, audio: Path, args: dict[str, Any], should_stop: Any) -> Any:
        raise AssertionError("not used")


def test_embedded_server_start_keeps_the_audit_file_handler(tmp_path: Path) -> None:
    audit.configure(log_dir=tmp_path / "log", redactor=Redactor(), console="json")
    try:
        options = ServerOptions(tmp_path / "server", token="token-for-test-0123456789")
        with EmbeddedServer(options, engine=SilentEngine()) as server:
            with requests.get(f"{server.base_url}/healthz", timeout=5) as answer:
                assert answer.status_code == 200
            audit.get_logger().info(audit.Event.SERVER_STARTED, base_url=server.base_url)
    finally:
        audit.shutdown()
    lines = (tmp_path / "log" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["server.started"]
