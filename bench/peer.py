"""dropscribe against a peer, side by side: ``dropscribe once`` (the embedded engine) against
``whisper-ctranslate2 --batched True`` (the faster-whisper command line) with the same tiny.en
weights, int8, on the CPU, on one long recording and on a folder of short clips (issue 29).

Inputs: the 6-minute reading of long_memory.py (espeak-ng in five voices, 24 kb/s Opus;
``--audio-dir`` reuses one made before) and the 20 clips of throughput.py (5-10 s each, WAV).
Both sides run as fresh processes, one after the other, ``--repeat`` times interleaved
(dropscribe, peer, dropscribe, peer, ...), so that load on a shared machine falls on both:

- *dropscribe*: throughput.py's ``dropscribe once`` run, an inbox holding the input, default
  settings but a 0.5 s settle; wall time from spawn to exit.
- *peer*: ``PEER FILES --model_directory <the bundled model> --compute_type int8 --device cpu
  --language en --batched True --output_format txt``; wall time from spawn to exit.

Both walls include the interpreter's start, imports and the model's load. Figures: best and
median wall of each side and their ratios, the CPU seconds of each (``wait4``), and the WER of
each side's text against the sentences spoken.

``--peer PATH`` is the peer's executable (default: ``whisper-ctranslate2`` on PATH). Without
it the script stops with an error, except with ``--small``, whose report then says
"peer not installed" and holds the dropscribe side only.

Targets: dropscribe's best wall <= 0.9 x the peer's on the reading, <= 0.6 x on the clips.

Usage: python bench/peer.py [--small] [--peer PATH] [--repeat N] [--audio-dir DIR]
       [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, Target, add_results_option, print_table, write_report
from long_memory import PIECE_SECONDS, SMALL_PIECE_SECONDS, recordings
from throughput import make_speech, run_dropscribe

from support.wer import word_error_rate

#: The issue's limits on dropscribe's wall time over the peer's, best of the runs.
READING_RATIO_LIMIT = 0.9
CLIPS_RATIO_LIMIT = 0.6

#: Clips of throughput.py, and with --small.
CLIPS = 20
SMALL_CLIPS = 3

#: Seconds the peer may take on one input.
PEER_TIMEOUT_SECONDS = 900.0

#: What --small's report says of a peer it could not find.
NOT_INSTALLED = "peer not installed"


def bundled_model() -> str:
    """Return the folder of the bundled tiny.en, as the engine loads it."""
    done = subprocess.run(
        [str(PYTHON), "-c", "from dropscribe.engine.loading import model_location;"
         "from dropscribe.engine.models import BUNDLED_MODEL;"
         "print(model_location(BUNDLED_MODEL))"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout.strip()


def reading(folder: Path, small: bool) -> dict[str, Any]:
    """Return long_memory.py's piece as an input (found in ``folder`` or made there)."""
    piece = SMALL_PIECE_SECONDS if small else PIECE_SECONDS
    manifest = folder / f"manifest-{piece:g}.json"
    made = json.loads(manifest.read_text()) if manifest.exists() else None
    if made is None or not Path(made["recordings"][0]["path"]).exists():
        made = recordings(folder, piece, ())
    path = Path(made["recordings"][0]["path"])
    return {"name": path.name, "path": str(path), "sentence": " ".join(made["sentences"]),
            "seconds": piece}  # fmt: skip


def peer_argv(peer: str, model: str, files: list[str], out: Path) -> list[str]:
    """Return the peer's command line for the files, its texts going to ``out``."""
    return [peer, *files, "--model_directory", model, "--compute_type", "int8",
            "--device", "cpu", "--language", "en", "--batched", "True",
            "--output_format", "txt", "--output_dir", str(out)]  # fmt: skip


def run_peer(peer: str, model: str, clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the peer once over the clips in a fresh process; return its wall, CPU and WER."""
    with tempfile.TemporaryDirectory(prefix="dropscribe-bench-peer-") as tmp:
        out = Path(tmp)
        argv = peer_argv(peer, model, [c["path"] for c in clips], out)
        started = time.monotonic()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert child.stderr is not None
        # wait4, not Popen.wait: it gives the child's own CPU time.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        errors = child.stderr.read().decode(errors="replace")[-2000:]
        child.stderr.close()
        texts = {c["name"]: text_of(out / (Path(c["name"]).stem + ".txt")) for c in clips}
    return {
        "exit": child.returncode,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "wer": wer_of(clips, texts),
        **({"error": errors} if child.returncode else {}),
    }


def text_of(path: Path) -> str:
    """Return a transcript's text, "" when there is none."""
    return path.read_text().strip() if path.exists() else ""


def wer_of(clips: list[dict[str, Any]], texts: dict[str, str]) -> float | None:
    """Return the mean WER of the texts (by clip name), or None if one is missing."""
    if not all(texts.get(c["name"]) for c in clips):
        return None
    scores = [word_error_rate(c["sentence"], texts[c["name"]]) for c in clips]
    return round(statistics.mean(scores), 4)


def run_ours(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Run ``dropscribe once`` over the clips; return its wall, CPU, published count, WER."""
    figures = run_dropscribe(clips, 0.5)
    return {
        "exit": figures["exit_code"],
        "wall_seconds": figures["wall_seconds"],
        "cpu_seconds": figures["cpu_seconds"],
        "published": figures["published"],
        "wer": figures["mean_wer"],
    }


def best_and_median(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Return the best, median and worst wall of the runs that exited 0."""
    walls = [r["wall_seconds"] for r in runs if r["exit"] == 0]
    if not walls:
        return {"best": None, "median": None, "worst": None}
    return {"best": min(walls), "median": round(statistics.median(walls), 3), "worst": max(walls)}


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float | None]:
    """Return dropscribe's best and median wall over the peer's."""
    return {
        key: None if not ours[key] or not theirs[key] else round(ours[key] / theirs[key], 3)
        for key in ("best", "median")
    }


def find_peer(given: str | None) -> str | None:
    """Return the peer's executable: the path given, or whisper-ctranslate2 on PATH."""
    if given is not None:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("whisper-ctranslate2")


def main() -> None:
    """Make the inputs, run both sides interleaved, print the table and write the report."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--small", action="store_true", help="a 1-minute reading, 3 clips, once")
    cli.add_argument("--peer", default=None, help="whisper-ctranslate2 executable")
    cli.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")
    cli.add_argument("--audio-dir", type=Path, default=None, help="keep and reuse the reading")
    add_results_option(cli)
    args = cli.parse_args()
    started = time.time()
    peer = find_peer(args.peer)
    if peer is None and not args.small:
        sys.exit(
            f"peer.py: {NOT_INSTALLED}: {args.peer or 'whisper-ctranslate2'} not found; "
            "install whisper-ctranslate2 (e.g. in a venv of its own) and pass --peer PATH"
        )
    if peer is None:
        print(f"{NOT_INSTALLED}: the dropscribe side only", flush=True)
    folder = args.audio_dir or Path(tempfile.mkdtemp(prefix="dropscribe-bench-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip_folder = Path(tempfile.mkdtemp(prefix="dropscribe-bench-clips-"))
    inputs = {
        "reading": [reading(folder, args.small)],
        "clips": make_speech(clip_folder, SMALL_CLIPS if args.small else CLIPS),
    }
    model = bundled_model()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"dropscribe": [], "peer": []} for name in inputs
    }
    for _ in range(1 if args.small else args.repeat):
        for name, clips in inputs.items():
            runs[name]["dropscribe"].append(run_ours(clips))
            if peer is not None:
                runs[name]["peer"].append(run_peer(peer, model, clips))
            print(name, json.dumps({k: v[-1] for k, v in runs[name].items() if v}), flush=True)
    shutil.rmtree(clip_folder, ignore_errors=True)
    summary = {
        name: {side: best_and_median(r) for side, r in sides.items()}
        for name, sides in runs.items()
    }
    for sides in summary.values():
        sides["ratio"] = ratios(sides["dropscribe"], sides["peer"]) if peer else {}
    rows = [
        [name, s["dropscribe"]["best"], s["dropscribe"]["median"], s["peer"]["best"],
         s["peer"]["median"], s["ratio"].get("best"), s["ratio"].get("median")]
        for name, s in summary.items()
    ]  # fmt: skip
    print_table(["input", "ours best s", "ours median s", "peer best s", "peer median s",
                 "best ratio", "median ratio"], rows)  # fmt: skip
    checks = [
        Target(f"dropscribe over the peer, best wall, {name}", value, limit, "x")
        for name, limit in (("reading", READING_RATIO_LIMIT), ("clips", CLIPS_RATIO_LIMIT))
        if (value := summary[name]["ratio"].get("best")) is not None
    ]
    data = {
        "peer": peer or NOT_INSTALLED,
        "peer_argv": peer_argv(peer or "whisper-ctranslate2", model, ["FILES..."], Path("OUT")),
        "inputs": {name: [{k: c[k] for k in ("name", "seconds")} for c in clips]
                   for name, clips in inputs.items()},
        "runs": runs,
        "summary": summary,
    }  # fmt: skip
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_report("peer", started, arguments, data, checks, args.results_dir)


if __name__ == "__main__":
    main()
