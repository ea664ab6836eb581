"""Idle: CPU used by ``dropscribe run`` over 60 s with nothing to do.

Starts three daemons side by side, each with an empty inbox: against a FaultServer with the
native observer, against a FaultServer with the polling observer, and with the embedded backend
(the default: the in-process server and its engine workers; the model loads on the first job,
so an idle daemon has not loaded it). After READY=1 and a warm-up, reads utime + stime from
/proc/PID/stat, waits the window, reads again. Idle processes barely compete for the CPU, so
running them side by side changes little and saves minutes. Reports CPU seconds and percent of
one core, with RSS and threads at the end. Target (issue 6): <= 1% of one core.

Usage: .venv/bin/python bench/idle.py [--small] [--seconds N] [--warmup N] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from typing import Any

from _common import (
    BENCH_TOKEN,
    Target,
    add_results_option,
    bench_daemon,
    bench_settings,
    cpu_seconds,
    open_fds,
    print_table,
    proc_status,
    start_ready,
    write_report,
)

from support.daemon import Daemon
from support.fault_server import FaultServer

#: Seconds after READY=1 before the window opens: late start-up work is not idle work.
WARMUP_SECONDS = 10.0

#: Allowed CPU, in percent of one core.
CPU_LIMIT_PERCENT = 1.0

#: (label, backend, watch.mode) of each daemon measured.
VARIANTS = (
    ("fault server, native observer", "fault", "native"),
    ("fault server, polling observer", "fault", "polling"),
    ("embedded backend, native observer", "embedded", "native"),
)


def measure(window: float, warmup: float) -> list[dict[str, Any]]:
    """Run the daemons side by side; return one row per variant."""
    with ExitStack() as stack:
        srv = stack.enter_context(FaultServer(token=BENCH_TOKEN))
        daemons: list[tuple[str, str, str, Daemon, float]] = []
        for label, backend, mode in VARIANTS:
            if backend == "fault":
                settings = bench_settings(srv.base_url, srv.async_path, mode=mode)
            else:
                settings = bench_settings("embedded", mode=mode)
            daemon = stack.enter_context(bench_daemon("idle", settings))
            daemons.append((label, backend, mode, daemon, start_ready(daemon)))
        time.sleep(warmup)
        before = {d.pid: (cpu_seconds(d.pid), time.monotonic()) for *_, d, _ in daemons}
        time.sleep(window)
        rows = []
        for label, backend, mode, d, startup in daemons:
            used = cpu_seconds(d.pid) - before[d.pid][0]
            elapsed = time.monotonic() - before[d.pid][1]
            status = proc_status(d.pid)
            rows.append(
                {
                    "variant": label,
                    "backend": backend,
                    "watch_mode": mode,
                    "window_seconds": round(elapsed, 2),
                    "cpu_seconds": round(used, 3),
                    "cpu_percent_of_one_core": round(100 * used / elapsed, 3),
                    "rss_mb": round(status["rss_bytes"] / 1e6, 1),
                    "threads": status["threads"],
                    "fds": open_fds(d.pid),
                    "startup_seconds": round(startup, 2),
                }
            )
    return rows


def main() -> None:
    """Measure, write idle.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument(
        "--small", action="store_true", help="a 3 s window after 2 s of warm-up (a smoke run)"
    )
    cli.add_argument("--seconds", type=float, default=None, help="window (default 60)")
    cli.add_argument(
        "--warmup", type=float, default=None, help=f"seconds before it (default {WARMUP_SECONDS:g})"
    )
    add_results_option(cli)
    args = cli.parse_args()
    window = args.seconds or (3.0 if args.small else 60.0)
    warmup = args.warmup if args.warmup is not None else (2.0 if args.small else WARMUP_SECONDS)
    started = time.time()
    rows = measure(window, warmup)
    print_table(
        ["variant", "window s", "CPU s", "% of a core", "RSS MB", "threads", "fds", "start s"],
        [
            [
                r["variant"],
                r["window_seconds"],
                r["cpu_seconds"],
                r["cpu_percent_of_one_core"],
                r["rss_mb"],
                r["threads"],
                r["fds"],
                r["startup_seconds"],
            ]
            for r in rows
        ],
    )
    targets = [
        Target(f"idle CPU, {r['variant']}", r["cpu_percent_of_one_core"], CPU_LIMIT_PERCENT, "%")
        for r in rows
    ]
    write_report(
        "idle",
        started,
        {"window_seconds": window, "warmup_seconds": warmup},
        {"variants": rows},
        targets,
        args.results_dir,
    )


if __name__ == "__main__":
    main()
