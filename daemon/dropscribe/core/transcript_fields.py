"""The transcript's fields and the JSON type of each, as data, and the check of a service's
result against them.

A service's result is JSON: any key may be missing, and nothing but the service vouches for the
type of any value. :func:`remote_transcript` turns it into a RemoteTranscript once, where it
enters the daemon (a poll's answer, a result read back from the state file):

* a key of :mod:`dropscribe.core.transcript` is kept when its value has the type given there
  (checked inside segments, words, coverage and the rest), and left out when it has not: the
  daemon reads such a value as not sent, as each of its readers did on its own before;
* a key it does not know is kept as it came, so that the .json still records it;
* nothing is filled in: a result without segments or language stays without them.

Keys keep their order and values their identity, so a result whose known keys have their types
is written into the .json byte for byte as the service sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from dropscribe.core.transcript import RemoteSegment, RemoteTranscript


class _Absent:
    """What a check returns for a value of the wrong type: the key is left out."""


ABSENT = _Absent()

#: Given a JSON value, return it (rebuilt when it is a container) if it has the field's type,
#: else ABSENT.
Check = Callable[[object], object]


def _number(value: object) -> object:
    # A bool is an int to Python and to the readers (float(True) is 1.0): accepted as before.
    return value if isinstance(value, int | float) else ABSENT


def _optional_number(value: object) -> object:
    return value if value is None else _number(value)


def _integer(value: object) -> object:
    return value if isinstance(value, int) else ABSENT


def _string(value: object) -> object:
    return value if isinstance(value, str) else ABSENT


def _flag(value: object) -> object:
    return value if isinstance(value, bool) else ABSENT


def list_of(item: Check) -> Check:
    """Return the check of a list whose every item passes ``item``."""

    def check(value: object) -> object:
        if not isinstance(value, list):
            return ABSENT
        items = [item(element) for element in value]
        return ABSENT if any(element is ABSENT for element in items) else items

    return check


def object_of(fields: Mapping[str, Check], required: frozenset[str] = frozenset()) -> Check:
    """Return the check of a JSON object with ``fields`` (see :func:`checked_fields`) that
    still has every ``required`` key once they are checked."""

    def check(value: object) -> object:
        if not isinstance(value, dict):
            return ABSENT
        kept = checked_fields(value, fields)
        return kept if required <= kept.keys() else ABSENT

    return check


def checked_fields(value: Mapping[str, object], fields: Mapping[str, Check]) -> dict[str, object]:
    """Return the object's keys in order: those of ``fields`` checked (and left out when they
    fail), the others as they are."""
    kept: dict[str, object] = {}
    for key, item in value.items():
        checked = fields[key](item) if key in fields else item
        if checked is not ABSENT:
            kept[key] = checked
    return kept


WORD_FIELDS: dict[str, Check] = {
    "start": _number,
    "end": _number,
    "word": _string,
    "probability": _number,
}

SEGMENT_FIELDS: dict[str, Check] = {
    "id": _integer,
    "start": _number,
    "end": _number,
    "text": _string,
    "seek": _integer,
    "tokens": list_of(_integer),
    "temperature": _number,
    "avg_logprob": _number,
    "compression_ratio": _number,
    "no_speech_prob": _number,
    "words": list_of(object_of(WORD_FIELDS)),
    "channel": _integer,
    "speaker": _string,
}

COVERAGE_FIELDS: dict[str, Check] = {
    "speech_seconds": _number,
    "covered_seconds": _number,
    "ratio": _number,
    "uncovered": list_of(list_of(_number)),
    "doubtful": list_of(list_of(_number)),
    "gaps": list_of(list_of(_number)),
    "longest_gap_seconds": _number,
    "max_gap_seconds": _number,
}

#: The coverage keys every engine has sent; the gap figures came later.
COVERAGE_REQUIRED = frozenset(
    {"speech_seconds", "covered_seconds", "ratio", "uncovered", "doubtful"}
)

CHANNEL_FIELDS: dict[str, Check] = {
    "channel": _integer,
    "text": _string,
    "language": _string,
    "strategy": _string,
}

SPEAKING_TIME_FIELDS: dict[str, Check] = {"speaker": _string, "seconds": _number}

DIARIZATION_FIELDS: dict[str, Check] = {
    "method": _string,
    "error": _string,
    "engine": _string,
    "turns": _integer,
    "speaker_count_problem": _string,
}


TRANSCRIPT_FIELDS: dict[str, Check] = {
    "text": _string,
    "segments": list_of(object_of(SEGMENT_FIELDS)),
    "language": _string,
    "language_probability": _optional_number,
    "no_speech": _flag,
    "complete": _flag,
    "coverage": object_of(COVERAGE_FIELDS, COVERAGE_REQUIRED),
    "strategy": _string,
    "strategies_tried": list_of(_string),
    "split_channels_problem": _string,
    "channels": list_of(object_of(CHANNEL_FIELDS, frozenset(CHANNEL_FIELDS))),
    "speakers": list_of(object_of(SPEAKING_TIME_FIELDS, frozenset(SPEAKING_TIME_FIELDS))),
    "diarization": object_of(DIARIZATION_FIELDS, frozenset({"method"})),
}


def remote_transcript(value: Mapping[str, object]) -> RemoteTranscript:
    """Given a result as JSON decoded it, return it as a RemoteTranscript: each known key
    kept if its value has its type, left out if not; unknown keys kept; nothing filled in."""
    # The cast is what the check established: every key of the tables kept has its type (a
    # test keeps the tables and the TypedDicts of core.transcript in step).
    return cast(RemoteTranscript, checked_fields(value, TRANSCRIPT_FIELDS))


def remote_segment(value: Mapping[str, object]) -> RemoteSegment:
    """Given a segment as JSON decoded it (or the engine's own), return it as a RemoteSegment,
    checked as :func:`remote_transcript` checks the segments of a result."""
    return cast(RemoteSegment, checked_fields(value, SEGMENT_FIELDS))
