"""core.printable: untrusted names shown on one line, as stored."""

from __future__ import annotations

import pytest

from dropscribe.core.printable import printable


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\nreason: forged", "a\\nreason: forged"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("red\x1b[31m", "red\\x1b[31m"),
        ("next\x85line", "next\\x85line"),
        ("sep\u2028arated\u2029", "sep\\u2028arated\\u2029"),
        ("evil\u202egpj.exe", "evil\\u202egpj.exe"),
        ("\u2066iso\u2069", "\\u2066iso\\u2069"),
    ],
)
def test_printable_controls_are_shown_as_escapes(name: str, shown: str) -> None:
    assert printable(name) == shown


@pytest.mark.parametrize("name", ["Größe é.wav", "team/a b.wav", "👍🏽 \u200d👩", "nbsp\u00a0x"])
def test_printable_ordinary_names_stay_as_they_are(name: str) -> None:
    assert printable(name) == name
