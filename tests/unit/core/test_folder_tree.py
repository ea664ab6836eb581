"""Folder trees walked without recursion and only so deep, on real folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.folder_tree import depth_of, walk_tree
from support.deep_tree import PAST_RECURSION_LIMIT, make_deep, remove_deep


@pytest.fixture
def deep_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    root.mkdir()
    yield root
    remove_deep(root / "d")


def files_of(root: Path, **options: object) -> list[str]:
    listings = walk_tree(root, **options)  # type: ignore[arg-type]
    return [listing.child(name) for listing in listings for name in listing.files]


def test_depth_of_counts_folders_above_a_file() -> None:
    assert depth_of("x.wav") == 0
    assert depth_of("a/b/x.wav") == 2


def test_walk_tree_lists_every_file_parents_first_sorted(tmp_path: Path) -> None:
    for rel in ("b/y.wav", "a/x.wav", "a/c/z.wav", "top.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [listing.rel for listing in walk_tree(tmp_path)] == ["", "a", "a/c", "b"]
    assert files_of(tmp_path) == ["top.wav", "a/x.wav", "a/c/z.wav", "b/y.wav"]


def test_walk_tree_enters_max_depth_and_names_the_next_folder_too_deep(tmp_path: Path) -> None:
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "a/b/ok.wav").write_bytes(b"x")
    (tmp_path / "a/b/c/far.wav").write_bytes(b"x")
    listings = list(walk_tree(tmp_path, max_depth=2))
    assert [listing.rel for listing in listings] == ["", "a", "a/b"]
    assert listings[-1].too_deep == ("c",)
    assert files_of(tmp_path, max_depth=2) == ["a/b/ok.wav"]


def test_walk_tree_past_the_recursion_limit_stops_at_the_cap(deep_root: Path) -> None:
    make_deep(deep_root, PAST_RECURSION_LIMIT, leaf="deepest.wav")
    (deep_root / "near.wav").write_bytes(b"x")
    listings = list(walk_tree(deep_root, max_depth=32))
    assert len(listings) == 33  # the root and 32 levels, never the 1,068 below
    assert listings[-1].too_deep == ("d",)
    assert files_of(deep_root, max_depth=32) == ["near.wav"]


def test_walk_tree_never_enters_links_and_lists_them_as_files(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "sub" / "secret.wav").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(elsewhere)
    assert files_of(root) == ["link"]


def test_walk_tree_enter_refuses_by_name(tmp_path: Path) -> None:
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.wav").write_bytes(b"x")
    (tmp_path / "seen").mkdir()
    (tmp_path / "seen" / "y.wav").write_bytes(b"x")
    assert files_of(tmp_path, enter=lambda name: not name.startswith(".")) == ["seen/y.wav"]


def test_walk_tree_under_a_folder_too_deep_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/b/x.wav").write_bytes(b"x")
    assert files_of(tmp_path, max_depth=1, under="a/b") == []
    assert files_of(tmp_path, max_depth=2, under="a/b") == ["a/b/x.wav"]


def test_walk_tree_path_past_path_max_is_skipped_not_raised(tmp_path: Path) -> None:
    # 30 levels of 200-character names: the deeper folders' paths pass PATH_MAX (4,096).
    name = "n" * 200
    make_deep(tmp_path, 30, name=name)
    try:
        listings = list(walk_tree(tmp_path, max_depth=32))
        assert 10 < len(listings) < 31  # entered while the path fits, then skipped
    finally:
        remove_deep(tmp_path / name)
