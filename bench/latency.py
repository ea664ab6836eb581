"""Detection latency: a file closed in the inbox -> the daemon's job.claimed event.

For each observer mode (native inotify, then polling) this starts ``dropscribe run`` against a
FaultServer that answers instantly, waits for READY=1, then writes files one by one straight
into the inbox (as cp would), recording the time each is closed, with a pseudo-random gap of
50-150 ms between files. The claim time is the ``timestamp`` of each file's job.claimed audit
event. Reports median, p95 and max per mode. Target (issue 4): p95 <= settle_seconds + 1 s.

Usage: .venv/bin/python bench/latency.py [--small] [--files N] [--settle SECONDS]
       [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from _common import (
    BENCH_TOKEN,
    Target,
    add_results_option,
    bench_daemon,
    bench_settings,
    event_time,
    percentile,
    print_table,
    start_ready,
    stop,
    wait_finished,
    write_report,
    write_wav_noise,
)

from support.fault_server import FaultServer

#: Seconds of noise in each file (a 6.4 kB WAV).
FILE_SECONDS = 0.2

#: Range of the pause between two files, in seconds.
GAP_SECONDS = (0.05, 0.15)

#: Extra seconds given to the last claims to arrive, beyond settle and polling.
CLAIM_GRACE_SECONDS = 30.0

MODES = ("native", "polling")


def measure_mode(mode: str, files: int, settle: float, seed: int) -> dict[str, Any]:
    """Return the per-file latencies (seconds) and their summary for one observer mode."""
    rng = random.Random(seed)
    with FaultServer(token=BENCH_TOKEN) as srv:
        settings = bench_settings(srv.base_url, srv.async_path, settle_seconds=settle, mode=mode)
        with bench_daemon(f"latency-{mode}", settings) as daemon:
            start_ready(daemon)
            closed: dict[str, float] = {}
            for i in range(files):
                name = f"rec-{i:04d}.wav"
                write_wav_noise(daemon.inbox / name, FILE_SECONDS, seed=seed * 100_000 + i)
                closed[name] = time.time()
                time.sleep(rng.uniform(*GAP_SECONDS))
            complete = wait_finished(daemon, "job.claimed", files, settle + CLAIM_GRACE_SECONDS)
            stop(daemon)
            claimed = {str(e["source"]): event_time(e) for e in daemon.events("job.claimed")}
    latencies = [claimed[name] - at for name, at in closed.items() if name in claimed]
    return {
        "mode": mode,
        "files": files,
        "claimed": len(latencies),
        "all_claimed": complete and len(latencies) == files,
        "median_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "p95_seconds": round(percentile(latencies, 0.95), 3) if latencies else None,
        "min_seconds": round(min(latencies), 3) if latencies else None,
        "max_seconds": round(max(latencies), 3) if latencies else None,
        "latencies_seconds": [round(x, 3) for x in latencies],
    }


def main() -> None:
    """Measure both observer modes, write latency.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="5 files per mode (a smoke run)")
    cli.add_argument("--files", type=int, default=None, help="files per mode (default 100)")
    cli.add_argument("--settle", type=float, default=0.5, help="watch.settle_seconds")
    cli.add_argument("--seed", type=int, default=1)
    add_results_option(cli)
    args = cli.parse_args()
    files = args.files or (5 if args.small else 100)
    started = time.time()
    rows = [measure_mode(mode, files, args.settle, args.seed) for mode in MODES]
    print_table(
        ["mode", "files", "claimed", "median s", "p95 s", "max s"],
        [
            [
                r["mode"],
                r["files"],
                r["claimed"],
                r["median_seconds"],
                r["p95_seconds"],
                r["max_seconds"],
            ]
            for r in rows
        ],
    )
    limit = args.settle + 1.0
    targets = [
        Target(
            f"p95 detection latency, {r['mode']} observer",
            r["p95_seconds"] if r["all_claimed"] else float("inf"),
            limit,
            "s",
        )
        for r in rows
    ]
    write_report(
        "latency",
        started,
        {
            "files": files,
            "settle_seconds": args.settle,
            "seed": args.seed,
            "gap_seconds": GAP_SECONDS,
            "file_seconds": FILE_SECONDS,
        },
        {"modes": rows},
        targets,
        args.results_dir,
    )


if __name__ == "__main__":
    main()
