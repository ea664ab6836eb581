"""The .txt's paragraphs follow the turns: a change of speaker, a pause between segments or
between the words of one segment."""

from __future__ import annotations

from dropscribe.core.transcript import RemoteSegment, RemoteWord
from dropscribe.outbox.txt import PARAGRAPH_PAUSE_SECONDS, render_txt

TURNS = [
    "Good morning everyone, shall we start?",
    "Yes, the numbers for March are in.",
    "Sales grew by twelve percent.",
    "That is good news for the hiring plan.",
]


def turn_words(turns: list[str], pause: float) -> list[RemoteWord]:
    """Return the words of ``turns`` said one after another, ``pause`` seconds between turns
    and 0.1 s between words."""
    words: list[RemoteWord] = []
    at = 0.0
    for turn in turns:
        for word in turn.split():
            words.append({"start": at, "end": at + 0.3, "word": f" {word}"})
            at += 0.4
        at += pause
    return words


def one_segment(words: list[RemoteWord]) -> RemoteSegment:
    # One batched segment holding every turn, as the engine gives a 30 s chunk.
    text = "".join(str(word["word"]) for word in words)
    return {"start": 0.0, "end": float(words[-1]["end"]), "text": text, "words": words}


def test_render_txt_turn_pauses_inside_one_segment_start_paragraphs() -> None:
    # The meeting of issue 29: every turn 2.6 s apart, all in one batched segment.
    text = render_txt({"segments": [one_segment(turn_words(TURNS, 2.6))]})
    assert text == "\n\n".join(TURNS) + "\n"


def test_render_txt_word_pause_just_under_the_threshold_same_paragraph() -> None:
    pause = PARAGRAPH_PAUSE_SECONDS - 0.1 - 0.05  # 0.1 s between words is added to it
    text = render_txt({"segments": [one_segment(turn_words(TURNS, pause))]})
    assert text == " ".join(TURNS) + "\n"


def test_render_txt_segment_without_words_one_paragraph() -> None:
    segment = one_segment(turn_words(TURNS, 2.6))
    del segment["words"]
    assert render_txt({"segments": [segment]}) == " ".join(TURNS) + "\n"


def test_render_txt_pause_between_segments_starts_a_paragraph() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 2.0, "text": " One."},
        {"start": 4.5, "end": 5.0, "text": " Two."},
    ]
    assert render_txt({"segments": segments}) == "One.\n\nTwo.\n"


def test_render_txt_same_speaker_after_a_pause_new_paragraph_named_again() -> None:
    words = turn_words(TURNS[:2], 3.0)
    segment: RemoteSegment = {**one_segment(words), "speaker": "Speaker 1"}
    assert render_txt({"segments": [segment]}) == (
        f"Speaker 1: {TURNS[0]}\n\nSpeaker 1: {TURNS[1]}\n"
    )


def test_render_txt_change_of_speaker_without_a_pause_new_paragraph() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 1.0, "text": " Hello.", "speaker": "Agent"},
        {"start": 1.0, "end": 2.0, "text": " Hi.", "speaker": "Caller"},
    ]
    assert render_txt({"segments": segments}) == "Agent: Hello.\n\nCaller: Hi.\n"


def test_render_txt_line_per_segment_ignores_the_word_pauses() -> None:
    segment = one_segment(turn_words(TURNS, 2.6))
    assert render_txt({"segments": [segment]}, line_per_segment=True) == " ".join(TURNS) + "\n"
