"""The bundled weights are checked against their pinned sha256 before the engine loads them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dropscribe.engine.models import BUNDLED_SHA256, bundled_folder, integrity_problem


def pinned_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "model"
    folder.mkdir()
    pinned = {}
    for name, body in (("model.bin", b"weights"), ("config.json", b"{}")):
        (folder / name).write_bytes(body)
        pinned[name] = hashlib.sha256(body).hexdigest()
    return folder, pinned


def test_integrity_problem_matching_files_none(tmp_path: Path) -> None:
    folder, pinned = pinned_folder(tmp_path)
    assert integrity_problem(folder, pinned) is None


def test_integrity_problem_changed_byte_names_the_file(tmp_path: Path) -> None:
    folder, pinned = pinned_folder(tmp_path)
    (folder / "model.bin").write_bytes(b"weightz")
    problem = integrity_problem(folder, pinned)
    assert problem is not None
    assert "model.bin" in problem and "sha256" in problem


def test_integrity_problem_missing_file_says_missing(tmp_path: Path) -> None:
    folder, pinned = pinned_folder(tmp_path)
    (folder / "config.json").unlink()
    assert integrity_problem(folder, pinned) == f"{folder / 'config.json'} is missing"


def test_bundled_folder_installed_weights_match_their_pins() -> None:
    folder = bundled_folder()
    assert sorted(path.name for path in folder.iterdir() if path.is_file()) == sorted(
        BUNDLED_SHA256
    )
