"""Subtitle cues with and without word timings: what asking the engine for them costs, and
what it buys.

The reading: the fixtures hold no real reading longer than 36 s, so a reading of at least seven
minutes is spoken by espeak-ng (the varied sentences of bench/throughput.py, read in turn by
three voices, 0.6 s between sentences), with its reference text and the true start of every
sentence. The embedded engine (``WhisperEngine``, the bundled tiny.en, the daemon's default
``whisper`` settings) transcribes it without and with ``word_timestamps``, interleaved
``--repeat`` times (default 3) after one warm-up of each; for each run: the seconds the engine
takes, the word error rate against the reference, and the .srt as the daemon writes it: its
cues' longest and median seconds, longest line, lines, cues past the limits, and how far the
start of a cue that opens a sentence lies from where that sentence is heard (estimated times
against word times). Beside it, the longest and median segment: the cues before this change
(one per segment).

Then the 20 short clips of bench/throughput.py, decoded together as the server batches them,
each way, interleaved: seconds and mean WER. And a meeting in the manner of issue 29: eight
turns of two voices, each turn 2.6 s after the last, transcribed once each way: the .txt's
paragraphs, against the eight turns, and the gaps the word timings show at the turn pauses and
at the 0.6 s sentence pauses (what the paragraph threshold has to tell apart).

``--small``: jfk.flac (11 s, real speech) and one run each way: a smoke test.

Usage: python bench/cues.py [--small] [--repeat N] [--results PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, git_commit, machine_info, print_table
from throughput import (
    DEFAULT_RATE_WPM,
    MORE_SENTENCES,
    SENTENCES,
    make_speech,
    speak,
    wav_seconds,
)

from dropscribe.config import Settings
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.params import WhisperInput, transcribe_args
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.outbox.cue_layout import USUAL_LIMITS
from dropscribe.outbox.srt import render_srt
from dropscribe.outbox.txt import render_txt
from support import subrip
from support.wer import word_error_rate

SPEECH = ROOT.parent / "shared" / "fixtures" / "speech"
RESULTS = ROOT / "bench" / "results" / "cues.json"

#: Shortest reading, in seconds: the issue's "7-minute reading".
READING_MIN_SECONDS = 420.0
#: Voices that read the sentences in turn, and those of the meeting's two speakers.
VOICES = ("en-us", "en-gb", "en-us+f3")
MEETING_VOICES = ("en-us", "en-gb+f3")
#: Silence between two sentences of the reading, and between two turns of the meeting (s).
SENTENCE_PAUSE_SECONDS = 0.6
TURN_PAUSE_SECONDS = 2.6
#: Short clips batched together (those of bench/throughput.py).
CLIPS = 20
MEETING_TURNS = (
    "Good morning everyone. Shall we start with the numbers for March?",
    "Yes. Sales grew by twelve percent in the third quarter, mostly in the north.",
    "That is good news. Does it change the hiring plan for the autumn?",
    "It does. We can hire two more engineers, and one of them could start in May.",
    "Thanks. Then let us look at the budget for the new office.",
    "The budget is ready. I will send it to everyone after this meeting.",
    "Good. Is there anything else we should talk about today?",
    "No, that is all from me. Thank you, and have a good week.",
)


def silence(out: Path, seconds: float) -> None:
    """Write ``seconds`` of silence as a 16 kHz mono WAV."""
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(out), "trim", "0", str(seconds)],
        check=True,
    )


def laid_end_to_end(
    folder: Path, name: str, texts: list[str], voices: tuple[str, ...], pause: float
) -> dict[str, Any]:
    """Speak each text in the next voice, ``pause`` seconds apart, into one WAV; return it with
    its reference text and the second at which each text starts."""
    gap = folder / f"{name}-gap.wav"
    silence(gap, pause)
    parts: list[str] = []
    onsets: list[float] = []
    at = 0.0
    for n, text in enumerate(texts):
        part = folder / f"{name}-{n:03d}.wav"
        onsets.append(round(at, 3))
        at += speak(text, part, DEFAULT_RATE_WPM, voices[n % len(voices)]) + pause
        parts += [str(part), str(gap)]
    out = folder / f"{name}.wav"
    subprocess.run(["sox", *parts, str(out)], check=True, capture_output=True)
    for spoken in parts[::2]:
        Path(spoken).unlink()
    return {"path": str(out), "reference": " ".join(texts), "texts": texts, "onsets": onsets,
            "seconds": round(wav_seconds(out), 2)}  # fmt: skip


def reading(folder: Path) -> dict[str, Any]:
    """Return a reading of at least READING_MIN_SECONDS."""
    sentences = list(SENTENCES) + list(MORE_SENTENCES)
    while True:
        spoken = laid_end_to_end(folder, "reading", sentences, VOICES, SENTENCE_PAUSE_SECONDS)
        if spoken["seconds"] >= READING_MIN_SECONDS:
            return spoken
        sentences += sentences[: len(sentences) // 3]


def jfk() -> dict[str, Any]:
    """Return the real 11 s fixture and its reference."""
    references = json.loads((SPEECH / "references.json").read_text(encoding="utf-8"))
    text = references["jfk.flac"]["reference"]
    return {"path": str(SPEECH / "jfk.flac"), "reference": text, "texts": [text],
            "onsets": [0.3], "seconds": references["jfk.flac"]["duration_seconds"]}  # fmt: skip


def engine_args(word_timestamps: bool) -> dict[str, object]:
    """Return what the daemon's default settings ask of the engine, with or without words."""
    sent = {**Settings().whisper_input, "word_timestamps": word_timestamps}
    return transcribe_args(WhisperInput(**sent))


def transcribe(engine: WhisperEngine, path: str, word_timestamps: bool) -> tuple[float, Any]:
    """Return the engine's seconds and its transcript of ``path``."""
    args = engine_args(word_timestamps)
    started = time.perf_counter()
    result = engine.transcribe(BUNDLED_MODEL, Path(path), args, lambda: False)
    return time.perf_counter() - started, result


def onset_errors(cues: list[subrip.Cue], onsets: list[float]) -> list[float]:
    """Return, for each cue that opens a sentence (the one before it ends one), how far its
    start lies from the nearest true start of a sentence, in seconds."""
    errors = []
    for n, cue in enumerate(cues):
        if n == 0 or cues[n - 1].text.endswith((".", "?", "!")):
            errors.append(min(abs(cue.start - onset) for onset in onsets))
    return errors


def cue_figures(result: RemoteTranscript, clip: dict[str, Any]) -> dict[str, Any]:
    """Return the figures of the .srt the daemon writes for ``result``."""
    cues = subrip.parse(render_srt(result.get("segments") or []))
    seconds = [cue.end - cue.start for cue in cues]
    lines = [line for cue in cues for line in cue.lines]
    segments = [s["end"] - s["start"] for s in result.get("segments") or []]
    over = [c for c in cues if c.end - c.start > USUAL_LIMITS.max_seconds + 1e-9
            or len(c.lines) > USUAL_LIMITS.max_lines
            or any(len(line) > USUAL_LIMITS.max_line_chars for line in c.lines)]  # fmt: skip
    errors = onset_errors(cues, clip["onsets"])
    return {
        "cues": len(cues),
        "cue_seconds_max": round(max(seconds, default=0.0), 3),
        "cue_seconds_median": round(statistics.median(seconds), 3) if seconds else 0.0,
        "line_chars_max": max((len(line) for line in lines), default=0),
        "lines_max": max((len(cue.lines) for cue in cues), default=0),
        "cues_past_limits": len(over),
        "sentence_start_error_median": round(statistics.median(errors), 3) if errors else None,
        "sentence_start_error_max": round(max(errors), 3) if errors else None,
        "segments": len(segments),
        "segment_seconds_max": round(max(segments, default=0.0), 3),
        "segment_seconds_median": round(statistics.median(segments), 3) if segments else 0.0,
    }


def one_run(engine: WhisperEngine, clip: dict[str, Any], words: bool) -> dict[str, Any]:
    """Transcribe the clip once; return its seconds, WER, strategy and cue figures."""
    seconds, result = transcribe(engine, clip["path"], words)
    return {
        "word_timestamps": words,
        "seconds": round(seconds, 3),
        "wer": round(word_error_rate(clip["reference"], result["text"]), 4),
        "json_bytes": len(json.dumps(result)),
        "strategy": result.get("strategy"),
        **cue_figures(result, clip),
    }


def clips_run(engine: WhisperEngine, clips: list[dict[str, Any]], words: bool) -> dict[str, Any]:
    """Transcribe the short clips together, as the server batches them; return the seconds
    and the mean WER."""
    paths = [Path(clip["path"]) for clip in clips]
    for path in paths:
        engine.prefetch(path)
    started = time.perf_counter()
    results = engine.transcribe_many(BUNDLED_MODEL, paths, engine_args(words), lambda: False)
    seconds = time.perf_counter() - started
    wers = [
        word_error_rate(clip["sentence"], "" if isinstance(r, Exception) else r["text"])
        for clip, r in zip(clips, results, strict=True)
    ]
    return {"word_timestamps": words, "seconds": round(seconds, 3),
            "wer": round(statistics.mean(wers), 4)}  # fmt: skip


def spread(values: list[float]) -> dict[str, float]:
    """Return the median, the lowest and the highest."""
    return {"median": round(statistics.median(values), 4), "min": min(values),
            "max": max(values)}  # fmt: skip


def meeting_figures(engine: WhisperEngine, meeting: dict[str, Any]) -> dict[str, Any]:
    """Transcribe the meeting each way; return its paragraphs and the word gaps at the turn
    and sentence pauses."""
    figures: dict[str, Any] = {"turns": len(meeting["texts"])}
    for words in (False, True):
        _, result = transcribe(engine, meeting["path"], words)
        paragraphs = render_txt(result).strip().split("\n\n")
        figures["with_words" if words else "without_words"] = {"paragraphs": len(paragraphs)}
        if words:
            figures["with_words"] |= word_gaps(result)
    return figures


def word_gaps(result: RemoteTranscript) -> dict[str, Any]:
    """Return the silences the word timings show after each sentence end: the turn pauses
    (the longest, one per turn change) and the sentence pauses inside a turn."""
    timed = [w for s in result.get("segments") or [] for w in s.get("words") or []]
    gaps = [
        round(after["start"] - before["end"], 3)
        for before, after in itertools.pairwise(timed)
        if str(before["word"]).strip().endswith((".", "?", "!"))
    ]
    ordered = sorted(gaps, reverse=True)
    turn_changes = len(MEETING_TURNS) - 1
    return {"turn_gaps": sorted(ordered[:turn_changes]), "sentence_gaps": ordered[turn_changes:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="jfk.flac, one run each way")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs each way")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON report")
    args = parser.parse_args()
    repeat = 1 if args.small else args.repeat
    started = time.time()
    engine = WhisperEngine()
    with tempfile.TemporaryDirectory(prefix="dropscribe-bench-cues-") as tmp:
        clip = jfk() if args.small else reading(Path(tmp))
        print(f"reading: {clip['seconds']:.0f} s, {len(clip['texts'])} sentences", flush=True)
        for words in (False, True):
            transcribe(engine, clip["path"], words)  # warm-up: model, page cache
        runs = [one_run(engine, clip, words) for _ in range(repeat) for words in (False, True)]
        meeting, clips = None, []
        if not args.small:
            spoken = laid_end_to_end(Path(tmp), "meeting", list(MEETING_TURNS), MEETING_VOICES,
                                     TURN_PAUSE_SECONDS)  # fmt: skip
            meeting = meeting_figures(engine, spoken)
            short = make_speech(Path(tmp), CLIPS)
            clips_run(engine, short, False)  # warm-up
            clips = [clips_run(engine, short, w) for _ in range(repeat) for w in (False, True)]
    engine.close()
    report(args, started, clip, runs, meeting, clips)


def report(
    args: argparse.Namespace,
    started: float,
    clip: dict[str, Any],
    runs: list[dict[str, Any]],
    meeting: dict[str, Any] | None,
    clips: list[dict[str, Any]],
) -> None:
    """Print the runs and the medians, and write the JSON report."""
    keys = [
        "seconds", "wer", "json_bytes", "cues", "cue_seconds_max", "cue_seconds_median",
        "line_chars_max", "cues_past_limits", "sentence_start_error_median",
        "sentence_start_error_max", "segment_seconds_max", "segment_seconds_median",
    ]  # fmt: skip
    rows = [[r["word_timestamps"], *(r[k] for k in keys), r["strategy"]] for r in runs]
    print_table(["words", *keys, "strategy"], rows)
    summary = {}
    for words in (False, True):
        mine = [r for r in runs if r["word_timestamps"] is words]
        summary["with_words" if words else "without_words"] = {
            k: spread([r[k] for r in mine]) for k in keys if mine[0][k] is not None
        }
    seconds = {way: figures["seconds"]["median"] for way, figures in summary.items()}
    ratio = seconds["with_words"] / seconds["without_words"]
    print(f"\nseconds with words / without: {ratio:.3f}")
    if meeting is not None:
        print(f"meeting: {json.dumps(meeting)}")
    clip_summary = {
        way: {k: spread([r[k] for r in clips if r["word_timestamps"] is words])
              for k in ("seconds", "wer")}
        for way, words in (("without_words", False), ("with_words", True))
    } if clips else None  # fmt: skip
    if clip_summary is not None:
        print(f"{CLIPS} short clips batched together: {json.dumps(clip_summary)}")
    doc = {
        "benchmark": "cues",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_seconds": round(time.time() - started, 1),
        "machine": machine_info(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "git": git_commit(),
        "arguments": {"small": args.small, "repeat": args.repeat},
        "clip": {k: clip[k] for k in ("path", "seconds")} | {"sentences": len(clip["texts"])},
        "runs": runs,
        "summary": summary,
        "seconds_ratio_with_words": round(ratio, 4),
        "meeting": meeting,
        "clips": {"runs": clips, "summary": clip_summary},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"report: {args.results}")


if __name__ == "__main__":
    main()
