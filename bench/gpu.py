"""GPU real-time factor: the embedded engine's strategies on a CUDA machine.

For the bundled tiny.en and, where it is already in the Hugging Face cache, a larger model
(``--large``, default large-v3-turbo; nothing is downloaded), each of the speech fixtures and
a long recording made of them end to end is transcribed:

- plain: ``WhisperModel.transcribe`` (sequential, float16), what a plain script does;
- batched: the engine's strategy (``WhisperEngine.transcribe``: VAD windows through the
  batched pipeline, 16 windows a batch on CUDA, float16);
- many: the engine's cross-job batching (``transcribe_many``) over all the fixtures at once.

Real-time factor = processing seconds / audio seconds (lower is faster); median and spread of
``--repeat`` interleaved runs (default 3), after one warm-up run of each. Writes gpu.json into
``--results-dir`` (default bench/results). On a machine without CUDA it says so and exits 0.

``--small`` is a smoke run: jfk.flac and the bundled model alone, one run of each strategy and
no warm-up;
without CUDA it runs on the CPU (the report's ``cuda`` says which), so the script can be
checked anywhere, but its figures are then no GPU figures.

Usage: .venv/bin/python bench/gpu.py [--repeat N] [--large NAME] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, Target, add_results_option, print_table, write_report

SPEECH = ROOT.parent / "shared" / "fixtures" / "speech"
FIXTURES = ("jfk.flac", "OSR_us_000_0034_8k.wav", "multilingual.mp3", "stereo_diarization.wav")
#: The smoke run's only recording (--small).
SMALL_FIXTURE = "jfk.flac"

#: Decoding parameters: the daemon's defaults.
ARGS: dict[str, Any] = {"language": "en", "beam_size": 5, "temperature": (0.0, 0.2, 0.4, 0.6)}


def never() -> bool:
    """Never stop early."""
    return False


def long_recording(folder: Path) -> Path:
    """Write the fixtures end to end, four times over (about eight minutes), as one WAV."""
    import wave

    import numpy as np
    from faster_whisper import decode_audio

    pieces = [decode_audio(str(SPEECH / name)) for name in FIXTURES] * 4
    out = folder / "long.wav"
    samples = (np.concatenate(pieces) * 32767).astype("<i2")
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(samples.tobytes())
    return out


def timed(run: Callable[[], object]) -> float:
    """Return the seconds one call takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(spec: str, files: list[Path], repeat: int, warm_up: bool) -> dict[str, Any]:
    """Return the real-time factors of plain, batched and many for one model spec, after one
    warm-up run of each with ``warm_up``."""
    from faster_whisper import decode_audio

    from dropscribe.engine.loading import device_settings, model_location
    from dropscribe.engine.whisper import WhisperEngine

    engine = WhisperEngine()
    model = engine.model(spec)
    audio_seconds = sum(len(decode_audio(str(f))) / 16000 for f in files)

    def plain() -> None:
        for f in files:
            segments, _ = model.transcribe(str(f), **ARGS)
            list(segments)

    def batched() -> None:
        for f in files:
            engine.transcribe(spec, f, ARGS, never)

    def many() -> None:
        engine.transcribe_many(spec, files, ARGS, never)

    sides = {"plain": plain, "batched": batched, "many": many}
    for run in sides.values() if warm_up else ():
        run()  # warm-up: CUDA kernels, caches
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, run in sides.items():
            seconds[name].append(timed(run))
    rtf = {
        name: {
            "median": round(statistics.median(s) / audio_seconds, 5),
            "min": round(min(s) / audio_seconds, 5),
            "max": round(max(s) / audio_seconds, 5),
        }
        for name, s in seconds.items()
    }
    return {
        "model": spec,
        "location": model_location(spec),
        "device": device_settings(),
        "audio_seconds": round(audio_seconds, 1),
        "seconds": seconds,
        "real_time_factor": rtf,
    }


def main() -> None:
    """Measure on CUDA, print the table, write gpu.json."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=3)
    cli.add_argument("--large", default="large-v3-turbo", help="a larger model, if cached")
    cli.add_argument(
        "--small",
        action="store_true",
        help="jfk.flac, bundled model, 1 run; on the CPU without CUDA (a smoke run)",
    )
    add_results_option(cli)
    args = cli.parse_args()
    from dropscribe.engine.loading import device_settings
    from dropscribe.engine.models import info

    cuda = device_settings()[0] == "cuda"
    if not cuda:
        if not args.small:
            print("no CUDA device visible: nothing measured")
            return
        print("no CUDA device visible: the smoke run measures on the CPU")
    started = time.time()
    repeat = 1 if args.small else args.repeat
    large = not args.small and info(args.large).offline
    specs = ["bundled"] + ([args.large] if large else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.small:
            files = [SPEECH / SMALL_FIXTURE]
        else:
            files = [SPEECH / name for name in FIXTURES] + [long_recording(Path(tmp))]
        for spec in specs:
            results.append(measure(spec, files, repeat, warm_up=not args.small))
    rows = [
        [r["model"], name, f"{v['median']:.4f} ({v['min']:.4f}-{v['max']:.4f})"]
        for r in results
        for name, v in r["real_time_factor"].items()
    ]
    print_table(["model", "strategy", "real-time factor, median (min-max)"], rows)
    targets = [
        Target(
            f"{r['model']}: batched / plain real-time factor",
            r["real_time_factor"]["batched"]["median"] / r["real_time_factor"]["plain"]["median"],
            1.0,
            "x",
        )
        for r in results
    ]
    data = {"cuda": cuda, "models": results}
    arguments = {**vars(args), "repeat": repeat}
    write_report("gpu", started, arguments, data, targets, args.results_dir)


if __name__ == "__main__":
    main()
