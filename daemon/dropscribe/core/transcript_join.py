"""Transcripts of the pieces of one recording joined into the recording's transcript."""

from __future__ import annotations

from collections.abc import Sequence

from dropscribe.core.transcript import RemoteSegment, RemoteTranscript, RemoteWord


def join_pieces(pieces: Sequence[tuple[RemoteTranscript, float]]) -> RemoteTranscript:
    """Given each piece's transcript and where the piece starts in the recording (seconds),
    return the recording's: the texts joined, every segment and word moved by its piece's
    start and numbered anew, the language the first piece with one names."""
    segments: list[RemoteSegment] = []
    for result, offset in pieces:
        for segment in result.get("segments", []):
            segments.append(_moved(segment, offset, len(segments)))
    texts = (result.get("text", "").strip() for result, _ in pieces)
    joined: RemoteTranscript = {
        "text": " ".join(text for text in texts if text),
        "segments": segments,
    }
    language = next((r["language"] for r, _ in pieces if r.get("language")), None)
    if language is not None:
        joined["language"] = language
    return joined


def _moved(segment: RemoteSegment, offset: float, number: int) -> RemoteSegment:
    moved: RemoteSegment = {**segment, "id": number}
    for key in ("start", "end"):
        if key in segment:
            moved[key] = round(segment[key] + offset, 3)
    if "words" in segment:
        moved["words"] = [_moved_word(word, offset) for word in segment["words"]]
    return moved


def _moved_word(word: RemoteWord, offset: float) -> RemoteWord:
    moved: RemoteWord = {**word}
    for key in ("start", "end"):
        if key in word:
            moved[key] = round(word[key] + offset, 3)
    return moved
