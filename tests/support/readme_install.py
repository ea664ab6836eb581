"""The README's "Installing as a service" steps, read from the README itself.

The system test runs these commands, not a copy of them, so the README cannot drift from what
works. :func:`install_steps` returns the section's five code blocks in order and fails loudly if
the section no longer has that shape; :func:`inline_command` returns a command the prose gives
in backticks after a lead-in such as ``Let a user drop files:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION_TITLE = "## Installing as a service"
#: What the placeholder of step 1 stands for: the checkout, copied into the container.
CHECKOUT_PLACEHOLDER = "/path/to/dropscribe-checkout"
#: Step 4's placeholder for the key written to the credential file.
KEY_PLACEHOLDER = "your-key"
#: The languages of the section's code blocks, in order: venv and pip; accounts and folders;
#: the configuration; the API key; the unit.
EXPECTED_LANGUAGES = ("sh", "sh", "yaml", "sh", "sh")
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class InstallSteps:
    """The code of each step of the section."""

    venv: str
    accounts: str
    config_yaml: str
    api_key: str
    unit: str
    prose: str


def install_section(text: str) -> str:
    """Return the "Installing as a service" section of the README, up to the next heading of
    level two or three."""
    start = text.index(SECTION_TITLE)
    after = text[start + len(SECTION_TITLE) :]
    end = re.search(r"^#{2,3} ", after, re.MULTILINE)
    return after if end is None else after[: end.start()]


def dedent_block(body: str) -> str:
    """Return a code block's body without the indentation of the list item around it."""
    lines = body.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines) + "\n"


def install_steps() -> InstallSteps:
    """Return the section's code blocks; raise AssertionError if its shape changed."""
    section = install_section(README.read_text(encoding="utf-8"))
    blocks = [(lang, dedent_block(body)) for lang, body in FENCE.findall(section)]
    languages = tuple(lang for lang, _ in blocks)
    assert languages == EXPECTED_LANGUAGES, (
        f"README's install section changed shape: code blocks {languages}, expected "
        f"{EXPECTED_LANGUAGES}; update tests/support/readme_install.py with it"
    )
    venv, accounts, config_yaml, api_key, unit = (body for _, body in blocks)
    assert CHECKOUT_PLACEHOLDER in venv, venv
    assert KEY_PLACEHOLDER in api_key, api_key
    return InstallSteps(venv, accounts, config_yaml, api_key, unit, section)


def inline_command(prose: str, lead_in: str) -> str:
    """Return the backticked command that follows ``lead_in`` in ``prose``."""
    match = re.search(re.escape(lead_in) + r"\s*`([^`]+)`", prose)
    assert match is not None, f"README's install section no longer says {lead_in!r} `...`"
    return match.group(1)
