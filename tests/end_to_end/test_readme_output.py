"""The README's "Output" section shows what the bundled tiny.en makes of ``jfk.flac``: each
example is run here with ``dropscribe transcribe`` and compared with what the README shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.daemon import DROPSCRIBE

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
JFK = ROOT.parent / "shared" / "fixtures" / "speech" / "jfk.flac"
#: Seconds one `transcribe` may take: loading tiny.en and decoding 11 s on 2 busy cores.
TRANSCRIBE_TIMEOUT = 120.0

#: The README's sentence that introduces each example, and the format it shows.
EXAMPLES = {
    "txt": "`monday.txt` (a new paragraph",
    "srt": "`monday.srt` (the bundled tiny.en on `jfk.flac`",
    "vtt": "`monday.vtt`:",
}


def block_after(text: str, marker: str) -> str:
    """Return the first fenced code block after ``marker`` in ``text``, without its fences."""
    start = text.index(marker)
    opened = text.index("```", start)
    body = text.index("\n", opened) + 1
    return text[body : text.index("```", body)]


def test_block_after_reads_the_fenced_block_after_the_marker() -> None:
    text = "one\n```\nnot this\n```\nmarker:\n```sh\nthis\nand this\n```\n"
    assert block_after(text, "marker:") == "this\nand this\n"


@pytest.mark.slow
@pytest.mark.parametrize("output_format", list(EXAMPLES))
def test_readme_output_example_is_what_transcribe_prints(output_format: str) -> None:
    shown = block_after(README.read_text(encoding="utf-8"), EXAMPLES[output_format])

    done = subprocess.run(
        [str(DROPSCRIBE), "transcribe", "--format", output_format, str(JFK)],
        capture_output=True,
        text=True,
        timeout=TRANSCRIBE_TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == shown.strip()
