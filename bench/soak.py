"""Soak: ``dropscribe run`` for a long while against a misbehaving service, killed now and then,
its disk filled once. Nothing may be lost or published twice, and nothing may grow.

The daemon's whole data root (inbox, spool folders, outbox, state, audit log) sits on a tmpfs
the script mounts (so it needs root; without it the disk is not filled and the report says so).
Recordings (seeded random bytes behind a WAV header, 20-200 kB) arrive at random times, written
under a temporary name and renamed in. The FaultServer answers a random share of requests with
5xx, 429 (Retry-After: 1) or a connection reset. Every ``--kill-every`` seconds the daemon gets
SIGKILL and is started again; once, at ``--fill-at`` of the run, the disk is filled for
``--full-seconds``. At the end arrivals stop, the daemon drains, and the script reports:

* files in, files out (in done/ with their four outputs), failed, lost (neither), duplicates
  (outputs under a second numbered name, or content submitted more than once to the service);
* RSS and open fds of the daemon over time (sampled every few seconds, per run between kills);
* latency from arrival (rename into the inbox) to the .json in the outbox: median and p95.

Usage (the default is a 30-minute run; ``--minutes 3`` a short one; ``--small`` a 10 s smoke
run with an arrival every 0.5 s on average, a kill every 4 s and the disk full for 2 s)::

    .venv/bin/python bench/soak.py [--minutes 30] [--seed 1] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    BENCH_TOKEN,
    Target,
    add_results_option,
    open_fds,
    percentile,
    print_table,
    proc_status,
    write_report,
)

from support.daemon import DATA_PATHS, FOLDERS, Daemon
from support.fault_server import Fault, FaultServer
from support.small_disk import fill, tmpfs

#: Seconds between RSS/fd samples of the daemon.
SAMPLE_EVERY_SECONDS = 5.0
#: Seconds the daemon gets to finish everything once arrivals stop.
DRAIN_TIMEOUT_SECONDS = 300.0
#: Where a run that lost, failed or doubled a file keeps the daemon's data, under its folder.
EVIDENCE = "evidence"
#: Size of the tmpfs holding the data root (MiB).
DISK_MIB = 64
OUTPUTS = ("json", "srt", "txt", "vtt")
#: What the smoke run (--small) sets, by option: a short run that still kills and fills.
SMALL_RUN = {"minutes": 10 / 60, "mean_gap": 0.5, "kill_every": 4.0, "full_seconds": 2.0}
#: The console events the report counts.
PAUSE_EVENTS = (
    "storage.full",
    "storage.available",
    "service.unavailable",
    "service.available",
    "job.retry",
    "job.restarted",
    "job.failed",
)


@dataclass
class Run:
    """What happened during the soak."""

    arrived: dict[str, float] = field(default_factory=dict)  # name -> epoch of the rename
    kills: list[float] = field(default_factory=list)
    disk_full: tuple[float, float] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)


def chooser(rate: float, seed: int, run: Run) -> Callable[[str], Fault | None]:
    """Return the FaultServer's chooser: a random fault for ``rate`` of the requests."""
    rng = random.Random(seed)
    lock = threading.Lock()
    kinds: list[tuple[str, Callable[[], Fault]]] = [
        ("503", lambda: Fault.status(503)),
        ("500", lambda: Fault.status(500)),
        ("502", lambda: Fault.status(502)),
        ("429", lambda: Fault.status(429, headers={"Retry-After": "1"})),
        ("reset", Fault.reset),
    ]

    def choose(step: str) -> Fault | None:
        with lock:
            if rng.random() >= rate:
                return None
            name, make = rng.choice(kinds)
            run.faults[name] = run.faults.get(name, 0) + 1
        return make()

    return choose


@contextlib.contextmanager
def data_root(root: Path) -> Iterator[bool]:
    """Mount a tmpfs at ``root/data`` when we are root; yield whether it is one."""
    data = root / "data"
    data.mkdir(parents=True)
    if os.geteuid() != 0:
        yield False
        return
    with tmpfs(data, DISK_MIB * 1024):
        yield True


def settings(srv: FaultServer) -> dict[str, Any]:
    return {
        "paths": dict(DATA_PATHS),
        "api": {
            "base_url": srv.base_url,
            "async_path": srv.async_path,
            "connect_timeout_seconds": 2,
            "read_timeout_seconds": 5,
            "call_deadline_seconds": 10,
        },
        "watch": {"settle_seconds": 0.5, "rescan_seconds": 10},
        "poll": {"initial_seconds": 0.5, "max_seconds": 2},
        "retry": {
            "base_seconds": 0.5,
            "cap_seconds": 5,
            "outage_probe_first_seconds": 1,
            "outage_probe_max_seconds": 5,
        },
    }


def arrive(ws: Daemon, name: str, rng: random.Random) -> bool:
    """Write one recording under a temporary name and rename it in; False if the disk is full."""
    size = rng.randrange(20_000, 200_000)
    body = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WAVEfmt " + rng.randbytes(size - 16)
    temp = ws.inbox / f".{name}.part"
    try:
        temp.write_bytes(body)
        temp.rename(ws.inbox / name)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return False
        raise
    return True


def sample(ws: Daemon, run: Run, started: float) -> None:
    if not ws.running():
        return
    with contextlib.suppress(OSError):
        status = proc_status(ws.pid)
        run.samples.append(
            {
                "t": round(time.time() - started, 1),
                "pid": ws.pid,
                "rss_mb": round(status.get("rss_bytes", 0) / 2**20, 1),
                "threads": status.get("threads", 0),
                "fds": open_fds(ws.pid),
            }
        )


def restart(ws: Daemon) -> None:
    ws.kill()
    ws.start("run", "--log-format", "json")


def keep_evidence(root: Path) -> None:
    """Copy the data root (audit log, state.db, spool folders) off the tmpfs before it is
    unmounted, to ``root/evidence``, so a lost or doubled file can be traced afterwards."""
    shutil.copytree(root / "data", root / EVIDENCE, symlinks=True)


def soak(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    run = Run()
    rng = random.Random(args.seed)
    with data_root(root) as on_tmpfs, FaultServer(token=BENCH_TOKEN, polls_before_success=1) as srv:
        srv.chooser = chooser(args.fault_rate, args.seed + 1, run)
        ws = Daemon(root, settings(srv), api_key=BENCH_TOKEN)
        for name in FOLDERS:
            ws.path(name).mkdir(parents=True, exist_ok=True)
        try:
            ws.start("run", "--log-format", "json")
            ws.wait_for_event("daemon.started", 120.0)
            loop(args, ws, run, rng, on_tmpfs)
            srv.chooser = None  # the drain is timed, not the faults
            drained = drain(ws, run)
            ws.stop(120.0)
            report = summarize(args, ws, srv, run, drained, on_tmpfs)
            if report["lost"] or report["failed"] or report["published_twice"]:
                keep_evidence(root)
            return report
        finally:
            with contextlib.suppress(Exception):
                if ws.running():
                    ws.kill()
            ws.close()


def loop(args: argparse.Namespace, ws: Daemon, run: Run, rng: random.Random, tmpfs: bool) -> None:
    started = time.time()
    end = started + args.minutes * 60
    next_arrival = started
    next_kill = started + args.kill_every
    next_sample = started
    fill_at = started + args.fill_at * args.minutes * 60
    filler: Path | None = None
    full_until = 0.0
    count = 0
    while (now := time.time()) < end:
        if now >= next_arrival:
            name = f"soak{count:05d}.wav"
            if arrive(ws, name, rng):
                run.arrived[name] = time.time()
                count += 1
                next_arrival = now + rng.expovariate(1.0 / args.mean_gap)
            else:
                next_arrival = now + 1.0  # the disk is full: the sender tries again
        if now >= next_kill:
            restart(ws)
            run.kills.append(now - started)
            next_kill = now + args.kill_every
        if tmpfs and filler is None and run.disk_full is None and now >= fill_at:
            filler = fill(ws.root / "data")
            full_until = now + args.full_seconds
        if filler is not None and now >= full_until:
            filler.unlink()
            filler = None
            run.disk_full = (round(fill_at - started, 1), round(now - started, 1))
        if now >= next_sample:
            sample(ws, run, started)
            next_sample = now + SAMPLE_EVERY_SECONDS
        time.sleep(0.05)
    if filler is not None:
        filler.unlink()
        run.disk_full = (round(fill_at - started, 1), round(time.time() - started, 1))


def finished(ws: Daemon, run: Run) -> set[str]:
    done = {p.name for p in ws.done.iterdir()} if ws.done.exists() else set()
    failed = {p.name for p in ws.failed.iterdir()} if ws.failed.exists() else set()
    return (done | failed) & set(run.arrived)


def drain(ws: Daemon, run: Run) -> bool:
    deadline = time.time() + DRAIN_TIMEOUT_SECONDS
    while time.time() < deadline:
        if not ws.running():
            ws.start("run", "--log-format", "json")
        if finished(ws, run) == set(run.arrived):
            return True
        time.sleep(1.0)
    return False


def console_counts(ws: Daemon, names: tuple[str, ...]) -> dict[str, int]:
    """Count events on the daemon's console (stdout, JSON lines; kept off the tmpfs, so it
    has the lines the full disk kept out of the audit file)."""
    counts = dict.fromkeys(names, 0)
    for path in sorted(ws.root.glob("stdout-*.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") in counts:
                    counts[event["event"]] += 1
    return counts


def summarize(
    args: argparse.Namespace, ws: Daemon, srv: FaultServer, run: Run, drained: bool, tmpfs: bool
) -> dict[str, Any]:
    done = {p.name for p in ws.done.iterdir()}
    failed = sorted(p.name for p in ws.failed.iterdir() if not p.name.endswith(".error.json"))
    outputs = {p.name for p in ws.outbox.iterdir()}
    complete = {n for n in done if all(f"{Path(n).stem}.{e}" in outputs for e in OUTPUTS)}
    numbered = sorted(o for o in outputs if " (" in o)  # a second name: published twice
    billed_twice = sum(1 for n in srv.submissions_by_sha256().values() if n > 1)
    lost = sorted(set(run.arrived) - done - set(failed))
    latencies = [
        (ws.outbox / f"{Path(n).stem}.json").stat().st_mtime - run.arrived[n]
        for n in complete
        if n in run.arrived
    ]
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for s in run.samples:
        by_pid.setdefault(s["pid"], []).append(s)
    longest = max(by_pid.values(), key=len, default=[])
    rows = [
        [s["t"], s["pid"], s["rss_mb"], s["threads"], s["fds"]]
        for s in run.samples[:: max(1, len(run.samples) // 20)]
    ]
    print_table(["t (s)", "pid", "RSS MB", "threads", "fds"], rows)
    summary = {
        "minutes": args.minutes,
        "disk_filled": run.disk_full if tmpfs else "not filled: not root, no tmpfs",
        "kills_at_seconds": [round(k, 1) for k in run.kills],
        "faults_injected": run.faults,
        "pause_events": console_counts(ws, PAUSE_EVENTS),
        "files_in": len(run.arrived),
        "files_out": len(complete),
        "failed": failed,
        "lost": lost,
        "published_twice": numbered,
        "billed_twice": billed_twice,
        "drained": drained,
        "latency_seconds": {
            "median": round(percentile(latencies, 0.5), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "max": round(max(latencies, default=float("nan")), 2),
        },
        "longest_run_between_kills": {
            "seconds": (longest[-1]["t"] - longest[0]["t"]) if longest else 0,
            "rss_mb_first_last_max": [
                longest[0]["rss_mb"] if longest else None,
                longest[-1]["rss_mb"] if longest else None,
                max((s["rss_mb"] for s in longest), default=None),
            ],
            "fds_first_last_max": [
                longest[0]["fds"] if longest else None,
                longest[-1]["fds"] if longest else None,
                max((s["fds"] for s in longest), default=None),
            ],
        },
        "samples": run.samples,
    }
    print_table(
        ["files in", "out", "failed", "lost", "dup", "billed 2x", "p50 s", "p95 s"],
        [
            [
                len(run.arrived),
                len(complete),
                len(failed),
                len(lost),
                len(numbered),
                billed_twice,
                summary["latency_seconds"]["median"],
                summary["latency_seconds"]["p95"],
            ]
        ],
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mean-gap", type=float, default=2.0, help="mean seconds between arrivals")
    parser.add_argument("--fault-rate", type=float, default=0.15, help="share of faulty answers")
    parser.add_argument("--kill-every", type=float, default=180.0, help="seconds between SIGKILLs")
    parser.add_argument("--fill-at", type=float, default=0.5, help="when the disk fills (0..1)")
    parser.add_argument("--full-seconds", type=float, default=30.0, help="how long it stays full")
    parser.add_argument("--small", action="store_true", help="a 10 s smoke run")
    add_results_option(parser)
    args = parser.parse_args()
    if args.small:
        for name, value in SMALL_RUN.items():
            setattr(args, name, value)
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="dropscribe-bench-soak-"))
    try:
        data = soak(args, root)
    finally:
        if not (root / EVIDENCE).exists():
            shutil.rmtree(root, ignore_errors=True)
    if (root / EVIDENCE).exists():
        print(f"kept for a post-mortem: {root} (the daemon's data in evidence/, console beside)")
    zero = [
        Target("lost files", len(data["lost"]), 0, "files"),
        Target("duplicates", len(data["published_twice"]) + data["billed_twice"], 0, "files"),
        Target("failed files", len(data["failed"]), 0, "files"),
    ]
    write_report("soak", started, vars(args), data, zero, args.results_dir)
    sys.exit(0)


if __name__ == "__main__":
    main()
