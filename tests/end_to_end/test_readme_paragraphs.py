"""The README says how many paragraphs the .txt of a meeting gets, with and without word
timings: a meeting of eight espeak-ng turns, two voices taking turns 2.6 s apart, is made
here, transcribed with ``dropscribe transcribe`` each way, and its paragraphs counted."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio

from support.daemon import DROPSCRIBE
from support.dialogue import SAMPLING_RATE, write_wav

README = Path(__file__).resolve().parents[2] / "README.md"
#: The pause between two turns, in seconds: over the 2 s that starts a paragraph.
TURN_PAUSE_SECONDS = 2.6
VOICES = ("en-us", "en-us+f3")
TURNS = (
    "Good morning everyone, let us start with the budget review for this quarter.",
    "Thanks. The numbers look fine, but travel costs went up by ten percent.",
    "Why did travel go up so much compared to last year?",
    "We had three extra customer visits in March and April.",
    "Right. Can we move the next visits to video calls instead?",
    "Some of them, yes. The big customers still want to meet in person.",
    "Fine. Then let us plan for that in the next budget.",
    "Agreed. I will send the updated plan by Friday.",
)
#: Loading tiny.en and decoding the 49 s meeting on 2 busy cores.
TRANSCRIBE_TIMEOUT = 180.0
STATED = re.compile(
    r"a meeting of (\d+) espeak-ng turns ([\d.]+) s apart: (\d+) paragraphs with word "
    r"timings, (\d+) without"
)


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("meeting")
    pause = np.zeros(int(TURN_PAUSE_SECONDS * SAMPLING_RATE), dtype=np.float32)
    pieces = []
    for n, text in enumerate(TURNS):
        spoken = folder / f"turn{n}.wav"
        subprocess.run(["espeak-ng", "-v", VOICES[n % 2], "-w", str(spoken), text], check=True)
        pieces += [decode_audio(str(spoken), SAMPLING_RATE), pause]
    return write_wav(folder / "meeting.wav", np.concatenate(pieces[:-1]))


def paragraphs(meeting: Path, config: Path | None) -> int:
    """Return the paragraphs of the meeting's .txt, not counting an incomplete-transcript note."""
    options = ["-c", str(config)] if config is not None else []
    done = subprocess.run(
        [str(DROPSCRIBE), "transcribe", *options, "--format", "txt", str(meeting)],
        capture_output=True,
        text=True,
        timeout=TRANSCRIBE_TIMEOUT,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    found = done.stdout.strip().split("\n\n")
    return len([p for p in found if not p.startswith("[dropscribe:")])


@pytest.mark.slow
def test_readme_meeting_paragraphs_are_what_the_txt_gets(meeting: Path, tmp_path: Path) -> None:
    stated = STATED.search(" ".join(README.read_text(encoding="utf-8").split()))
    assert stated is not None, "the README no longer states the meeting's paragraphs"
    turns, pause, with_words, without_words = stated.groups()
    assert (int(turns), float(pause)) == (len(TURNS), TURN_PAUSE_SECONDS)
    words = tmp_path / "words.yaml"
    words.write_text("whisper: {word_timestamps: true}\n", encoding="utf-8")

    assert paragraphs(meeting, words) == int(with_words)
    assert paragraphs(meeting, None) == int(without_words)
