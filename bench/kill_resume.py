"""Resume after a SIGKILL: a long recording through ``dropscribe once`` with the embedded
engine, uninterrupted and killed at 60 % of the job then started again, interleaved (issue 29).

The recording is long_memory.py's (espeak-ng in five voices, the 6-minute piece laid end to
end, 24 kb/s Opus): 2.4 h by default, ``--minutes 60`` for the 1-hour one; ``--audio-dir``
reuses the files an earlier run made. Each run is a fresh data folder with the default
configuration (``api.base_url: embedded``, the default pieces of 180 s, each kept in the
engine's server.db as a checkpoint once done).

- *uninterrupted*: ``dropscribe once`` from the drop to its exit.
- *killed*: ``dropscribe once`` in a process group of its own; once the job's progress (the
  figure a poll answers and ``status`` shows, read from the engine's server.db every 0.2 s)
  passes ``--kill-at`` (0.6) of the recording, SIGKILL goes to the whole group; then
  ``dropscribe once`` again on the same folders, which polls the job it had submitted while the
  restarted engine goes on after the pieces kept.

Figures per run: the engine's seconds (the job's ``started_at`` to ``completed_at`` in
server.db; for the killed process, ``started_at`` to the kill), the CPU seconds of the
processes (``wait4``'s rusage of each child, its helpers included), wall seconds, peak RSS of
the process tree (/proc samples), the published transcript and how many words it differs by
from the uninterrupted run before it (Levenshtein over the words).

Targets: the killed-and-resumed runs publish the same transcript (0 words differ); their
engine seconds in all are at most 1.15 x the uninterrupted run's (median of the pairs).

Usage: python bench/kill_resume.py [--small] [--minutes {60,144}] [--repeat N]
       [--kill-at FRACTION] [--audio-dir DIR] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ProcSampler, Target, add_results_option, print_table, write_report
from long_memory import (
    LONG_REPEATS,
    PIECE_SECONDS,
    SMALL_PIECE_SECONDS,
    SMALL_REPEATS,
    recordings,
    word_error_rate,
)

from support.daemon import DATA_PATHS, DROPSCRIBE, Daemon
from support.wer import normalized_words

#: Share of the recording done at which the killed run is killed.
KILL_AT = 0.6

#: The issue's limit on the engine seconds of a killed and resumed job over an uninterrupted one.
ENGINE_RATIO_LIMIT = 1.15

#: Seconds between two readings of the job's progress (and /proc samples of the tree).
SAMPLE_SECONDS = 0.2

#: Seconds one daemon process may take (2.4 h on 2 loaded cores takes about 10 minutes).
RUN_TIMEOUT_SECONDS = 3600.0

#: Length in minutes of each recording long_memory.py makes, by its repeats of the piece.
MINUTES = {round(PIECE_SECONDS * count / 60): count for count in LONG_REPEATS}

#: The daemon's settings: the defaults, but a short settle so the drop is claimed at once.
SETTINGS = {"paths": dict(DATA_PATHS), "watch": {"settle_seconds": 0.5}}


def recording(folder: Path, small: bool, minutes: int) -> tuple[dict[str, Any], list[str]]:
    """Return the recording to run (found in ``folder`` or made there) and its words."""
    piece = SMALL_PIECE_SECONDS if small else PIECE_SECONDS
    count = SMALL_REPEATS[0] if small else MINUTES[minutes]
    manifest = folder / f"manifest-{piece:g}.json"
    made: dict[str, Any] | None = None
    if manifest.exists():
        made = json.loads(manifest.read_text())
        found = [r for r in made["recordings"] if r["repeats"] == count]
        if not found or not Path(found[0]["path"]).exists():
            made = None
    if made is None:
        made = recordings(folder, piece, (count,))
    chosen = next(r for r in made["recordings"] if r["repeats"] == count)
    words = [w for s in made["sentences"] for w in normalized_words(s)] * count
    return chosen, words


def engine_job(data: Path) -> dict[str, Any] | None:
    """Return the embedded engine's one job (times, progress) from server.db, read-only."""
    path = data / "state" / "embedded" / "server.db"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0) as db:
            row = db.execute(
                "SELECT status, started_at, completed_at, progress_done, progress_total, crashes"
                " FROM jobs ORDER BY seq DESC LIMIT 1"
            ).fetchone()
    except sqlite3.OperationalError:
        return None  # the schema is not there yet
    if row is None:
        return None
    keys = ("status", "started_at", "completed_at", "done", "total", "crashes")
    return dict(zip(keys, row, strict=True))


def progress(job: dict[str, Any] | None) -> float:
    """Return the share of the recording the job has done (0 before the first piece)."""
    if not job or not job["done"] or not job["total"]:
        return 0.0
    return float(job["done"]) / float(job["total"])


def run_process(daemon: Daemon, kill_at: float | None) -> dict[str, Any]:
    """Run ``dropscribe once`` in a process group of its own to its end, or until the job's
    progress passes ``kill_at``, then SIGKILL the group; return the process's figures."""
    data = daemon.root / "data"
    log = (daemon.root / f"stderr-{time.monotonic_ns()}.log").open("wb")
    spawned = time.time()
    child = subprocess.Popen(
        [str(DROPSCRIBE), "once", "-c", str(daemon.config)],
        cwd=daemon.root, env=daemon.env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    sampler = ProcSampler(child.pid, interval=SAMPLE_SECONDS, family=True).start()
    job, killed_at = None, None
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    # wait4, not Popen.poll: it gives the child's own CPU time (its helpers included).
    reaped = os.wait4(child.pid, os.WNOHANG)
    while reaped[0] == 0 and time.monotonic() < deadline:
        job = engine_job(data) or job
        if kill_at is not None and progress(job) >= kill_at:
            killed_at = time.time()
            os.killpg(child.pid, signal.SIGKILL)
            reaped = os.wait4(child.pid, 0)
            break
        time.sleep(SAMPLE_SECONDS)
        reaped = os.wait4(child.pid, os.WNOHANG)
    if reaped[0] == 0:  # past the deadline
        os.killpg(child.pid, signal.SIGKILL)
        reaped = os.wait4(child.pid, 0)
    sampler.stop()
    _, status, usage = reaped
    child.returncode = os.waitstatus_to_exitcode(status)
    ended = time.time()
    log.close()
    after = engine_job(data)
    return {
        "exit": child.returncode,
        "wall_seconds": round((killed_at or ended) - spawned, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_tree_rss_mb": sampler.peaks().get("peak_family_rss_mb"),
        "killed_at_progress": None if killed_at is None else round(progress(job), 3),
        "engine_seconds": engine_seconds(job if killed_at else after, killed_at),
        "engine_status": None if after is None else after["status"],
    }


def engine_seconds(job: dict[str, Any] | None, killed_at: float | None) -> float | None:
    """Return the seconds the engine spent on the job in this process: from its start to its
    completion, or to the kill."""
    if job is None or job["started_at"] is None:
        return None
    end = killed_at if killed_at is not None else job["completed_at"]
    return None if end is None else round(end - job["started_at"], 2)


def published(daemon: Daemon) -> tuple[str, list[str]]:
    """Return the text of the one published transcript, and its words; "" when none."""
    texts = [doc.get("result", {}).get("text", "") for doc in daemon.output_sets().values()]
    text = texts[0] if len(texts) == 1 else ""
    return text, normalized_words(text)


def one_run(audio: dict[str, Any], kill_at: float | None) -> dict[str, Any]:
    """Run the recording once through a fresh data folder: one process, or with ``kill_at``
    a killed one and the one after it; return the figures and the words published."""
    root = Path(tempfile.mkdtemp(prefix="dropscribe-bench-kill-"))
    daemon = Daemon(root, SETTINGS)
    daemon.inbox.mkdir(parents=True)
    # A copy, not a link: the daemon leaves links in the inbox alone.
    shutil.copy(audio["path"], daemon.inbox / Path(audio["path"]).name)
    processes = [run_process(daemon, kill_at)]
    if kill_at is not None:
        processes.append(run_process(daemon, None))
    text, words = published(daemon)
    daemon.close()
    shutil.rmtree(root, ignore_errors=True)

    def total(key: str) -> float | None:
        values = [p[key] for p in processes]
        return None if None in values else round(sum(values), 2)

    return {
        "kind": "uninterrupted" if kill_at is None else "killed",
        "processes": processes,
        "engine_seconds": total("engine_seconds"),
        "cpu_seconds": total("cpu_seconds"),
        "wall_seconds": total("wall_seconds"),
        "published": bool(text),
        "words": words,
        "text_sha": None if not text else hashlib.sha256(text.encode()).hexdigest(),
    }


def compare(killed: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    """Return how a killed run's transcript and time compare with an uninterrupted one's."""
    distance = round(word_error_rate(plain["words"], killed["words"]) * len(plain["words"]))

    def ratio(key: str) -> float | None:
        if killed[key] is None or not plain[key]:
            return None
        return round(float(killed[key]) / float(plain[key]), 3)

    return {
        "same_text": killed["text_sha"] is not None and killed["text_sha"] == plain["text_sha"],
        "words_differing": distance,
        "words": len(plain["words"]),
        "engine_ratio": ratio("engine_seconds"),
        "cpu_ratio": ratio("cpu_seconds"),
        "wall_ratio": ratio("wall_seconds"),
    }


def spread(values: list[float]) -> dict[str, float] | None:
    """Return the median, lowest and highest of the values (None if there are none)."""
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}  # fmt: skip


def main() -> None:
    """Make or find the recording, run the pairs, print the table and write the report."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="a 4-minute recording, one pair")
    cli.add_argument("--minutes", type=int, choices=sorted(MINUTES), default=max(MINUTES))
    cli.add_argument("--repeat", type=int, default=3, help="pairs of runs (default 3)")
    cli.add_argument("--kill-at", type=float, default=KILL_AT, help="progress to kill at")
    cli.add_argument("--audio-dir", type=Path, default=None, help="keep and reuse the audio")
    add_results_option(cli)
    args = cli.parse_args()
    started = time.time()
    folder = args.audio_dir or Path(tempfile.mkdtemp(prefix="dropscribe-bench-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    audio, reference = recording(folder, args.small, args.minutes)
    runs: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for _ in range(1 if args.small else args.repeat):
        plain = one_run(audio, None)
        killed = one_run(audio, args.kill_at)
        pair = compare(killed, plain)
        pair["plain_wer"] = round(word_error_rate(reference, plain["words"]), 4)
        pairs.append(pair)
        runs.extend([plain, killed])
        print(json.dumps(pair), flush=True)
    rows = [
        [r["kind"], r["published"], len(r["processes"]), r["engine_seconds"], r["cpu_seconds"],
         r["wall_seconds"], max(p["peak_tree_rss_mb"] or 0 for p in r["processes"])]
        for r in runs
    ]  # fmt: skip
    print_table(["run", "published", "processes", "engine s", "CPU s", "wall s", "peak MB"], rows)
    for run in runs:
        run.pop("words")
    summary: dict[str, Any] = {
        key: spread([p[key] for p in pairs if p[key] is not None])
        for key in ("engine_ratio", "cpu_ratio", "wall_ratio", "words_differing")
    }
    summary["all_same_text"] = all(p["same_text"] for p in pairs)
    checks = [
        Target("words differing, killed vs uninterrupted (worst pair)",
               max(p["words_differing"] for p in pairs), 0, "words"),
        Target("engine seconds, killed + resumed over uninterrupted (median)",
               (summary["engine_ratio"] or {"median": float("inf")})["median"],
               ENGINE_RATIO_LIMIT, "x"),
    ]  # fmt: skip
    data = {"recording": audio, "pairs": pairs, "runs": runs, "summary": summary}
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_report("kill_resume", started, arguments, data, checks, args.results_dir)


if __name__ == "__main__":
    main()
