"""The Grafana dashboard in contrib/ queries only metrics that dropscribe exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from dropscribe.notifications.metrics import DaemonMetrics
from dropscribe.server.meter import EngineMeter

DASHBOARD = Path(__file__).resolve().parents[3] / "contrib" / "grafana-dropscribe.json"
#: The serve metrics written by hand in server.api (not through a registry).
SERVE_COUNTERS = {
    "dropscribe_serve_submissions_total", "dropscribe_serve_engine_runs_total",
    "dropscribe_serve_jobs_queued", "dropscribe_serve_workers_configured",
    "dropscribe_serve_workers_alive", "dropscribe_serve_worker_restarts_total",
    "dropscribe_serve_crashed_jobs_total",
}  # fmt: skip


def exported_names() -> set[str]:
    daemon = DaemonMetrics(lambda: {"published": 1}, lambda: False, lambda: 0, {"version": "x"})
    daemon.api_response("poll", 200)  # labelled counters show once they have a sample
    daemon.delivery("delivered")
    meter = EngineMeter("dropscribe_serve_")
    meter.watch_queue(lambda: 0)
    text = generate_latest(daemon.registry).decode() + meter.exposition()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    return names | SERVE_COUNTERS


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queried = {name for e in exprs for name in re.findall(r"\b(dropscribe_[a-z_]+)", e)}

    assert queried and queried <= exported_names()
    # Both halves are on it: the daemon's and the embedded server's.
    assert any(n.startswith("dropscribe_serve_") for n in queried)
    assert "dropscribe_jobs" in queried and "dropscribe_webhook_deliveries_total" in queried
