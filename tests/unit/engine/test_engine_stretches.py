"""Which stretches a transcript missed are decoded again, where they are cut, and how the new
segments are merged in: pure arithmetic on spans and segments."""

from __future__ import annotations

import numpy as np

from dropscribe.core.coverage import measure
from dropscribe.core.transcript import Segment
from dropscribe.engine.batching import Clip
from dropscribe.engine.strategies import Decoding, Strategy
from dropscribe.engine.stretches import cut, merged, missed_runs, neighbours, part

#: Four sentences of speech with short pauses, as the VAD finds them in jfk.flac said twice.
SPEECH = [(0.0, 4.75), (5.04, 10.9), (10.96, 15.66), (16.05, 21.87)]


def segment(start: float, end: float, text: str, logprob: float = -0.2) -> Segment:
    return {"id": 0, "start": start, "end": end, "text": text, "avg_logprob": logprob}


FIRST = segment(0.0, 8.0, " And so my fellow Americans ask not what your country can do")
SECOND = segment(8.0, 11.0, " ask what you can do for your country")
FOURTH = segment(19.0, 22.0, " ask what you can do for your country")


def decoding(*segments: Segment) -> Decoding:
    views = list(segments)
    return Decoding(Strategy.SEQUENTIAL, views, "en", measure(SPEECH, views))


def test_missed_runs_the_lost_sentences_of_a_decoding() -> None:
    assert missed_runs(decoding(FIRST, SECOND, FOURTH)) == [(11.4, 18.6)]


def test_missed_runs_slivers_are_not_decoded_again() -> None:
    # Credited for 1.5 s a word, a 3-word segment leaves 0.3 s of its span uncovered.
    short = segment(0.0, 4.75, " and so my")
    assert missed_runs(decoding(short, segment(5.04, 21.87, " word" * 20))) == []


def test_cut_stops_at_the_trusted_segments_around_the_run() -> None:
    around = neighbours(decoding(FIRST, SECOND, FOURTH), [(11.4, 18.6)])
    assert cut((11.4, 18.6), around, 22.0) == (11.0, 19.0)


def test_cut_pads_into_silence_up_to_the_pad() -> None:
    assert cut((30.0, 35.0), [(0.0, 20.0), (50.0, 60.0)], 60.0, pad=1.0) == (29.0, 36.0)


def test_cut_never_reaches_into_another_run() -> None:
    assert cut((30.0, 35.0), [(28.0, 29.5), (35.2, 40.0)], 60.0, pad=1.0) == (29.5, 35.2)


def test_cut_keeps_the_run_when_a_trusted_segment_overlaps_it() -> None:
    # A segment that claims 0-30 s but is credited only for its words leaves 12.4-30 missed.
    assert cut((12.4, 30.0), [(0.0, 30.0)], 40.0, pad=1.0) == (12.4, 31.0)


def test_cut_stays_inside_the_recording() -> None:
    assert cut((0.1, 4.0), [], 4.2, pad=1.0) == (0.0, 4.2)


def test_part_samples_and_speech_in_the_stretchs_own_time() -> None:
    clip = Clip(np.zeros(16000 * 22, dtype=np.float32), SPEECH)
    alone = part(clip, (11.0, 19.0))
    assert len(alone.samples) == 16000 * 8
    assert [(round(a, 2), round(b, 2)) for a, b in alone.speech] == [(0.0, 4.66), (5.05, 8.0)]


def test_merged_new_segments_put_in_time_order_renumbered() -> None:
    new = [segment(11.0, 16.0, " And so my fellow Americans ask not")]
    together = merged([FIRST, SECOND, FOURTH], SPEECH, (11.0, 19.0), new)
    assert [s["start"] for s in together] == [0.0, 8.0, 11.0, 19.0]
    assert [s["id"] for s in together] == [1, 2, 3, 4]


def test_merged_doubtful_old_segment_replaced_by_a_trusted_new_one() -> None:
    nonsense = segment(11.0, 19.0, " Yiden there is a soft wear", logprob=-1.2)
    new = [segment(11.0, 16.0, " And so my fellow Americans ask not")]
    together = merged([FIRST, SECOND, nonsense, FOURTH], SPEECH, (11.0, 19.0), new)
    assert [s["text"] for s in together].count(nonsense["text"]) == 0
    assert len(together) == 4


def test_merged_trusted_old_segments_are_kept() -> None:
    new = [segment(11.0, 16.0, " And so my fellow Americans ask not")]
    together = merged([FIRST, SECOND, FOURTH], SPEECH, (11.0, 19.0), new)
    assert {FIRST["text"], SECOND["text"], FOURTH["text"]} <= {s["text"] for s in together}


def test_merged_new_doubtful_words_where_there_were_none_are_put_in() -> None:
    new = [segment(11.0, 16.0, " and so my fellow", logprob=-1.2)]
    together = merged([FIRST, SECOND, FOURTH], SPEECH, (11.0, 19.0), new)
    assert " and so my fellow" in [s["text"] for s in together]


def test_merged_new_doubtful_words_do_not_replace_old_doubtful_ones() -> None:
    old = segment(11.0, 16.0, " Yiden there is a soft wear", logprob=-1.2)
    new = [segment(11.0, 16.0, " and so my fellow", logprob=-1.2)]
    together = merged([FIRST, SECOND, old, FOURTH], SPEECH, (11.0, 19.0), new)
    assert [s["text"] for s in together] == [s["text"] for s in (FIRST, SECOND, old, FOURTH)]
