"""Text from outside (a file name, a reason that quotes one) made safe to show to people.

A drop user names the files, so a name is untrusted text: a newline in it starts a line of its
own in a message ("reason: ..." forged under the real one), a terminal escape recolours or
rewrites a terminal, and a bidirectional override makes "evil\u202egpj.exe" read as
"evilexe.jpg". Such characters are shown as visible escapes instead; every other character,
accents and emoji included, stays as it is.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories shown as escapes: controls (C0, DEL, C1: newline, escape, ...) and the
#: line and paragraph separators, which some renderers break lines at.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: Format characters that reorder what follows (bidirectional embeddings, overrides,
#: isolates and marks); other format characters (the zero-width joiner of emoji) stay.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: The escapes people read best for the commonest controls.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Return ``text`` with every control, line separator and bidirectional control shown
    as a backslash escape (``\\n``, ``\\x1b``, ``\\u202e``), so it stays on one line and
    reads as it is stored."""
    if text.isprintable():  # the common case, and a fast one
        return text
    return "".join(_shown(c) for c in text)


def _shown(char: str) -> str:
    if char not in _BIDI_CONTROLS and unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
