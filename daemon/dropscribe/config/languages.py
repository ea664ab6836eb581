"""The language rules: the codes Whisper knows, and which embedded models know only English.

Used by the schema, whose ``language_model_problem`` applies them to the settings, and by
``transcribe``, which checks its ``--language`` and ``--model`` by the same rules.
"""

from __future__ import annotations

# The language codes Whisper knows (faster-whisper's list; a test keeps the two in step).
WHISPER_LANGUAGES = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip

#: The embedded.model of the bundled tiny.en weights.
BUNDLED_MODEL = "bundled"


def language_problem(value: str) -> str | None:
    """Return why ``value`` is not a Whisper language code, naming the codes; None if it is."""
    if value in WHISPER_LANGUAGES:
        return None
    return (
        f"{value!r} is not a language code; use a Whisper language code, e.g. en for English "
        f"or de for German (or null to detect the language). Codes: {', '.join(WHISPER_LANGUAGES)}"
    )


def english_only(model: str) -> bool:
    """Return True for an embedded model known to be English-only: the bundled tiny.en or a
    faster-whisper ``*.en`` model."""
    return model == BUNDLED_MODEL or model.endswith(".en")
