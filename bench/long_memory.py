"""Long recordings: peak memory, seconds per audio minute and WER of one long recording through
the embedded engine, against a 6-minute piece of the same speech (issue 29).

Audio: English sentences spoken by espeak-ng in five voices (en-us, en-gb, en-gb-scotland,
en-gb-x-rp, en-029; one sentence each in turn), 0.6 s apart, cut at a sentence end and padded
with silence to exactly 6 minutes: the piece. The long recordings are the piece laid end to end
(10 times: 1 h, 24 times: 2.4 h; with ``--ten-hours`` also 100 times: 10 h). Each recording,
the piece included, is encoded as 24 kb/s Opus by ffmpeg, the kind of file a dictaphone or a
meeting tool leaves.

Each recording goes through ``dropscribe transcribe FILE --format json`` in a child process
(the daemon's steps and the embedded engine, the bundled tiny.en, as a user runs it) started
under a small wrapper that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest single
process); the tree's resident memory (the daemon and any helper) is also sampled from /proc
every 0.2 s. Figures per run: peak RSS (both ways), the engine's seconds (the job's
``submitted`` to ``succeeded`` steps) and the wall time, each per audio minute, and the word
error rate against the sentences spoken. The recordings are run in turn, ``--repeat`` times
(interleaved); median and spread are reported.

``--tree PATH`` runs another checkout's daemon (its ``daemon/`` on PYTHONPATH), e.g. a
worktree of main for the figures before a change; ``--max-audio-hours H`` passes that limit in
a config file (without it the default configuration is used, which is itself a target: the
long recordings must be accepted by it).

Targets: peak RSS <= 1.0 GB at the longest recording; its engine seconds per audio minute
<= 1.2 x the piece's; its WER within 1 point of the piece's.

Usage: python bench/long_memory.py [--small] [--ten-hours] [--repeat N] [--tree PATH]
       [--max-audio-hours H] [--results-dir DIR] [--audio-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, ProcSampler, Target, add_results_option, print_table, write_report
from throughput import MORE_SENTENCES, SENTENCES, speak

from support.wer import normalized_words

#: espeak-ng voices the sentences are spoken in, one sentence each in turn.
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")

#: Speaking rate, words per minute, and the pause laid after each sentence, in seconds.
RATE_WPM = 160
PAUSE_SECONDS = 0.6

#: The piece's length and how many pieces make each long recording (6 min x 10 = 1 h, ...).
PIECE_SECONDS = 360.0
LONG_REPEATS = (10, 24)
TEN_HOUR_REPEATS = 100

#: With --small: a 1-minute piece and one 4-minute recording, one run.
SMALL_PIECE_SECONDS = 60.0
SMALL_REPEATS = (4,)

#: Opus bit rate of every recording.
OPUS_BITRATE = "24k"

#: Seconds between /proc samples of the child's tree.
SAMPLE_SECONDS = 0.2

#: Seconds one run may take before it is abandoned (10 h on 2 cores takes about 20 minutes).
RUN_TIMEOUT_SECONDS = 4 * 3600.0

#: Targets of issue 29.
PEAK_RSS_LIMIT_MB = 1000.0
SPEED_RATIO_LIMIT = 1.2
WER_POINTS_LIMIT = 1.0

#: The wrapper a run starts under: it runs the command and reports its children's largest RSS.
WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
    "sys.stdout.buffer.write(done.stdout)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'ru_maxrss_kib': peak, 'rc': done.returncode}), file=sys.stderr)\n"
)


# -- audio ------------------------------------------------------------------------------------


def spoken(sentence: str, voice: str, out: Path) -> np.ndarray:
    """Speak the sentence with espeak-ng; return it as 16 kHz mono int16 samples."""
    speak(sentence, out, RATE_WPM, voice)
    with wave.open(str(out), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    out.unlink()
    return samples


def make_piece(folder: Path, seconds: float) -> tuple[Path, list[str]]:
    """Write the piece (16 kHz mono WAV of exactly ``seconds``); return it and its sentences."""
    rate, pause = 16000, np.zeros(int(PAUSE_SECONDS * 16000), dtype="<i2")
    sentences = list(SENTENCES) + list(MORE_SENTENCES)
    parts: list[np.ndarray] = []
    said: list[str] = []
    length, i = 0, 0
    while True:
        samples = spoken(sentences[i % len(sentences)], VOICES[i % len(VOICES)], folder / "s.wav")
        if length + len(samples) > seconds * rate:
            break
        parts.extend([samples, pause])
        said.append(sentences[i % len(sentences)])
        length += len(samples) + len(pause)
        i += 1
    parts.append(np.zeros(int(seconds * rate) - length, dtype="<i2"))
    path = folder / f"piece-{seconds:g}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(parts).tobytes())
    return path, said


def opus(piece: Path, repeats: int, out: Path) -> Path:
    """Encode the piece laid end to end ``repeats`` times as one 24 kb/s Opus file."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{piece}'\n" for _ in range(repeats)))
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c:a", "libopus", "-b:a", OPUS_BITRATE, str(out)],
        check=True,
    )  # fmt: skip
    listing.unlink()
    return out


def recordings(folder: Path, piece_seconds: float, repeats: tuple[int, ...]) -> dict[str, Any]:
    """Make (or find, from an earlier run into the same folder) the piece and the long
    recordings; return their paths, lengths and the piece's sentences."""
    manifest = folder / f"manifest-{piece_seconds:g}.json"
    if manifest.exists():
        made: dict[str, Any] = json.loads(manifest.read_text())
        if all(Path(r["path"]).exists() for r in made["recordings"]) and made["repeats"] == list(
            (1, *repeats)
        ):
            return made
    piece, sentences = make_piece(folder, piece_seconds)
    made = {"sentences": sentences, "repeats": [1, *repeats], "recordings": []}
    for count in (1, *repeats):
        path = opus(piece, count, folder / f"speech-{piece_seconds * count / 60:g}min.opus")
        made["recordings"].append(
            {"path": str(path), "repeats": count, "seconds": piece_seconds * count,
             "bytes": path.stat().st_size}
        )  # fmt: skip
    manifest.write_text(json.dumps(made, indent=1))
    return made


# -- word error rate ---------------------------------------------------------------------------


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Return the word error rate of the hypothesis, by a Levenshtein distance over the words
    computed one reference row at a time with numpy (the insertions' running minimum as a
    cumulative minimum), so that 100,000 words take minutes, not days."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    vocabulary: dict[str, int] = {}
    ref = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in reference])
    hyp = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in hypothesis])
    columns = np.arange(len(hyp) + 1)
    previous = columns.copy()
    for i, word in enumerate(ref, start=1):
        best = np.empty_like(previous)
        best[0] = i
        best[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (hyp != word))
        # current[j] = min(best[j], current[j-1] + 1) = j + min over k <= j of (best[k] - k)
        previous = np.minimum.accumulate(best - columns) + columns
    return float(previous[-1]) / len(ref)


# -- one run ---------------------------------------------------------------------------------


def config_file(folder: Path, max_audio_hours: float | None) -> list[str]:
    """Return the ``-c FILE`` arguments for the limit asked for, or none (the defaults)."""
    if max_audio_hours is None:
        return []
    path = folder / "config.yaml"
    path.write_text(f"embedded:\n  max_audio_hours: {max_audio_hours:g}\n")
    return ["-c", str(path)]


def step_seconds(steps: dict[str, str], start: str, end: str) -> float | None:
    """Return the seconds between two of a job's steps (ISO times), or None if one is missing."""
    if start not in steps or end not in steps:
        return None
    first, last = (datetime.fromisoformat(steps[k].replace("Z", "+00:00")) for k in (start, end))
    return (last - first).total_seconds()


def run_once(recording: dict[str, Any], tree: Path, config: list[str]) -> dict[str, Any]:
    """Transcribe one recording in a child process; return its figures and text."""
    env = {**os.environ, "PYTHONPATH": str(tree / "daemon")}
    command = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "dropscribe", "transcribe",
               recording["path"], "--format", "json", *config]  # fmt: skip
    started = time.monotonic()
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree
    )
    sampler = ProcSampler(child.pid, interval=SAMPLE_SECONDS, family=True).start()
    out, err = child.communicate(timeout=RUN_TIMEOUT_SECONDS)
    wall = time.monotonic() - started
    sampler.stop()
    report = json.loads(err.decode().strip().splitlines()[-1])
    minutes = recording["seconds"] / 60
    figures: dict[str, Any] = {
        "audio_minutes": minutes,
        "rc": report["rc"],
        "wall_seconds": round(wall, 2),
        "wall_s_per_audio_min": round(wall / minutes, 3),
        "ru_maxrss_mb": round(report["ru_maxrss_kib"] * 1024 / 1e6, 1),
        "peak_tree_rss_mb": sampler.peaks().get("peak_family_rss_mb"),
    }
    if report["rc"] != 0:
        figures["error"] = err.decode()[-2000:]
        return figures
    published = json.loads(out)
    engine = step_seconds(published["steps"], "submitted", "succeeded")
    result = published.get("result") or {}
    figures.update(
        engine_seconds=engine,
        engine_s_per_audio_min=None if engine is None else round(engine / minutes, 3),
        segments=len(result.get("segments", [])),
        complete=result.get("complete"),
        coverage=(result.get("coverage") or {}).get("ratio"),
        text=result.get("text", ""),
    )
    return figures


def spread(values: list[float]) -> dict[str, float] | None:
    """Return the median, lowest and highest of the runs' values (None if there are none)."""
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}  # fmt: skip


def summary(runs: list[dict[str, Any]], reference: list[str], repeats: int) -> dict[str, Any]:
    """Return the median and spread of each figure over one recording's runs, and its WER."""
    good = [r for r in runs if r["rc"] == 0]
    rates = [word_error_rate(reference * repeats, normalized_words(r["text"])) for r in good]
    for run, rate in zip(good, rates, strict=True):
        run["wer"] = round(rate, 4)
    keys = ("peak_tree_rss_mb", "ru_maxrss_mb", "engine_s_per_audio_min", "wall_s_per_audio_min")
    return {
        "runs": len(runs),
        "failed": len(runs) - len(good),
        **{key: spread([r[key] for r in good if r.get(key) is not None]) for key in keys},
        "wer": spread(rates),
    }


def median_of(summary: dict[str, Any], key: str) -> float:
    """Return the median of one figure, or infinity when no run gave it."""
    figure = summary.get(key)
    return float("inf") if not figure else float(figure["median"])


def targets(pieces: dict[str, Any], longest: dict[str, Any], label: str) -> list[Target]:
    """Return issue 29's targets for the longest recording against the piece."""
    speed = median_of(longest, "engine_s_per_audio_min") / median_of(
        pieces, "engine_s_per_audio_min"
    )
    points = 100 * (median_of(longest, "wer") - median_of(pieces, "wer"))
    return [
        Target(f"peak RSS (tree) at {label}", median_of(longest, "peak_tree_rss_mb"),
               PEAK_RSS_LIMIT_MB, "MB"),
        Target(f"engine s/audio min at {label} over the piece's", speed, SPEED_RATIO_LIMIT, "x"),
        Target(f"WER at {label} minus the piece's", points, WER_POINTS_LIMIT, "points"),
    ]  # fmt: skip


def main() -> None:
    """Make the recordings, run them, print the table and write the report."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="1 min and 4 min, one run")
    cli.add_argument("--ten-hours", action="store_true", help="also a 10-hour recording")
    cli.add_argument("--repeat", type=int, default=1, help="runs of each recording (default 1)")
    cli.add_argument("--tree", type=Path, default=ROOT, help="checkout whose daemon runs")
    cli.add_argument("--max-audio-hours", type=float, default=None, help="limit in a config")
    add_results_option(cli)
    cli.add_argument("--audio-dir", type=Path, default=None, help="keep and reuse the audio")
    cli.add_argument("--only", type=int, nargs="*", default=None, help="repeat counts to run")
    args = cli.parse_args()
    started = time.time()
    piece_seconds = SMALL_PIECE_SECONDS if args.small else PIECE_SECONDS
    repeats = SMALL_REPEATS if args.small else LONG_REPEATS
    if args.ten_hours and not args.small:
        repeats = (*repeats, TEN_HOUR_REPEATS)
    folder = args.audio_dir or Path(tempfile.mkdtemp(prefix="dropscribe-bench-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    made = recordings(folder, piece_seconds, repeats)
    chosen = [r for r in made["recordings"] if args.only is None or r["repeats"] in args.only]
    config = config_file(folder, args.max_audio_hours)
    runs: dict[int, list[dict[str, Any]]] = {r["repeats"]: [] for r in chosen}
    for _ in range(1 if args.small else args.repeat):
        for recording in chosen:
            figures = run_once(recording, args.tree.resolve(), config)
            runs[recording["repeats"]].append(figures)
            print(f"{recording['seconds'] / 60:g} min: " + json.dumps(
                {k: v for k, v in figures.items() if k not in ("text", "error")}
            ), flush=True)  # fmt: skip
    reference = [w for s in made["sentences"] for w in normalized_words(s)]
    summaries = {count: summary(r, reference, count) for count, r in runs.items()}
    rows = [
        [f"{piece_seconds * count / 60:g} min", s["runs"], s["failed"],
         median_of(s, "peak_tree_rss_mb"), median_of(s, "ru_maxrss_mb"),
         median_of(s, "engine_s_per_audio_min"), median_of(s, "wall_s_per_audio_min"),
         median_of(s, "wer")]
        for count, s in summaries.items()
    ]  # fmt: skip
    print_table(["audio", "runs", "failed", "peak tree MB", "ru_maxrss MB", "engine s/min",
                 "wall s/min", "WER"], rows)  # fmt: skip
    checks: list[Target] = []
    if 1 in summaries and len(summaries) > 1:
        longest = max(summaries)
        checks = targets(summaries[1], summaries[longest], f"{piece_seconds * longest / 60:g} min")
    for run_list in runs.values():
        for run in run_list:
            run.pop("text", None)
    data = {
        "tree": str(args.tree.resolve()),
        "piece_seconds": piece_seconds,
        "recordings": chosen,
        "runs": {str(k): v for k, v in runs.items()},
        "summary": {str(k): v for k, v in summaries.items()},
    }
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_report("long_memory", started, arguments, data, checks, args.results_dir)


if __name__ == "__main__":
    main()
