"""What the benchmarks share beyond the test harness: machine facts, bench settings, /proc
sampling, test audio, percentiles and the report. The daemon itself runs through
:class:`support.daemon.Daemon`, the harness of the test suites.

Every benchmark writes ``<name>.json`` into ``--results-dir`` (default ``bench/results``) and
prints a table; targets are checked and printed as PASS or FAIL, but a benchmark is a
measurement, so it always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
#: The interpreter the benchmark runs in (the project's virtual environment when run as the
#: README says); the helper processes it starts run in it too.
PYTHON = Path(sys.executable)

# tests/support holds the Daemon harness, FaultServer, the seed-flow helpers and the WER
# function; the test suite imports them as ``support.*`` from tests/, and so do the benchmarks.
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.daemon import (  # noqa: E402 (found through the path set just above)
    CHECK_INTERVAL,
    DATA_PATHS,
    FOLDERS,
    Daemon,
    NotifySocket,
    WaitTimeout,
)

#: Bearer token the benchmarks' servers expect (and the daemon sends); the embedded server
#: wants at least 16 characters.
BENCH_TOKEN = "bench-token-0123456789"

#: Seconds between /proc samples of the daemon.
SAMPLE_SECONDS = 0.05

#: Seconds the daemon gets to start (imports, state, server) before a benchmark gives up.
START_TIMEOUT_SECONDS = 120.0

#: Seconds a stopping daemon gets to drain and exit after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 60.0

#: Clock ticks per second, the unit of utime and stime in /proc/PID/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: Sample rate of the generated audio, in Hz (what Whisper decodes to anyway).
SAMPLE_RATE = 16000


# -- machine and commit ---------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Return what the figures depend on: cores, CPU model, RAM, Python, load at start."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> dict[str, Any]:
    """Return the checkout's commit and whether the working tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One target of the issue: ``value`` must be at most ``limit``."""

    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        """Return True when the measured value meets the target."""
        return self.value <= self.limit


def add_results_option(cli: argparse.ArgumentParser) -> None:
    """Add ``--results-dir``, the folder the JSON report is written to."""
    cli.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="folder of the JSON report (default bench/results)",
    )


def write_report(
    name: str,
    started: float,
    args: dict[str, Any],
    data: dict[str, Any],
    targets: list[Target],
    folder: Path = RESULTS_DIR,
) -> Path:
    """Write ``folder``/<name>.json with the machine, the commit, the data and the targets;
    print each target as PASS or FAIL; return the path."""
    report = {
        "benchmark": name,
        "started_at": datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "duration_seconds": round(time.time() - started, 1),
        "machine": machine_info(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "git": git_commit(),
        "arguments": args,
        "results": data,
        "targets": [{**asdict(t), "passed": t.passed} for t in targets],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    # default=str: the arguments may hold paths (--results-dir among them).
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    for t in targets:
        verdict = "PASS" if t.passed else "FAIL"
        print(f"{verdict}  {t.name}: {t.value:.3f} {t.unit} (target <= {t.limit:g} {t.unit})")
    print(f"\nreport: {shown(path)}")
    return path


def shown(path: Path) -> str:
    """Return the path relative to the checkout when it lies inside it, else as it is."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under headers in aligned columns; floats with three decimals."""

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in text:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (0..1) of values, linearly interpolated."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- the daemon, through the test suites' harness ---------------------------------------------


def bench_settings(
    base_url: str,
    async_path: str | None = None,
    *,
    settle_seconds: float = 0.5,
    mode: str = "auto",
    transfers: int = 2,
    max_file_mb: int | None = None,
) -> dict[str, Any]:
    """Return the settings of a benchmarked daemon in ``data/``: the backend at ``base_url``
    ("embedded" for the in-process one), fast polling and the given watch and worker knobs.
    The embedded server keeps the default polls (2 s growing to 60 s), which are what a user
    gets: it wakes a job's poll the moment the job finishes, so the periodic polls are only a
    safety net there. A remote server is polled every 0.2-1 s. Rescans and retries keep their
    defaults, since the idle figures include them."""
    watch: dict[str, Any] = {"settle_seconds": settle_seconds, "mode": mode}
    if max_file_mb is not None:
        watch["max_file_mb"] = max_file_mb
    api: dict[str, Any] = {"base_url": base_url}
    if async_path is not None:
        api["async_path"] = async_path
    settings: dict[str, Any] = {
        "paths": dict(DATA_PATHS),
        "api": api,
        "watch": watch,
        "workers": {"transfers": transfers},
    }
    if base_url != "embedded":
        settings["poll"] = {"initial_seconds": 0.2, "max_seconds": 1}
    return settings


@contextmanager
def bench_daemon(prefix: str, settings: Mapping[str, Any]) -> Iterator[Daemon]:
    """Yield a Daemon (not started, its folders made) in a fresh temporary folder with
    BENCH_TOKEN as its key; afterwards stop it if it runs, and remove the folder."""
    root = Path(tempfile.mkdtemp(prefix=f"dropscribe-bench-{prefix}-"))
    daemon = Daemon(root, settings, api_key=BENCH_TOKEN)
    for name in FOLDERS:
        daemon.path(name).mkdir(parents=True)
    try:
        yield daemon
    finally:
        stop(daemon)
        daemon.close()
        shutil.rmtree(root, ignore_errors=True)


def start_ready(daemon: Daemon, timeout: float = START_TIMEOUT_SECONDS) -> float:
    """Start ``dropscribe run`` and wait for systemd's READY=1 (sent once the observer runs);
    return the seconds from spawn to READY=1. Raise WaitTimeout if it does not come in time."""
    with NotifySocket(daemon.root / "notify.sock") as sock:
        daemon.extra_env["NOTIFY_SOCKET"] = sock.address
        spawned = time.monotonic()
        daemon.start()
        daemon.wait_for(
            lambda: "READY=1" in sock.receive_until(lambda got: "READY=1" in got, CHECK_INTERVAL),
            timeout,
            "READY=1",
        )
        return time.monotonic() - spawned


def stop(daemon: Daemon) -> None:
    """SIGTERM a running daemon so it drains; kill it if it takes longer than
    STOP_TIMEOUT_SECONDS."""
    if not daemon.running():
        return
    try:
        daemon.stop(STOP_TIMEOUT_SECONDS)
    except WaitTimeout:
        daemon.kill()


def wait_finished(daemon: Daemon, name: str, count: int, timeout: float) -> bool:
    """Wait until ``count`` events ``name`` (or job.failed) are in the audit trail; return
    False on timeout, since a benchmark reports an incomplete run rather than failing."""

    def finished() -> bool:
        return len(daemon.events(name)) + len(daemon.events("job.failed")) >= count

    try:
        daemon.wait_for(finished, timeout, f"{count} {name}")
    except WaitTimeout:
        return False
    return True


def event_counts(daemon: Daemon) -> Counter[str]:
    """Return how many audit events of each name the daemon wrote so far."""
    return Counter(str(event.get("event")) for event in daemon.events())


def event_time(event: dict[str, Any]) -> float:
    """Return an audit event's ISO UTC timestamp as seconds since the epoch."""
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


# -- /proc -----------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """Return RSS (bytes) and the thread count from /proc/PID/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                values["rss_bytes"] = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                values["threads"] = int(line.split()[1])
    return values


def own_peak_rss_mib() -> float:
    """Return this process's own peak resident memory (VmHWM of its address space, MiB).

    Not getrusage's ``ru_maxrss``: Linux carries it over an exec from the process that
    forked (or vforked) this one, so a child started by a large parent reports at least the
    parent's high-water mark."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_own_peak_rss() -> None:
    """Start this process's peak resident memory (VmHWM) again from its RSS now."""
    Path("/proc/self/clear_refs").write_text("5")


def own_rss_mib() -> float:
    """Return this process's resident memory now (VmRSS, MiB)."""
    return round(proc_status(os.getpid())["rss_bytes"] / 2**20, 1)


def descendants(pid: int) -> list[int]:
    """Return the ids of the process's children, their children, and so on."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                parents[int(entry)] = int(stat.read().rpartition(")")[2].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def family_rss_bytes(pid: int) -> int:
    """Return the resident memory of the process and all its descendants (helper processes)."""
    total = 0
    for member in (pid, *descendants(pid)):
        try:
            total += proc_status(member)["rss_bytes"]
        except (FileNotFoundError, ProcessLookupError, KeyError):
            continue
    return total


def open_fds(pid: int) -> int:
    """Return how many file descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """Return the process's user + system CPU time so far, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        fields = stat.read().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """Return user + system CPU seconds per thread id of the process (threads that ended are
    missing, so sample while it runs)."""
    found: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="utf-8") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


@dataclass
class ProcSampler:
    """Samples a process's RSS, threads and open fds every SAMPLE_SECONDS in a thread; with
    ``family``, also the RSS of the process together with its helper processes."""

    pid: int
    interval: float = SAMPLE_SECONDS
    family: bool = False
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    family_rss: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcSampler:
        """Take one sample now, then keep sampling in the background."""
        self.sample()
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)
        self._thread.start()
        return self

    def sample(self) -> None:
        """Record (monotonic time, RSS bytes, threads, fds); silent once the process is gone."""
        try:
            status = proc_status(self.pid)
            fds = open_fds(self.pid)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            return
        self.samples.append((time.monotonic(), status["rss_bytes"], status["threads"], fds))
        if self.family:
            self.family_rss.append(family_rss_bytes(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peaks(self) -> dict[str, Any]:
        """Return the first and peak RSS (MB), threads and fds, and the sample count."""
        if not self.samples:
            return {"samples": 0}
        first = self.samples[0]
        return {
            "samples": len(self.samples),
            "first_rss_mb": round(first[1] / 1e6, 1),
            "peak_rss_mb": round(max(s[1] for s in self.samples) / 1e6, 1),
            "first_threads": first[2],
            "peak_threads": max(s[2] for s in self.samples),
            "first_fds": first[3],
            "peak_fds": max(s[3] for s in self.samples),
            **(
                {"peak_family_rss_mb": round(max(self.family_rss) / 1e6, 1)}
                if self.family_rss
                else {}
            ),
        }


# -- test files -------------------------------------------------------------------------------


def write_wav_noise(path: Path, seconds: float, seed: int) -> None:
    """Write a 16 kHz mono 16-bit WAV of pseudo-random noise; ``seed`` makes contents distinct
    (the daemon reuses the transcript of identical content instead of sending it again)."""
    frames = os.urandom(int(seconds * SAMPLE_RATE) * 2 - 8) + seed.to_bytes(8, "little")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(frames)


def write_sparse_wav(path: Path, size_bytes: int, *, random_data: bool = False) -> None:
    """Write a WAV header claiming ``size_bytes`` of 16 kHz PCM, then extend the file to that
    size: sparse (holes read as silence) or, with ``random_data``, filled with random bytes."""
    data_bytes = size_bytes - 44
    header = (
        b"RIFF"
        + (size_bytes - 8).to_bytes(4, "little")
        + b"WAVE"
        + b"fmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + SAMPLE_RATE.to_bytes(4, "little")
        + (SAMPLE_RATE * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + data_bytes.to_bytes(4, "little")
    )
    with path.open("wb") as out:
        out.write(header)
        if random_data:
            chunk = 4 << 20
            left = data_bytes
            while left > 0:
                out.write(os.urandom(min(chunk, left)))
                left -= chunk
        else:
            out.truncate(size_bytes)
