"""The embedded server's /metrics after a real transcription: the engine's busy seconds, a
real-time factor per run and the workers' queue depth, beside the counters it had before."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from dropscribe.server.embedded import EmbeddedServer
from support import tiyaro_flow as flow
from support.daemon import wait_for

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
PREFIX = "dropscribe_serve_"

pytestmark = pytest.mark.slow


def samples(server: EmbeddedServer) -> dict[str, float]:
    text = requests.get(f"{server.base_url}/metrics", timeout=10).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels or s.labels.get("le") is None
    }


def test_server_metrics_engine_run_adds_busy_seconds_and_a_real_time_factor(
    embedded_server: EmbeddedServer,
) -> None:
    before = samples(embedded_server)
    body = flow.transcribe(
        embedded_server.base_url, embedded_server.options.token, SPEECH / "jfk.flac"
    )
    # The run is recorded as the worker finishes, a moment after the job's result is out.
    count = f"{PREFIX}real_time_factor_count"
    wait_for(lambda: samples(embedded_server)[count] > before[count], 10, "the run on /metrics")
    after = samples(embedded_server)

    assert body["status"] == "success"
    busy = (
        after[f"{PREFIX}engine_busy_seconds_total"] - before[f"{PREFIX}engine_busy_seconds_total"]
    )
    runs = after[f"{PREFIX}real_time_factor_count"] - before[f"{PREFIX}real_time_factor_count"]
    rtf_sum = after[f"{PREFIX}real_time_factor_sum"] - before[f"{PREFIX}real_time_factor_sum"]
    assert busy > 0 and runs == 1
    # jfk.flac is 11.0 s long: the factor is the run's busy time over that.
    assert rtf_sum == pytest.approx(busy / 11.0, rel=0.05)
    assert after[f"{PREFIX}queue_depth"] == 0
    assert after[f"{PREFIX}submissions_total"] == before[f"{PREFIX}submissions_total"] + 1
    assert f"{PREFIX}jobs_queued" in after and f"{PREFIX}workers_alive" in after
