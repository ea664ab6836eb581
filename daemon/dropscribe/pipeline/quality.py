"""Whether a transcript is complete: the daemon's side of the completeness guard.

The embedded engine measures a transcript's coverage itself (``result["coverage"]``). A remote
service's result carries none, so the daemon measures it against the speech that voice activity
detection finds in the recording, the same way. Either way the daemon's own ``quality``
settings decide ``complete``: the share of the speech covered, and the most seconds of speech
in a row left uncovered. Pure: the speech spans come in from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from dropscribe.core.coverage import (
    DEFAULT_MAX_GAP_SECONDS,
    Span,
    measure,
    report_is_complete,
)
from dropscribe.core.transcript import RemoteTranscript

#: Most gaps named in the sentence for a person; the .json lists them all.
MAX_GAPS_NAMED = 3

#: Given a recording, return where its speech is; raise OSError or ValueError if unknown.
SpeechFinder = Callable[[Path], list[Span]]


@dataclass(frozen=True)
class QualityPolicy:
    """The ``quality`` settings: the share of speech a complete transcript covers, whether
    an incomplete one fails instead of being published, and the most seconds of speech in a
    row a complete one leaves uncovered."""

    min_coverage: float = 0.95
    fail_incomplete: bool = False
    max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS


class Shortfall(TypedDict):
    """The audit fields of an incomplete result: its coverage, or None for each unknown."""

    coverage: float | None
    speech_seconds: float | None
    covered_seconds: float | None
    uncovered: list[list[float]] | None
    doubtful: list[list[float]] | None
    gaps: list[list[float]] | None


def needs_speech(result: RemoteTranscript) -> bool:
    """Return True when the result does not say how much speech it covers (a remote one)."""
    return "coverage" not in result


def assessed(
    result: RemoteTranscript, policy: QualityPolicy, speech: Sequence[Span] | None
) -> RemoteTranscript:
    """Given a result and, when it carries no coverage, the recording's speech spans (None
    when they could not be found), return it with ``coverage``, ``no_speech`` and ``complete``
    set by the policy. Without either, the result is returned as it is: nothing is known."""
    if needs_speech(result):
        if speech is None:
            return result.copy()
        measured = measure(speech, result.get("segments") or [])
        result = {**result, "coverage": measured.as_dict(policy.max_gap_seconds)}
    coverage = result["coverage"]
    no_speech = float(coverage.get("speech_seconds", 0.0)) == 0
    complete = report_is_complete(coverage, policy.min_coverage, policy.max_gap_seconds)
    return {**result, "no_speech": no_speech, "complete": complete}


def is_incomplete(result: RemoteTranscript) -> bool:
    """Return True when the result was judged incomplete."""
    return result.get("complete") is False


def shortfall(result: RemoteTranscript) -> Shortfall:
    """Return the audit fields that say how an incomplete result falls short."""
    coverage = result.get("coverage")
    if coverage is None:
        return Shortfall(
            coverage=None,
            speech_seconds=None,
            covered_seconds=None,
            uncovered=None,
            doubtful=None,
            gaps=None,
        )
    return {
        "coverage": coverage.get("ratio"),
        "speech_seconds": coverage.get("speech_seconds"),
        "covered_seconds": coverage.get("covered_seconds"),
        "uncovered": coverage.get("uncovered"),
        "doubtful": coverage.get("doubtful"),
        "gaps": coverage.get("gaps"),
    }


def describe_shortfall(result: RemoteTranscript) -> str:
    """Return one sentence for a person saying how much speech the transcript misses."""
    fields = shortfall(result)
    ratio = fields["coverage"]
    share = "an unknown share" if ratio is None else f"{float(ratio):.0%}"
    stretches = len(fields["uncovered"] or [])
    sentence = (
        f"the transcript covers {share} of the speech found in the recording "
        f"({stretches} stretch{'es' if stretches != 1 else ''} missing or doubtful)"
    )
    gaps = fields["gaps"] or []
    if not gaps:
        return sentence
    listed = ", ".join(f"{clock(start)}-{clock(end)}" for start, end, *_ in gaps[:MAX_GAPS_NAMED])
    more = f" and {len(gaps) - MAX_GAPS_NAMED} more" if len(gaps) > MAX_GAPS_NAMED else ""
    return f"{sentence}; speech unheard at {listed}{more}"


def clock(seconds: float) -> str:
    """Return a time in the recording as a person reads it: ``1:02:03`` or ``2:03``."""
    whole = int(seconds)
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def checked(
    result: RemoteTranscript, policy: QualityPolicy, find: SpeechFinder | None, recording: Path
) -> tuple[RemoteTranscript, str | None]:
    """Return the result assessed by the policy, finding the recording's speech first when
    the result does not carry its coverage; and why the speech could not be found, or None."""
    if not needs_speech(result) or find is None:
        return assessed(result, policy, None), None
    try:
        speech = find(recording)
    except (OSError, ValueError) as exc:
        return assessed(result, policy, None), str(exc)
    return assessed(result, policy, speech), None
