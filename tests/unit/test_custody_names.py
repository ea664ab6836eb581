"""Pure naming rules of custody: safe relative paths and free names that fit NAME_MAX."""

from __future__ import annotations

import os

import pytest

from dropscribe.custody import NAME_MAX_BYTES, fit_name, numbered_name, validate_rel


@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../x.wav", "a/../../x.wav", "a//b.wav", "./a"])
def test_validate_rel_escaping_path_raises(rel: str) -> None:
    with pytest.raises(ValueError, match="not a safe relative path"):
        validate_rel(rel)


@pytest.mark.parametrize("rel", ["a.wav", "sub/dir/a b.wav", "-x.wav", "..a.wav", "new\nline.wav"])
def test_validate_rel_ordinary_path_accepted(rel: str) -> None:
    assert validate_rel(rel).as_posix() == rel


def test_numbered_name_first_is_the_name_itself() -> None:
    assert numbered_name("talk.wav", 1) == "talk.wav"


def test_numbered_name_adds_number_before_extension() -> None:
    assert numbered_name("talk.wav", 2) == "talk (2).wav"
    assert numbered_name("archive.tar.gz", 3) == "archive.tar (3).gz"
    assert numbered_name("README", 2) == "README (2)"


def test_numbered_name_long_name_cut_to_fit_keeping_extension() -> None:
    name = "x" * 251 + ".wav"
    result = numbered_name(name, 12)
    assert len(os.fsencode(result)) <= NAME_MAX_BYTES
    assert result.endswith(" (12).wav")


def test_fit_name_cuts_on_character_boundary() -> None:
    name = "é" * 130 + ".wav"  # 264 bytes in UTF-8
    result = fit_name(name, 244)
    assert len(os.fsencode(result)) <= 244
    assert result.endswith(".wav")
    result.encode("utf-8")  # no half character left behind
    assert set(result[:-4]) == {"é"}


def test_fit_name_absurd_extension_is_cut_as_part_of_the_name() -> None:
    name = "a." + "b" * 300
    assert len(os.fsencode(fit_name(name))) <= NAME_MAX_BYTES
