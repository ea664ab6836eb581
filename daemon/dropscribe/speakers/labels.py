"""Who said what, as pure functions over a Whisper-shaped result.

A diarizer says who speaks when (:class:`Turn`); :func:`labelled` puts a ``speaker`` on every
segment by time overlap, and a segment whose words belong to more than one speaker is split
at the word where the speaker changes. Segments without word timings are labelled whole, by
the speaker who overlaps them most. A recording transcribed per channel needs no turns: its
segments already say their ``channel`` (:func:`by_channel`), and they are cut where the other
party speaks inside them, so that the turns follow each other in time (:func:`interleaved`).
Speaking time counts each second of speech once (:func:`speaking_times`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from dropscribe.core.transcript import RemoteSegment, RemoteWord, Segment, SpeakingTime
from dropscribe.core.transcript_fields import remote_segment

#: How a speaker is named when the configuration gives no name: "Speaker 1", "Channel 2".
SPEAKER_PREFIX = "Speaker"
CHANNEL_PREFIX = "Channel"


class NoSpeakers(Exception):
    """The recording cannot be labelled, for a reason its user can act on: the message says
    it in plain words, and is all the result's ``diarization.error`` says."""


@dataclass(frozen=True)
class Turn:
    """One stretch of speech by one speaker: start and end in seconds."""

    start: float
    end: float
    speaker: str

    @property
    def seconds(self) -> float:
        """Return the turn's length in seconds."""
        return max(0.0, self.end - self.start)


def overlap(start: float, end: float, turn: Turn) -> float:
    """Return how many seconds of [start, end] the turn covers."""
    return max(0.0, min(end, turn.end) - max(start, turn.start))


def distance(start: float, end: float, turn: Turn) -> float:
    """Return the seconds between [start, end] and the turn (0 when they touch or overlap)."""
    return max(0.0, turn.start - end, start - turn.end)


def speaker_of(start: float, end: float, turns: Sequence[Turn]) -> str:
    """Return the speaker who covers most of [start, end]; with no overlap at all, the
    speaker of the nearest turn. ``turns`` must not be empty."""
    covered: dict[str, float] = {}
    for turn in turns:
        covered[turn.speaker] = covered.get(turn.speaker, 0.0) + overlap(start, end, turn)
    best = max(covered, key=lambda speaker: covered[speaker])
    if covered[best] > 0:
        return best
    return min(turns, key=lambda turn: distance(start, end, turn)).speaker


def renamed(turns: Sequence[Turn], prefix: str = SPEAKER_PREFIX) -> list[Turn]:
    """Return the turns in time order with speakers renamed "<prefix> 1", "<prefix> 2", ...
    in the order they first speak."""
    ordered = sorted(turns, key=lambda turn: (turn.start, turn.end))
    names: dict[str, str] = {}
    for turn in ordered:
        names.setdefault(turn.speaker, f"{prefix} {len(names) + 1}")
    return [Turn(turn.start, turn.end, names[turn.speaker]) for turn in ordered]


def labelled(
    segments: Sequence[Segment | RemoteSegment], turns: Sequence[Turn]
) -> list[RemoteSegment]:
    """Return the segments (a service's, or the engine's own) with a ``speaker`` each, split at
    word boundaries where the speaker changes inside one, renumbered from 1. Without turns,
    the segments are returned as they are (no speaker)."""
    checked = [remote_segment(segment) for segment in segments]
    if not turns:
        return checked
    pieces = [piece for segment in checked for piece in _split(segment, turns)]
    return renumbered(pieces)


def _split(segment: RemoteSegment, turns: Sequence[Turn]) -> list[RemoteSegment]:
    words = segment.get("words") or []
    if not words:
        speaker = speaker_of(float(segment["start"]), float(segment["end"]), turns)
        return [{**segment, "speaker": speaker}]
    runs = word_runs(words, turns)
    if len(runs) == 1:
        return [{**segment, "speaker": runs[0][0]}]
    last = len(runs) - 1
    return [
        _piece(segment, run, speaker, first=n == 0, final=n == last)
        for n, (speaker, run) in enumerate(runs)
    ]


def word_runs(
    words: Sequence[RemoteWord], turns: Sequence[Turn]
) -> list[tuple[str, list[RemoteWord]]]:
    """Return the words in runs of one speaker each, in order: (speaker, words)."""
    runs: list[tuple[str, list[RemoteWord]]] = []
    for word in words:
        speaker = speaker_of(float(word["start"]), float(word["end"]), turns)
        if not runs or runs[-1][0] != speaker:
            runs.append((speaker, []))
        runs[-1][1].append(word)
    return runs


def _piece(
    segment: RemoteSegment,
    words: Sequence[RemoteWord],
    speaker: str,
    *,
    first: bool,
    final: bool,
) -> RemoteSegment:
    # The outer edges stay the segment's own; inner edges are the words' times.
    return {
        **segment,
        "start": segment["start"] if first else words[0]["start"],
        "end": segment["end"] if final else words[-1]["end"],
        "text": "".join(str(word["word"]) for word in words),
        "words": list(words),
        "speaker": speaker,
    }


def renumbered(segments: Sequence[RemoteSegment]) -> list[RemoteSegment]:
    """Return copies of the segments with ids 1, 2, ... in order."""
    return [{**segment, "id": n} for n, segment in enumerate(segments, start=1)]


def channel_name(channel: int, names: Sequence[str]) -> str:
    """Return the configured name of a channel (numbered from 1), else "Channel <n>"."""
    return names[channel - 1] if 0 < channel <= len(names) else f"{CHANNEL_PREFIX} {channel}"


def by_channel(segments: Sequence[RemoteSegment], names: Sequence[str]) -> list[RemoteSegment]:
    """Return the segments of a per-channel transcript with each one's channel as its
    ``speaker``. Raise NoSpeakers if a segment says no channel."""
    labelled_segments: list[RemoteSegment] = []
    for segment in segments:
        channel = segment.get("channel")
        if not isinstance(channel, int):
            raise NoSpeakers(
                "The result was not transcribed per channel (no channel on a segment), so it"
                " is published without speakers"
            )
        labelled_segments.append({**segment, "speaker": channel_name(channel, names)})
    return labelled_segments


def interleaved(segments: Sequence[RemoteSegment]) -> list[RemoteSegment]:
    """Return labelled segments (each with a ``speaker``) in time order, each one with word
    timings cut where a word of another speaker starts between two of its words; a cut
    segment's pieces span their words. Segments without words stay whole. Renumbered."""
    starts = {
        speaker: sorted(float(w["start"]) for s in segments if s.get("speaker") != speaker
                        for w in s.get("words") or [])
        for speaker in {s.get("speaker") for s in segments}
    }  # fmt: skip
    pieces = [
        piece
        for segment in segments
        for piece in _cut_where_others_speak(segment, starts[segment.get("speaker")])
    ]
    return renumbered(sorted(pieces, key=lambda piece: float(piece["start"])))


def _cut_where_others_speak(segment: RemoteSegment, others: Sequence[float]) -> list[RemoteSegment]:
    words = segment.get("words") or []
    runs: list[tuple[int, list[RemoteWord]]] = []
    for word in words:
        heard_before = bisect.bisect_left(others, float(word["start"]))
        if not runs or runs[-1][0] != heard_before:
            runs.append((heard_before, []))
        runs[-1][1].append(word)
    if len(runs) < 2:
        return [segment]
    return [
        {**segment, "start": run[0]["start"], "end": run[-1]["end"],
         "text": "".join(str(word["word"]) for word in run), "words": run}
        for _, run in runs
    ]  # fmt: skip


def speaking_times(segments: Sequence[RemoteSegment]) -> list[SpeakingTime]:
    """Return ``[{"speaker", "seconds"}]``: each speaker's time in the labelled segments (by
    their words when they have them, else the segment's span), in order of first speech.
    Each second of speech counts once: a second in which several speakers' words (or spans)
    lie is shared between them equally, so the times add up to the speech heard."""
    spans = [
        (start, end, speaker)
        for segment in segments
        if isinstance(speaker := segment.get("speaker"), str)
        for start, end in spoken_spans(segment)
        if end > start
    ]
    # In the segments' order (time order, a call's channel 1 first at a tie).
    seconds = {speaker: 0.0 for s in segments if isinstance(speaker := s.get("speaker"), str)}
    # One pass over where spans begin (+1) and end (-1): between two such times, the same
    # speakers talk (the last change is an end, with no speech after it).
    changes = sorted([(a, 1, who) for a, _, who in spans] + [(b, -1, who) for _, b, who in spans])
    talking: dict[str, int] = {}
    for (at, step, speaker), (after, _, _) in itertools.pairwise(changes):
        talking[speaker] = talking.get(speaker, 0) + step
        if not talking[speaker]:
            del talking[speaker]
        for who in talking:
            seconds[who] += (after - at) / len(talking)
    return [{"speaker": name, "seconds": round(total, 2)} for name, total in seconds.items()]


def spoken_spans(segment: RemoteSegment) -> list[tuple[float, float]]:
    """Return where a segment holds speech (seconds): its words, else its whole span."""
    words = segment.get("words") or []
    if words:
        return [(float(w["start"]), float(w["end"])) for w in words]
    return [(float(segment["start"]), float(segment["end"]))]
