"""Probing and bounded decoding: hostile headers are refused, and decoding never holds much
more than the decoded samples themselves."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio

from dropscribe.engine.audio import (
    AudioFacts,
    AudioProblem,
    DecodeStopped,
    SampleBuffer,
    TooLong,
    counted_planes,
    decode_bounded,
    decode_within,
    probe,
    refusal,
    spoken_duration,
)
from support.bombs import one_hertz_bomb, silent_wav

RATE = 16000


def never() -> bool:
    return False


def test_probe_one_hertz_bomb_reports_its_claim(tmp_path: Path) -> None:
    bomb = one_hertz_bomb(tmp_path / "bomb.wav")
    assert bomb.stat().st_size == 10_044
    assert probe(bomb) == AudioFacts(sample_rate=1, duration_seconds=10_000.0)


def test_decode_bounded_one_hertz_bomb_is_refused_for_its_rate(tmp_path: Path) -> None:
    bomb = one_hertz_bomb(tmp_path / "bomb.wav")
    with pytest.raises(AudioProblem, match="sample rate of 1 Hz is too low"):
        decode_bounded(bomb, RATE, 24 * 3600, never)


def test_decode_bounded_longer_than_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "long.wav", 8000, 8000 * 90)
    with pytest.raises(AudioProblem, match=r"1 min 30 s long; this server accepts at most 1 min"):
        decode_bounded(audio, RATE, 60, never)


def test_decode_within_header_that_understates_is_cut_at_the_limit(tmp_path: Path) -> None:
    # The header claims 10 s; the running count refuses the file once it passes 30 s.
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000 * 60)
    with pytest.raises(AudioProblem, match="long; this server accepts at most 30 s"):
        decode_within(audio, RATE, 30, 10.0, never)


def test_decode_bounded_not_audio_raises_audio_problem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    with pytest.raises(AudioProblem, match="could not be decoded as audio"):
        decode_bounded(junk, RATE, 60, never)


def test_decode_bounded_stop_request_raises_decode_stopped(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000 * 10)
    with pytest.raises(DecodeStopped):
        decode_bounded(audio, RATE, 60, lambda: True)


def test_decode_bounded_matches_faster_whisper_decoder(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000 * 3)
    ours = decode_bounded(audio, RATE, 60, never)
    theirs = decode_audio(str(audio), sampling_rate=RATE)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-3


def test_decode_bounded_peak_memory_stays_near_the_samples_size(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "ten_minutes.wav", 8000, 8000 * 600)
    tracemalloc.start()
    try:
        samples = decode_bounded(audio, RATE, 3600, never)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples.nbytes == 600 * RATE * 4
    # One buffer (plus one second of headroom) and a frame at a time, never a second copy.
    assert peak < samples.nbytes * 1.1


def test_sample_buffer_refuses_chunk_past_limit() -> None:
    buffer = SampleBuffer(capacity=4, limit=10)
    assert buffer.append(np.ones(6, np.float32))
    assert buffer.append(np.ones(4, np.float32))
    assert not buffer.append(np.ones(1, np.float32))
    assert buffer.size == 11


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (AudioFacts(7999, 10.0), "sample rate of 7999 Hz"),
        (AudioFacts(8000, 10_000.0), "the audio is 2 h 46 min long"),
        (AudioFacts(48000, None), None),
        (AudioFacts(48000, 3600.0), None),
    ],
)
def test_refusal_rate_and_duration_limits(facts: AudioFacts, expected: str | None) -> None:
    problem = refusal(facts, 3600.0)
    assert problem == expected if expected is None else expected in (problem or "")


def test_spoken_duration_hours_minutes_seconds() -> None:
    assert [spoken_duration(s) for s in (10_000, 725, 40)] == ["2 h 46 min", "12 min 5 s", "40 s"]


def test_decode_bounded_truncated_wav_header_message_hides_the_server_path(
    tmp_path: Path,
) -> None:
    whole = silent_wav(tmp_path / "whole.wav", RATE, RATE)
    truncated = tmp_path / "uploads" / "0123abcd.wav"
    truncated.parent.mkdir()
    truncated.write_bytes(whole.read_bytes()[:30])  # cut inside the 44-byte header
    with pytest.raises(AudioProblem) as caught:
        decode_bounded(truncated, RATE, 60, never)
    message = str(caught.value)
    assert "could not be decoded as audio" in message
    assert str(tmp_path) not in message and "0123abcd" not in message


def test_counted_planes_hold_one_frame_at_a_time(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "ten_minutes.wav", 8000, 8000 * 600)
    tracemalloc.start()
    try:
        total = sum(frame.shape[1] for frame in counted_planes(audio, RATE, 3600, never, "mono"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 600 * RATE
    # 38 MB of samples went through; never more than a few frames' worth at once.
    assert peak < 2_000_000


def test_counted_planes_header_that_understates_refused_at_the_limit(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000 * 60)
    seen = 0
    with pytest.raises(TooLong, match="long; this server accepts at most 30 s"):
        for frame in counted_planes(audio, RATE, 30, never, "mono"):
            seen += frame.shape[1]
    assert seen <= 30 * RATE


def test_counted_planes_stop_request_asked_between_frames(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000 * 60)
    frames = 0

    def after_three() -> bool:
        return frames >= 3

    with pytest.raises(DecodeStopped):
        for _ in counted_planes(audio, RATE, 3600, after_three, "mono"):
            frames += 1
    assert frames == 3


def test_counted_planes_stereo_one_row_per_channel(tmp_path: Path) -> None:
    audio = silent_wav(tmp_path / "a.wav", 8000, 8000)
    shapes = {frame.shape[0] for frame in counted_planes(audio, RATE, 60, never, "stereo")}
    assert shapes == {2}
