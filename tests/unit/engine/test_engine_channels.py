"""Whether a stereo recording's two channels carry different audio, judged from running sums
as it is decoded: the same correlation numpy computes over whole channels."""

from __future__ import annotations

import numpy as np
import pytest

from dropscribe.engine.channels import Likeness, same_audio


def fed(left: np.ndarray, right: np.ndarray, chunk: int = 999) -> Likeness:
    likeness = Likeness()
    for i in range(0, len(left), chunk):
        likeness.add(left[i : i + chunk], right[i : i + chunk])
    return likeness


@pytest.mark.parametrize("mix", [0.0, 0.3, 0.9, 1.0])
def test_likeness_correlation_fed_in_frames_is_numpys_over_whole_channels(mix: float) -> None:
    rng = np.random.default_rng(3)
    left = rng.normal(0, 0.1, 50_000).astype(np.float32)
    right = (mix * left + (1 - mix) * rng.normal(0, 0.1, 50_000)).astype(np.float32)
    expected = np.corrcoef(left, right)[0, 1]
    assert fed(left, right).correlation() == pytest.approx(expected, abs=1e-6)


def test_same_audio_mono_saved_twice_is_the_same() -> None:
    left = np.random.default_rng(4).normal(0, 0.1, 20_000).astype(np.float32)
    assert same_audio(fed(left, left + np.float32(1e-4) * left))


def test_same_audio_two_parties_differ() -> None:
    rng = np.random.default_rng(5)
    left, right = (rng.normal(0, 0.1, 20_000).astype(np.float32) for _ in range(2))
    assert not same_audio(fed(left, right))


def test_same_audio_both_silent_is_the_same_one_silent_is_not() -> None:
    silence = np.zeros(20_000, np.float32)
    voice = np.random.default_rng(6).normal(0, 0.1, 20_000).astype(np.float32)
    assert same_audio(fed(silence, silence))
    assert not same_audio(fed(voice, silence))
