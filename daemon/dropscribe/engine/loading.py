"""Loading a faster-whisper model onto this machine: where from, onto which device, and with
how many threads, so that the workers together never ask for more cores than there are."""

from __future__ import annotations

import os

import ctranslate2
from faster_whisper import WhisperModel

from dropscribe.engine.encoder import PieceEncodingModel
from dropscribe.engine.errors import EngineError
from dropscribe.engine.models import BUNDLED_MODEL, bundled_folder


def model_location(spec: str) -> str:
    """Given a model spec, return what WhisperModel loads: a folder path or a model name.

    Raise ModelError if the bundled model's files are not the pinned ones."""
    if spec == BUNDLED_MODEL:
        return str(bundled_folder())
    return spec


def device_settings() -> tuple[str, str]:
    """Return (device, compute type): float16 on a CUDA GPU when one is visible, else int8 CPU."""
    if ctranslate2.get_cuda_device_count() > 0:
        return "cuda", "float16"
    return "cpu", "int8"


def machine_cores() -> int:
    """Return the CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def engine_threads(workers: int, cores: int) -> int:
    """Return CTranslate2 threads per worker so that workers x threads never exceeds cores."""
    return max(1, cores // max(1, workers))


def load_model(spec: str, workers: int) -> WhisperModel:
    """Given a model spec and how many jobs may run on it at once, return the model loaded on
    the best device (a named model not yet in the Hugging Face cache is fetched into it).

    Raise EngineError if it cannot be loaded.
    """
    device, compute_type = device_settings()
    threads = engine_threads(workers, machine_cores())
    try:
        return PieceEncodingModel(
            model_location(spec),
            device=device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=workers,
        )
    except Exception as exc:  # hub, disk and CTranslate2 errors all mean "cannot load"
        raise EngineError(f"could not load model {spec!r}: {exc}") from exc
