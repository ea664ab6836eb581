"""Scale: 2,000 small files dropped at once into a running daemon, against an instant server.

Starts ``dropscribe run`` against a FaultServer (remote base_url: with ``embedded`` the daemon
would also load Whisper), waits for READY=1, then renames every file from a staging folder on the
same filesystem into the inbox in one burst (each file a distinct 0.1 s WAV of noise, so none is
deduplicated). Measures the wall time from the first rename until every job.published event (and
until every job.claimed), files/s, and, sampling /proc/PID every 50 ms, the daemon's peak RSS,
thread count and open file descriptors, and the RSS of the daemon together with its helper
processes (the completeness guard's speech detection runs in one). Targets (issue 6):
peak RSS <= 150 MB, peak threads <= workers.transfers + 10.

Usage: .venv/bin/python bench/scale.py [--small] [--files N] [--transfers N] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from _common import (
    BENCH_TOKEN,
    ProcSampler,
    Target,
    add_results_option,
    bench_daemon,
    bench_settings,
    event_counts,
    print_table,
    start_ready,
    stop,
    write_report,
    write_wav_noise,
)

from support.fault_server import FaultServer

#: Seconds of noise per file (a 3.2 kB WAV).
FILE_SECONDS = 0.1

#: Seconds the whole batch may take before the benchmark gives up.
TIMEOUT_SECONDS = 480.0

#: Peak resident memory allowed, in MB (10^6 bytes).
RSS_LIMIT_MB = 150.0

#: Threads allowed beyond workers.transfers.
THREADS_ALLOWANCE = 10


def measure(files: int, transfers: int, settle: float) -> dict[str, Any]:
    """Drop the files at once and return timings and /proc peaks."""
    with FaultServer(token=BENCH_TOKEN) as srv:
        settings = bench_settings(
            srv.base_url, srv.async_path, settle_seconds=settle, transfers=transfers
        )
        with bench_daemon("scale", settings) as daemon:
            staging = daemon.root / "staging"
            staging.mkdir()
            names = [f"rec-{i:05d}.wav" for i in range(files)]
            for i, name in enumerate(names):
                write_wav_noise(staging / name, FILE_SECONDS, seed=i)
            start_ready(daemon)
            time.sleep(1.0)  # let start-up settle so the first sample is the idle baseline
            sampler = ProcSampler(daemon.pid, family=True).start()
            dropped = time.monotonic()
            for name in names:
                os.rename(staging / name, daemon.inbox / name)
            drop_seconds = time.monotonic() - dropped
            claimed_at = published_at = None
            deadline = dropped + TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                counts = event_counts(daemon)
                now = time.monotonic()
                if claimed_at is None and counts["job.claimed"] >= files:
                    claimed_at = now
                if counts["job.published"] + counts["job.failed"] >= files:
                    published_at = now
                    break
                time.sleep(0.05)
            sampler.stop()
            stop(daemon)
            counts = event_counts(daemon)
            outputs = len(list(daemon.outbox.glob("*.txt")))
        submissions = srv.submissions_total()
    wall = (published_at or time.monotonic()) - dropped
    return {
        "files": files,
        "completed": published_at is not None,
        "drop_seconds": round(drop_seconds, 3),
        "claimed_all_seconds": round(claimed_at - dropped, 3) if claimed_at else None,
        "published_all_seconds": round(wall, 3),
        "files_per_second": round(files / wall, 1),
        "published": counts["job.published"],
        "failed": counts["job.failed"],
        "outbox_txt_files": outputs,
        "server_submissions": submissions,
        "proc": sampler.peaks(),
    }


def main() -> None:
    """Measure, write scale.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="50 files (a smoke run)")
    cli.add_argument("--files", type=int, default=None, help="files to drop (default 2000)")
    cli.add_argument("--transfers", type=int, default=2, help="workers.transfers")
    cli.add_argument("--settle", type=float, default=0.5, help="watch.settle_seconds")
    add_results_option(cli)
    args = cli.parse_args()
    files = args.files or (50 if args.small else 2000)
    started = time.time()
    result = measure(files, args.transfers, args.settle)
    proc = result["proc"]
    print_table(
        [
            "files",
            "all claimed s",
            "all published s",
            "files/s",
            "peak RSS MB",
            "idle RSS MB",
            "peak threads",
            "idle threads",
            "peak fds",
        ],
        [
            [
                files,
                result["claimed_all_seconds"],
                result["published_all_seconds"],
                result["files_per_second"],
                proc.get("peak_rss_mb"),
                proc.get("first_rss_mb"),
                proc.get("peak_threads"),
                proc.get("first_threads"),
                proc.get("peak_fds"),
            ]
        ],
    )
    print(
        f"published {result['published']}, failed {result['failed']}, "
        f"outbox .txt {result['outbox_txt_files']}, server submissions "
        f"{result['server_submissions']}"
    )
    print(
        "peak RSS of the daemon with its speech-detection helper process: "
        f"{proc.get('peak_family_rss_mb')} MB"
    )
    done = result["completed"]
    targets = [
        Target("all files published", 0.0 if done else 1.0, 0.0, "unfinished"),
        Target("peak RSS", proc.get("peak_rss_mb", float("inf")), RSS_LIMIT_MB, "MB"),
        Target(
            "peak threads",
            proc.get("peak_threads", float("inf")),
            args.transfers + THREADS_ALLOWANCE,
            "threads",
        ),
    ]
    write_report(
        "scale",
        started,
        {
            "files": files,
            "transfers": args.transfers,
            "settle_seconds": args.settle,
            "file_seconds": FILE_SECONDS,
        },
        result,
        targets,
        args.results_dir,
    )


if __name__ == "__main__":
    main()
