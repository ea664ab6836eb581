"""Webhooks under load: the scale benchmark's burst with and without a slow webhook receiver.

Each run drops N small distinct WAVs at once into a ready ``dropscribe run`` against an instant
FaultServer (as bench/scale.py does) and measures the wall time from the first rename until
every job.published event. The *webhook* runs add a receiver on loopback that answers every
POST after 2 s and subscribes to job.published, job.failed and file.rejected, so every job
writes a delivery in its publish transaction and four sender threads work through a backlog
of slow POSTs while the jobs run. Runs alternate (plain, webhook, plain, ...) ``--repeat``
times. Target (issue 13): the webhook runs' median throughput within 5% of the plain runs'.

Usage: .venv/bin/python bench/webhooks.py [--small] [--files N] [--repeat N] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from _common import (
    BENCH_TOKEN,
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
from support.webhook_receiver import TEST_SECRET, WebhookReceiver

#: Seconds of noise per file (a 3.2 kB WAV), as in bench/scale.py.
FILE_SECONDS = 0.1
#: How long the receiver takes to answer each POST (seconds).
RECEIVER_DELAY_SECONDS = 2.0
#: Seconds one run may take before it is given up.
TIMEOUT_SECONDS = 300.0
#: Slowdown of the webhook runs' median throughput allowed, as a fraction.
SLOWDOWN_LIMIT = 0.05
SECRET_ENV = "DROPSCRIBE_WEBHOOK_SECRET"


def run_once(files: int, transfers: int, webhook_url: str | None) -> dict[str, Any]:
    """Drop ``files`` at once; return the wall time until all were published."""
    with FaultServer(token=BENCH_TOKEN) as srv:
        settings = bench_settings(srv.base_url, srv.async_path, transfers=transfers)
        if webhook_url is not None:
            settings["notify"] = {"webhooks": [{"url": webhook_url, "secret_env": SECRET_ENV}]}
        with bench_daemon("webhooks", settings) as daemon:
            daemon.extra_env[SECRET_ENV] = TEST_SECRET
            staging = daemon.root / "staging"
            staging.mkdir()
            names = [f"rec-{i:05d}.wav" for i in range(files)]
            for i, name in enumerate(names):
                write_wav_noise(staging / name, FILE_SECONDS, seed=i)
            start_ready(daemon)
            time.sleep(1.0)
            dropped = time.monotonic()
            for name in names:
                os.rename(staging / name, daemon.inbox / name)
            published_at = None
            while time.monotonic() < dropped + TIMEOUT_SECONDS:
                counts = event_counts(daemon)
                if counts["job.published"] + counts["job.failed"] >= files:
                    published_at = time.monotonic()
                    break
                time.sleep(0.05)
            wall = (published_at or time.monotonic()) - dropped
            counts = event_counts(daemon)
            stop(daemon)
    return {
        "webhook": webhook_url is not None,
        "completed": published_at is not None,
        "published_all_seconds": round(wall, 3),
        "files_per_second": round(files / wall, 2),
        "published": counts["job.published"],
        "deliveries_sent_during_run": counts["delivery.sent"],
    }


def main() -> None:
    """Alternate plain and webhook runs, write webhooks.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="20 files, 1 repeat (a smoke run)")
    cli.add_argument("--files", type=int, default=None, help="files per run (default 1000)")
    cli.add_argument("--repeat", type=int, default=None, help="runs of each kind (default 3)")
    cli.add_argument("--transfers", type=int, default=2, help="workers.transfers")
    add_results_option(cli)
    args = cli.parse_args()
    files = args.files or (20 if args.small else 1000)
    repeat = args.repeat or (1 if args.small else 3)
    started = time.time()
    runs: list[dict[str, Any]] = []
    with WebhookReceiver(delay_seconds=RECEIVER_DELAY_SECONDS) as receiver:
        for _ in range(repeat):
            runs.append(run_once(files, args.transfers, None))
            runs.append(run_once(files, args.transfers, receiver.url))
        received = len(receiver.received)
    print_table(
        ["run", "webhook", "all published s", "files/s", "deliveries sent"],
        [
            [n + 1, r["webhook"], r["published_all_seconds"], r["files_per_second"],
             r["deliveries_sent_during_run"]]
            for n, r in enumerate(runs)
        ],
    )  # fmt: skip
    plain = [r["files_per_second"] for r in runs if not r["webhook"]]
    hooked = [r["files_per_second"] for r in runs if r["webhook"]]
    summary = {
        "plain_median_files_per_second": statistics.median(plain),
        "plain_spread": [min(plain), max(plain)],
        "webhook_median_files_per_second": statistics.median(hooked),
        "webhook_spread": [min(hooked), max(hooked)],
        "receiver_posts": received,
    }
    slowdown = (
        1 - summary["webhook_median_files_per_second"] / summary["plain_median_files_per_second"]
    )
    summary["slowdown"] = round(slowdown, 4)
    print(summary)
    complete = all(r["completed"] for r in runs)
    targets = [
        Target("all runs completed", 0.0 if complete else 1.0, 0.0, "unfinished"),
        Target("webhook slowdown of median throughput", slowdown, SLOWDOWN_LIMIT, "fraction"),
    ]
    write_report(
        "webhooks",
        started,
        {"files": files, "repeat": repeat, "transfers": args.transfers,
         "receiver_delay_seconds": RECEIVER_DELAY_SECONDS},
        {"runs": runs, **summary},
        targets,
        args.results_dir,
    )  # fmt: skip


if __name__ == "__main__":
    main()
