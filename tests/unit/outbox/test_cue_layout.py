"""Subtitle cues people can read: every limit of a cue, where cues are cut, and their order."""

from __future__ import annotations

import itertools

from dropscribe.core.transcript import RemoteSegment, RemoteWord
from dropscribe.outbox.cue_layout import SHORTEST_CUE_MS, CueLimits, layout
from dropscribe.outbox.srt import render_srt
from dropscribe.outbox.vtt import render_vtt
from support import subrip, webvtt

LIMITS = CueLimits()

#: About 40 s of read speech: sentences of every length, commas, a question.
READING = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can "
    "do for your country. The quick brown fox jumps over the lazy dog while the farmer watches "
    "from the porch. Please remember to send the quarterly report to the finance team before "
    "Friday afternoon. Yes. A gentle rain fell on the city all night, and by morning the "
    "streets were clean and quiet. Did the meeting move to the large conference room on the "
    "third floor of the building? She opened the old wooden box and found a stack of letters "
    "tied with a faded blue ribbon."
)


def spoken(text: str, start: float = 0.0, pause_after: float = 0.0) -> list[RemoteWord]:
    """Return the words of ``text`` with times as a reader says them: 60 ms a character, 50 ms
    between words, ``pause_after`` more after a sentence."""
    words: list[RemoteWord] = []
    at = start
    for word in text.split():
        length = 0.06 * len(word)
        words.append({"start": round(at, 3), "end": round(at + length, 3), "word": f" {word}"})
        at += length + 0.05 + (pause_after if word.endswith((".", "?")) else 0.0)
    return words


def with_words(text: str, start: float = 0.0, pause_after: float = 0.4) -> RemoteSegment:
    words = spoken(text, start, pause_after)
    return {"start": start, "end": words[-1]["end"], "text": f" {text}", "words": words}


def batched(text: str, start: float = 0.0, seconds: float = 30.0) -> RemoteSegment:
    """Return a segment as the batched engine gives it: one per chunk, no word timings."""
    return {"start": start, "end": start + seconds, "text": f" {text}"}


def srt_cues(segments: list[RemoteSegment], limits: CueLimits = LIMITS) -> list[subrip.Cue]:
    return subrip.parse(render_srt(segments, limits))


def vtt_cues(segments: list[RemoteSegment], limits: CueLimits = LIMITS) -> list[webvtt.Cue]:
    return webvtt.parse(render_vtt(segments, limits))


def assert_within(cues: list[subrip.Cue], limits: CueLimits = LIMITS) -> None:
    for cue in cues:
        assert round(cue.end - cue.start, 3) <= limits.max_seconds, cue
        assert 1 <= len(cue.lines) <= limits.max_lines, cue
        assert all(len(line) <= limits.max_line_chars for line in cue.lines), cue


def words_of(cues: list[subrip.Cue] | list[webvtt.Cue]) -> list[str]:
    return " ".join(cue.text for cue in cues).split()


# --- the limits ---------------------------------------------------------------------------


def test_layout_batched_segment_without_words_cues_within_every_limit() -> None:
    cues = srt_cues([batched(READING, seconds=40.0)])
    assert len(cues) > 5
    assert_within(cues)


def test_layout_segment_with_words_cues_within_every_limit() -> None:
    cues = srt_cues([with_words(READING)])
    assert len(cues) > 5
    assert_within(cues)


def test_layout_vtt_cues_within_the_time_and_line_limits() -> None:
    cues = vtt_cues([with_words(READING)])
    assert all(round(cue.end - cue.start, 3) <= 7.0 for cue in cues)
    assert all(len(line) <= 42 for cue in cues for line in cue.text.split("\n"))
    assert all(len(cue.text.split("\n")) <= 2 for cue in cues)


def test_layout_slow_speech_cut_by_time_not_only_by_text() -> None:
    # 60 words over 60 s: the text of two lines would last far longer than 7 s.
    words: list[RemoteWord] = [
        {"start": n * 1.0, "end": n * 1.0 + 0.5, "word": f" w{n}"} for n in range(60)
    ]
    segment: RemoteSegment = {"start": 0.0, "end": 59.5, "text": "x", "words": words}
    cues = srt_cues([segment])
    assert_within(cues)
    assert max(cue.end - cue.start for cue in cues) > 5.0  # cut by time, yet cues stay full


def test_layout_sparse_text_without_words_held_no_longer_than_the_limit() -> None:
    # Two words over 30 s: each word's estimated share is longer than a cue may last.
    cues = srt_cues([batched("Thank you.", seconds=30.0)])
    assert [cue.text for cue in cues] == ["Thank", "you."]
    assert_within(cues)


def test_layout_configured_limits_honoured() -> None:
    limits = CueLimits(max_seconds=3.0, max_line_chars=30, max_lines=1)
    cues = srt_cues([with_words(READING)], limits)
    assert_within(cues, limits)
    assert words_of(cues) == READING.split()


def test_layout_srt_speaker_label_counts_against_the_first_line() -> None:
    segment: RemoteSegment = {**with_words(READING), "speaker": "Speaker 12"}
    cues = srt_cues([segment])
    assert all(cue.lines[0].startswith("[Speaker 12] ") for cue in cues)
    assert_within(cues)


def test_layout_very_long_segment_within_the_limits_every_word_kept() -> None:
    # An hour of text in one segment, as a service that never cuts could send it.
    text = " ".join(itertools.repeat(READING, 120))
    cues = srt_cues([batched(text, seconds=3600.0)])
    assert_within(cues)
    assert words_of(cues) == text.split()
    assert cues[-1].end == 3600.0


# --- where cues are cut ---------------------------------------------------------------------


def test_layout_two_sentences_too_long_together_cut_at_the_sentence_end() -> None:
    first = "The museum will stay open late on Thursdays."
    second = "The new exhibit about rivers opens in the summer, for everyone."
    cues = srt_cues([with_words(f"{first} {second}", pause_after=0.0)])
    assert [cue.text for cue in cues] == [first, second]


def test_layout_new_sentence_starts_a_cue_rather_than_trailing_one() -> None:
    # "... porch. Please" would fill the cue better; the next sentence starts its own.
    cues = srt_cues([batched(READING, seconds=40.0)])
    for cue in cues:
        inside = cue.text.split()[:-1]
        ends = [n for n, word in enumerate(inside) if word.endswith((".", "?"))]
        assert not ends or cue.text.endswith((".", "?")), cue


def test_layout_long_sentence_cut_at_its_comma() -> None:
    text = (
        "When the storm had passed and the roads were open again at last, "
        "the farmers drove their cattle back to the high pastures"
    )
    cues = srt_cues([with_words(text)])
    assert [cue.text for cue in cues] == [
        "When the storm had passed and the roads were open again at last,",
        "the farmers drove their cattle back to the high pastures",
    ]


def test_layout_without_punctuation_cut_at_the_pause() -> None:
    # Too long for one cue; an even cut would fall after "numbers again and".
    first = "so we looked at the numbers again"
    second = "and the answer was still the same as it was the week before"
    words = [*spoken(first), *spoken(second, start=3.5)]  # a 1.3 s pause between them
    segment: RemoteSegment = {"start": 0.0, "end": words[-1]["end"], "text": "x", "words": words}
    assert [cue.text for cue in srt_cues([segment])] == [first, second]


def test_layout_lines_broken_at_the_comma_rather_than_evenly() -> None:
    cues = srt_cues([batched("When it rained, the farmers drove their cattle home early", 0, 4)])
    assert [cue.lines for cue in cues] == [
        ("When it rained,", "the farmers drove their cattle home early")
    ]


def test_layout_lines_balanced_without_punctuation() -> None:
    cues = srt_cues([batched("the farmers drove their cattle back home early today", 0, 4)])
    assert [cue.lines for cue in cues] == [
        ("the farmers drove their", "cattle back home early today")
    ]


def test_layout_never_cuts_inside_a_word() -> None:
    for segment in (batched(READING, seconds=40.0), with_words(READING)):
        assert words_of(srt_cues([segment])) == READING.split()
        assert words_of(vtt_cues([segment])) == READING.split()


def test_layout_word_pieces_without_a_space_stay_one_word() -> None:
    words: list[RemoteWord] = [
        {"start": 0.0, "end": 0.3, "word": " I"},
        {"start": 0.3, "end": 0.6, "word": " don"},
        {"start": 0.6, "end": 0.9, "word": "'t"},
        {"start": 0.9, "end": 1.0, "word": " know"},
        {"start": 1.0, "end": 1.1, "word": "."},
    ]
    segment: RemoteSegment = {"start": 0.0, "end": 1.1, "text": "x", "words": words}
    limits = CueLimits(max_seconds=1.0, max_line_chars=10, max_lines=1)
    assert [cue.text for cue in srt_cues([segment], limits)] == ["I don't", "know."]


def test_layout_punctuation_sent_as_a_word_stays_with_the_word_before() -> None:
    words: list[RemoteWord] = [
        {"start": 0.0, "end": 6.5, "word": " Yes"},
        {"start": 6.5, "end": 7.0, "word": ","},
        {"start": 7.0, "end": 7.5, "word": " -"},
        {"start": 7.5, "end": 8.0, "word": " sir"},
    ]
    segment: RemoteSegment = {"start": 0.0, "end": 8.0, "text": "x", "words": words}
    assert [cue.text for cue in srt_cues([segment])] == ["Yes, -", "sir"]


def test_layout_word_longer_than_a_line_stays_whole_in_a_cue_of_its_own() -> None:
    url = "https://example.org/a/very/long/path/that/nobody/can/say/in/one/line"
    cues = srt_cues([batched(f"Go to {url} and read it.", seconds=10.0)])
    assert [cue.text for cue in cues] == ["Go to", url, "and read it."]


def test_layout_word_spoken_longer_than_the_limit_stays_whole() -> None:
    words: list[RemoteWord] = [
        {"start": 0.0, "end": 9.0, "word": " Sooooo"},
        {"start": 9.0, "end": 9.5, "word": " good."},
    ]
    segment: RemoteSegment = {"start": 0.0, "end": 9.5, "text": "x", "words": words}
    assert [cue.text for cue in srt_cues([segment])] == ["Sooooo", "good."]


def test_layout_text_without_spaces_cut_between_wide_characters() -> None:
    text = "今日はとても良い天気ですね。" * 12
    cues = srt_cues([batched(text, seconds=30.0)])
    assert_within(cues)
    assert "".join(cue.text.replace(" ", "") for cue in cues) == text


# --- times ----------------------------------------------------------------------------------


def test_layout_with_words_cues_span_their_own_words() -> None:
    segment = with_words(READING, start=100.0)
    cues = srt_cues([segment])
    starts = {round(word["start"], 3) for word in segment["words"]}
    ends = {round(word["end"], 3) for word in segment["words"]}
    assert all(cue.start in starts for cue in cues)
    assert all(cue.end in ends for cue in cues[:-1])


def test_layout_without_words_time_shared_by_characters() -> None:
    first = "The museum will stay open late on Thursdays."
    second = "The new exhibit about rivers opens in the summer, for everyone."
    cues = srt_cues([batched(f"{first} {second}", start=10.0, seconds=7.0)])
    # The first sentence holds 44 of the 108 characters (a space counts with the word after it).
    share = len(first) / (len(first) + 1 + len(second))
    assert cues[0].start == 10.0
    assert abs(cues[1].start - (10.0 + 7.0 * share)) < 0.002
    assert cues[-1].end == 17.0


def test_layout_word_without_times_falls_back_to_the_estimate() -> None:
    words: list[RemoteWord] = [{"word": " Hello"}, {"word": " there."}]
    segment: RemoteSegment = {"start": 1.0, "end": 2.0, "text": " Hello there.", "words": words}
    cues = srt_cues([segment])
    assert [(cue.start, cue.end, cue.text) for cue in cues] == [(1.0, 2.0, "Hello there.")]


def test_layout_cues_in_time_order_and_not_overlapping() -> None:
    # Two parties of a call talking at once, segments interleaved by time as channels give.
    agent = with_words("Thank you for calling, how can I help you today with your order?")
    caller = with_words("Hi, yes, I ordered a blue lamp and it never came.", start=1.0)
    late = with_words("I see.", start=1.0)
    segments: list[RemoteSegment] = [
        {**agent, "speaker": "Agent"},
        {**caller, "speaker": "Caller"},
        late,
    ]
    spans = [[(c.start, c.end) for c in srt_cues(segments)]]
    spans.append([(c.start, c.end) for c in vtt_cues(segments)])
    for laid in spans:
        for before, after in itertools.pairwise(laid):
            assert before[0] < before[1] <= after[0]
    spoken_words = " ".join(str(s["text"]) for s in segments).split()
    assert sorted(words_of(vtt_cues(segments))) == sorted(spoken_words)


def test_layout_short_cue_held_where_there_is_room_never_into_the_next() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 0.2, "text": "Yes."},
        {"start": 0.5, "end": 1.0, "text": "No."},
        {"start": 5.0, "end": 5.1, "text": "Maybe."},
    ]
    cues = layout(segments, LIMITS)
    assert [(cue.start, cue.end) for cue in cues] == [
        (0, 500),
        (500, 500 + SHORTEST_CUE_MS),
        (5000, 5000 + SHORTEST_CUE_MS),
    ]


# --- speakers and empty text -----------------------------------------------------------------


def test_layout_labelled_long_segment_each_cue_keeps_its_speaker() -> None:
    segment: RemoteSegment = {**batched(READING), "speaker": "Agent"}
    vtt = vtt_cues([segment])
    assert len(vtt) > 1
    assert {cue.voice for cue in vtt} == {"Agent"}
    assert all(cue.lines[0].startswith("[Agent] ") for cue in srt_cues([segment]))


def test_layout_empty_or_blank_text_gives_no_cue() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 30.0, "text": "  \n "},
        {"start": 30.0, "end": 31.0, "text": " ", "words": [{"start": 30, "end": 31, "word": " "}]},
        {"start": 31.0, "end": 32.0},
    ]
    assert layout(segments, LIMITS) == []
    assert render_srt(segments) == ""
    assert render_vtt(segments) == "WEBVTT\n"


def test_layout_segment_without_times_gives_no_cue() -> None:
    assert layout([{"text": "Hello there."}], LIMITS) == []
