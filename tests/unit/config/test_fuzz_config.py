"""Fuzzing the config loader with Hypothesis: generated YAML never gets further than a clean
ConfigError, never raises anything else, and never runs code.

Documents are built as text, section by section, from the schema's own section and key names
plus unknown ones, with values that are plausible for the key, of the wrong type, huge, nested
junk, or YAML tags that would run code under an unsafe loader (``!!python/object/apply``,
``!!python/name``, ...). Each such tag would create a marker file; the marker must never exist.
The run is derandomized (reproducible) and bounded by ``max_examples``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dropscribe.config.loading import load_config
from dropscribe.config.schema.settings import Settings
from dropscribe.core.errors import ConfigError
from support.daemon import DROPSCRIBE

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Where a YAML tag that runs code would leave its mark; a fixed path, so that every example
#: (and a run in another process) would write the same file.
MARKER = Path(f"/tmp/dropscribe-fuzz-marker-{os.getuid()}")

SECTIONS: dict[str, list[str]] = {
    name: list(field.annotation.model_fields)
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}

#: YAML that runs code, imports or builds objects under an unsafe loader, or abuses aliases.
HOSTILE = [
    f'!!python/object/apply:os.system ["touch {MARKER}"]',
    f'!!python/object/apply:subprocess.check_call [["touch", "{MARKER}"]]',
    f'!!python/object/new:os.system ["touch {MARKER}"]',
    f"!!python/object/apply:builtins.exec [\"open('{MARKER}', 'w')\"]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:pathlib.Path {}",
    "!!python/tuple [1, 2]",
    "!!binary aGVsbG8=",
    "!!set {a: null}",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    '!!float "1e999"',
    '!!int "0x1F"',
    "!custom {x: 1}",
    "&loop [*loop]",
    "*undefined",
    "{unclosed: [",
    '"\\u0000"',
    "'\t'",
]

#: Values a user might plausibly write somewhere, right or wrong for the key at hand.
PLAUSIBLE = [
    "embedded",
    "http://127.0.0.1:9",
    "https://api.example.com/",
    "ftp://example.com",
    "/v1/async/x",
    "data/inbox",
    "/nonexistent/dir",
    "/",
    "''",
    '"\\u0000key"',
    "auto",
    "polling",
    "gpuflex",
    "[txt, json]",
    "[srt]",
    "move",
    "delete",
    "true",
    "0",
    "-1",
    "1e400",
    ".inf",
    ".nan",
    str(10**40),
    "null",
]


def scalar_text() -> st.SearchStrategy[str]:
    """A YAML flow value: JSON (which YAML reads) of scalars, lists and maps, nested."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )
    nested = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )
    return nested.map(json.dumps)


def value_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(PLAUSIBLE), st.sampled_from(HOSTILE), scalar_text())


@st.composite
def config_documents(draw: st.DrawFn) -> str:
    lines: list[str] = []
    names = draw(st.lists(st.sampled_from([*SECTIONS, "bogus", "api_key"]), max_size=6))
    for name in names:
        if name not in SECTIONS or draw(st.integers(0, 9)) == 0:
            lines.append(f"{name}: {draw(value_text())}")  # a section that is not a mapping
            continue
        lines.append(f"{name}:")
        keys = st.sampled_from([*SECTIONS[name], "unknown_key"]) | st.text(min_size=1).map(
            json.dumps
        )
        for key in draw(st.lists(keys, max_size=5)):
            lines.append(f"  {key}: {draw(value_text())}")
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from(HOSTILE)))  # junk at the top level
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def no_marker() -> None:
    MARKER.unlink(missing_ok=True)


#: Found by hand once, kept as fixed examples: a NUL in a path crashed the loader (key file)
#: or, accepted, crashed the daemon at its first use of the folder.
NUL_KEY_FILE = 'api:\n  base_url: http://127.0.0.1:9\n  api_key_file: "k\\u0000ey"\n'
NUL_FOLDER = 'paths:\n  inbox: "in\\u0000box"\n  state_dir: s\n  log_dir: l\n'
#: Found by the fuzzer: a newline in an unknown key split its problem over two lines.
NEWLINE_KEY = 'api:\n  "bad\\nkey": 1\n'


@FUZZ
@example(document=NUL_KEY_FILE, with_key=False)
@example(document=NUL_FOLDER, with_key=False)
@example(document=NEWLINE_KEY, with_key=False)
@given(document=config_documents(), with_key=st.booleans())
def test_load_config_generated_yaml_raises_only_clean_config_errors(
    tmp_path: Path, document: str, with_key: bool
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    environ = {"TIYARO_API_KEY": "fuzz-key-123456"} if with_key else {}
    try:
        loaded = load_config(path, environ)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith(str(path)), problem
            assert "\n" not in problem and "Traceback" not in problem
    else:
        # What loads must be usable: every path can at least be asked about.
        for value in [*loaded.paths.model_dump().values(), loaded.api.api_key_file]:
            if value is not None:
                with contextlib.suppress(OSError):
                    os.lstat(value)
    assert not MARKER.exists(), "YAML ran code"


def test_check_config_hostile_yaml_exits_78_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"api:\n  base_url: {HOSTILE[0]}\nworkers: {{transfers: 1e999, bogus: 1}}\n")
    done = subprocess.run(
        [DROPSCRIBE, "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TIYARO_API_KEY"},
    )
    assert done.returncode == 78, done.stderr
    assert "Traceback" not in done.stderr
    assert str(path) in done.stderr
    assert not MARKER.exists(), "YAML ran code"
