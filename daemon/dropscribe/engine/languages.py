"""What an English-only model does with the language a job asks for.

An English-only model (tiny.en, any ``*.en``) cannot detect a language, and cannot transcribe
any other: faster-whisper decodes it in English whatever it is told and reports English with
probability 1.0, as if it had detected it. So the engine says what happened instead:

* another language than English is refused: the job fails with an error naming the model,
  rather than an English transcript of speech the model cannot know;
* no language (detection asked for) is decoded in English, and the result records
  ``language: "en"`` with ``language_probability: null``: English assumed, not detected.
"""

from __future__ import annotations

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs

#: The one language an English-only model knows, as Whisper codes it.
ENGLISH = "en"


def language_refusal(multilingual: bool, label: str, args: TranscribeArgs) -> EngineError | None:
    """Return the error of a job asking a model for a language it does not know (another
    language than English of an English-only model), or None when the model can do it."""
    language = args.get("language")
    if multilingual or not language or language == ENGLISH:
        return None
    return EngineError(
        f"language {language!r} needs a multilingual model; {label} knows English only "
        f"(serve a model without .en, e.g. base or small, or leave the language out)"
    )


def assumed_english(multilingual: bool, args: TranscribeArgs, transcript: Transcript) -> Transcript:
    """Return ``transcript`` as the result records it: from an English-only model asked to
    detect the language, English assumed, its probability null (nothing was detected)."""
    if multilingual or args.get("language"):
        return transcript
    return {**transcript, "language": ENGLISH, "language_probability": None}
