"""Whether a transcript is complete: the daemon's side of the completeness guard.

The embedded engine measures a transcript's coverage itself (``result["coverage"]``). A remote
service's result carries none, so the daemon measures it against the speech that voice activity
detection finds in the recording, the same way. Either way the daemon's own ``quality``
settings decide ``complete``. Pure: the speech spans come in from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropscribe.core.coverage import Span, measure

#: Given a recording, return where its speech is; raise OSError or ValueError if unknown.
SpeechFinder = Callable[[Path], list[Span]]


@dataclass(frozen=True)
class QualityPolicy:
    """The ``quality`` settings: the share of speech a complete transcript covers, and
    whether an incomplete one fails instead of being published."""

    min_coverage: float = 0.95
    fail_incomplete: bool = False


def needs_speech(result: Mapping[str, Any]) -> bool:
    """Return True when the result does not say how much speech it covers (a remote one)."""
    return not isinstance(result.get("coverage"), Mapping)


def assessed(
    result: Mapping[str, Any], policy: QualityPolicy, speech: Sequence[Span] | None
) -> dict[str, Any]:
    """Given a result and, when it carries no coverage, the recording's speech spans (None
    when they could not be found), return it with ``coverage``, ``no_speech`` and ``complete``
    set by the policy. Without either, the result is returned as it is: nothing is known."""
    if needs_speech(result):
        if speech is None:
            return dict(result)
        coverage = measure(speech, result.get("segments") or []).as_dict()
        result = {**result, "coverage": coverage}
    ratio = float(result["coverage"].get("ratio", 1.0))
    no_speech = float(result["coverage"].get("speech_seconds", 0.0)) == 0
    return {**result, "no_speech": no_speech, "complete": ratio >= policy.min_coverage}


def is_incomplete(result: Mapping[str, Any]) -> bool:
    """Return True when the result was judged incomplete."""
    return result.get("complete") is False


def shortfall(result: Mapping[str, Any]) -> dict[str, Any]:
    """Return the audit fields that say how an incomplete result falls short."""
    coverage = result.get("coverage") or {}
    return {
        "coverage": coverage.get("ratio"),
        "speech_seconds": coverage.get("speech_seconds"),
        "covered_seconds": coverage.get("covered_seconds"),
        "uncovered": coverage.get("uncovered"),
        "doubtful": coverage.get("doubtful"),
    }


def describe_shortfall(result: Mapping[str, Any]) -> str:
    """Return one sentence for a person saying how much speech the transcript misses."""
    fields = shortfall(result)
    ratio = fields["coverage"]
    share = "an unknown share" if ratio is None else f"{float(ratio):.0%}"
    stretches = len(fields["uncovered"] or [])
    return (
        f"the transcript covers {share} of the speech found in the recording "
        f"({stretches} stretch{'es' if stretches != 1 else ''} missing or doubtful)"
    )


def checked(
    result: Mapping[str, Any], policy: QualityPolicy, find: SpeechFinder | None, recording: Path
) -> tuple[dict[str, Any], str | None]:
    """Return the result assessed by the policy, finding the recording's speech first when
    the result does not carry its coverage; and why the speech could not be found, or None."""
    if not needs_speech(result) or find is None:
        return assessed(result, policy, None), None
    try:
        speech = find(recording)
    except (OSError, ValueError) as exc:
        return assessed(result, policy, None), str(exc)
    return assessed(result, policy, speech), None
