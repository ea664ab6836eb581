"""Pure naming rules of custody: safe relative paths."""

from __future__ import annotations

import pytest

from dropscribe.intake.custody import validate_rel


@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../x.wav", "a/../../x.wav", "a//b.wav", "./a"])
def test_validate_rel_escaping_path_raises(rel: str) -> None:
    with pytest.raises(ValueError, match="not a safe relative path"):
        validate_rel(rel)


@pytest.mark.parametrize("rel", ["a.wav", "sub/dir/a b.wav", "-x.wav", "..a.wav", "new\nline.wav"])
def test_validate_rel_ordinary_path_accepted(rel: str) -> None:
    assert validate_rel(rel).as_posix() == rel
