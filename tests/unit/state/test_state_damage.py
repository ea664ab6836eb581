"""A damaged state file is refused at open with what to do, and left as it is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dropscribe.core.jobs import new_job
from dropscribe.state import StateDamaged, StateStore

PAGE = 4096


def filled_state(path: Path, jobs: int = 400) -> None:
    store = StateStore(path)
    for n in range(jobs):
        store.save(new_job(f"meeting-{n:04d}-{'x' * 120}.wav", time.time()))
    store.close()


def test_state_not_an_sqlite_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    garbage = b"this is not a database, it is a text file someone saved here\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(StateDamaged) as caught:
        StateStore(path)
    (problem,) = caught.value.problems
    assert str(path) in problem and "damaged" in problem and ".recover" in problem
    assert path.read_bytes() == garbage


def test_state_with_a_damaged_page_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    filled_state(path)
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * PAGE
    # Scribble over the middle of a table page: its cells now point at nonsense.
    middle = (len(data) // PAGE // 2) * PAGE
    data[middle + 8 : middle + 64] = b"\xff" * 56
    path.write_bytes(bytes(data))
    with pytest.raises(StateDamaged) as caught:
        StateStore(path)
    assert "damaged" in caught.value.problems[0]
    assert path.read_bytes() == bytes(data)


def test_state_intact_file_opens(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    filled_state(path, jobs=50)
    store = StateStore(path)
    try:
        assert sum(store.counts().values()) == 50
    finally:
        store.close()
