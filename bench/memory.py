"""Memory: the daemon's RSS growth while it hashes and uploads one 1 GiB recording.

Starts ``dropscribe run`` against a FaultServer (which hashes uploads in 256 KiB pieces and
keeps none of it), with watch.max_file_mb raised, waits for READY=1, samples the daemon's RSS for
a second as the baseline, then renames a 1 GiB file with a WAV header (sparse by default, random
bytes with --random) into the inbox and samples /proc/PID/status every 50 ms until the job is
published. Reports baseline, peak and growth, and the upload's duration and rate from the
upload.done event. Target (issue 6): RSS growth <= 30 MB.

Usage: .venv/bin/python bench/memory.py [--small] [--mib N] [--random] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from _common import (
    BENCH_TOKEN,
    ProcSampler,
    Target,
    add_results_option,
    bench_daemon,
    bench_settings,
    print_table,
    start_ready,
    stop,
    wait_finished,
    write_report,
    write_sparse_wav,
)

from support.fault_server import FaultServer

MIB = 1 << 20

#: Allowed RSS growth, in MB (10^6 bytes).
GROWTH_LIMIT_MB = 30.0

#: Seconds of idle sampling that make the baseline.
BASELINE_SECONDS = 1.0

#: Seconds the upload may take before the benchmark gives up.
TIMEOUT_SECONDS = 480.0


def measure(mib: int, random_data: bool) -> dict[str, Any]:
    """Upload one file of ``mib`` MiB through the daemon; return RSS figures and timings."""
    with FaultServer(token=BENCH_TOKEN) as srv:
        max_file_mb = max(4096, 2 * mib)
        settings = bench_settings(srv.base_url, srv.async_path, max_file_mb=max_file_mb)
        with bench_daemon("memory", settings) as daemon:
            staged = daemon.root / "staging" / "big.wav"
            staged.parent.mkdir()
            write_sparse_wav(staged, mib * MIB, random_data=random_data)
            start_ready(daemon)
            time.sleep(1.0)  # start-up allocations are not the upload's
            sampler = ProcSampler(daemon.pid).start()
            time.sleep(BASELINE_SECONDS)
            baseline_samples = len(sampler.samples)
            dropped = time.monotonic()
            os.rename(staged, daemon.inbox / "big.wav")
            finished = wait_finished(daemon, "job.published", 1, TIMEOUT_SECONDS)
            wall = time.monotonic() - dropped
            sampler.stop()
            stop(daemon)
            published = daemon.events("job.published")
            uploads = daemon.events("upload.done")
    baseline = statistics.median(s[1] for s in sampler.samples[:baseline_samples]) / 1e6
    peak = max(s[1] for s in sampler.samples) / 1e6
    stride = max(1, len(sampler.samples) // 200)  # at most ~200 points in the report
    upload_seconds = float(uploads[0]["duration_seconds"]) if uploads else None
    return {
        "file_mib": mib,
        "content": "random" if random_data else "sparse (zeros)",
        "completed": finished and bool(published),
        "wall_seconds": round(wall, 3),
        "upload_seconds": upload_seconds,
        "upload_mib_per_second": round(mib / upload_seconds, 1) if upload_seconds else None,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
        "samples": len(sampler.samples),
        "rss_mb_series": [round(s[1] / 1e6, 1) for s in sampler.samples[::stride]],
    }


def main() -> None:
    """Measure, write memory.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="16 MiB (a smoke run)")
    cli.add_argument("--mib", type=int, default=None, help="file size in MiB (default 1024)")
    cli.add_argument("--random", action="store_true", help="random content instead of sparse")
    add_results_option(cli)
    args = cli.parse_args()
    mib = args.mib or (16 if args.small else 1024)
    started = time.time()
    result = measure(mib, args.random)
    print_table(
        [
            "file MiB",
            "content",
            "baseline MB",
            "peak MB",
            "growth MB",
            "upload s",
            "MiB/s",
            "wall s",
        ],
        [
            [
                mib,
                result["content"],
                result["baseline_rss_mb"],
                result["peak_rss_mb"],
                result["growth_mb"],
                result["upload_seconds"],
                result["upload_mib_per_second"],
                result["wall_seconds"],
            ]
        ],
    )
    targets = [
        Target("job published", 0.0 if result["completed"] else 1.0, 0.0, "unfinished"),
        Target(f"RSS growth during a {mib} MiB upload", result["growth_mb"], GROWTH_LIMIT_MB, "MB"),
    ]
    arguments = {"mib": mib, "random": args.random}
    write_report("memory", started, arguments, result, targets, args.results_dir)


if __name__ == "__main__":
    main()
