"""dropscribe installed as a service in a booted container, the way the README says, and what
the system tests ask of it: the audit trail, the journal, unit properties, drops by users.

:func:`install_as_readme_says` runs the README's "Installing as a service" steps inside a
:class:`~support.container.Container` (the checkout copied to ``CHECKOUT_INSIDE``, pip offline
from the bound wheelhouse). :class:`Service` then switches the daemon between the README's
configuration (the embedded engine) and one that uses ``dropscribe-serve.service`` through the
API key credential, each switch a real ``systemctl restart``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from support.container import Container, ContainerError, wait_for
from support.readme_install import (
    CHECKOUT_PLACEHOLDER,
    KEY_PLACEHOLDER,
    InstallSteps,
    inline_command,
)

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO.parent / "shared" / "fixtures" / "speech"
#: How many copies of jfk.flac that differ in content (and so are never a duplicate of each
#: other: dropscribe reuses the transcript of identical content) the tests can drop.
RECORDINGS = 8
#: Where the checkout is copied inside, standing for the README's /path/to/dropscribe-checkout.
CHECKOUT_INSIDE = "/root/dropscribe-checkout"
#: Where the speech fixtures are bound, read-only, inside.
FIXTURES_INSIDE = "/fixtures"
AUDIT = "/var/log/dropscribe/audit.jsonl"
CONFIG = "/etc/dropscribe/config.yaml"
OUTBOX = "/srv/dropscribe/outbox"
INBOX = "/srv/dropscribe/inbox"
DAEMON = "dropscribe.service"
SERVE = "dropscribe-serve.service"
SERVE_UNIT_FILE = REPO / "systemd" / "dropscribe-serve.service"
#: The port dropscribe-serve.service listens on (its ExecStart=).
SERVE_PORT = 8750
#: A member of dropscribe-drop (README: `usermod -aG dropscribe-drop alice`), and a user who is not.
DROPPER = "alice"
OUTSIDER = "bob"
#: The serve unit's comment gives its token's install line; the test runs that line.
SERVE_TOKEN_LINE = re.compile(r"^#\s+(install -m 0600 .*serve_token.*)$", re.MULTILINE)
#: The per-test limit of the system tests, in seconds. The first one also pays for the shared
#: set-up (a cold cache: about two minutes of debootstrap and downloads on a slow mirror, then
#: the boot and the install); every wait inside has its own, shorter deadline.
SYSTEM_TEST_TIMEOUT_SECONDS = 900
#: Starting the daemon loads the Whisper model before READY=1: seconds, generous when shared.
START_TIMEOUT_SECONDS = 120.0
#: How long one recording may take from drop to transcript on two shared cores, in seconds.
TRANSCRIPT_TIMEOUT_SECONDS = 90.0
#: Files copied from the checkout: what git tracks or would track, never build outputs.
GIT_LS = ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"]


def make_recordings(folder: Path) -> Path:
    """Write ``jfk.flac`` and ``jfk-1.wav`` ... ``jfk-N.wav`` (the same speech, each with a
    different length of trailing silence) into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SPEECH / "jfk.flac", folder / "jfk.flac")
    for n in range(1, RECORDINGS + 1):
        pad = ["pad", "0", f"0.{n}"]
        subprocess.run(
            ["sox", str(SPEECH / "jfk.flac"), str(folder / f"jfk-{n}.wav"), *pad], check=True
        )
    return folder


def copy_checkout(container: Container) -> None:
    """Copy the checkout's files (tracked and untracked, not ignored) into the container."""
    listing = subprocess.run(GIT_LS, cwd=REPO, capture_output=True, check=True).stdout
    target = container.path(CHECKOUT_INSIDE)
    for name in listing.decode("utf-8").split("\0"):
        source = REPO / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def in_checkout(script: str) -> str:
    """Return ``script`` run from the checkout, as the README's relative paths expect."""
    return f"cd {CHECKOUT_INSIDE}\n{script}"


def config_install(yaml_text: str) -> str:
    """Return the command that writes the configuration as README step 3 says: owner
    root:dropscribe, mode 0640."""
    return f"install -m 0640 -o root -g dropscribe /dev/stdin {CONFIG} <<'YAML'\n{yaml_text}YAML\n"


def install_as_readme_says(container: Container, steps: InstallSteps) -> None:
    """Run README steps 1, 2, 3 (with its check) and 5 inside; step 4 is for a remote API and
    runs when the daemon is switched to the serve unit. Add the two test users."""
    copy_checkout(container)
    container.sh(steps.venv.replace(CHECKOUT_PLACEHOLDER, CHECKOUT_INSIDE), timeout=600)
    container.sh(in_checkout(steps.accounts))
    assert "(owner `root:dropscribe`, mode 0640)" in steps.prose, "README step 3 changed"
    container.sh(config_install(steps.config_yaml))
    container.sh(
        inline_command(steps.prose, "Check it, with the two folders the unit will hand over:")
    )
    usermod = inline_command(steps.prose, "Let a user drop files:")
    container.sh(f"useradd --create-home {DROPPER}\n{usermod.replace('alice', DROPPER)}")
    container.sh(f"useradd --create-home {OUTSIDER}")
    container.sh(in_checkout(steps.unit), timeout=START_TIMEOUT_SECONDS)


class Backend(StrEnum):
    """What the daemon runs against, as far as the tests know; OTHER after a test that left it
    stopped or misconfigured, so that the next test restarts it."""

    EMBEDDED = "embedded"  # the README's configuration: the in-process engine
    SERVE = "serve"  # dropscribe-serve.service on loopback, key from the credential
    OTHER = "other"


@dataclass
class Service:
    """The installed daemon (and the serve unit, once started) inside ``container``."""

    container: Container
    steps: InstallSteps
    backend: Backend = Backend.EMBEDDED
    serve_token: str = ""

    # -- reading ------------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Return every event of the audit trail so far, across restarts."""
        path = self.container.path(AUDIT)
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def events_since(
        self, mark: int, name: str | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        """Return the events after the first ``mark`` ones, of ``name`` and ``fields`` if given."""
        found = self.events()[mark:]
        if name is not None:
            found = [e for e in found if e.get("event") == name]
        return [e for e in found if all(e.get(k) == v for k, v in fields.items())]

    def wait_event(
        self, mark: int, name: str, timeout: float = 30.0, **fields: Any
    ) -> dict[str, Any]:
        """Return the first event ``name`` (with ``fields``) after ``mark``; fail after
        ``timeout`` seconds with the daemon's recent journal."""
        found = wait_for(
            lambda: self.events_since(mark, name, **fields),
            timeout,
            f"audit event {name} {fields or ''}",
            lambda: self.journal_tail(DAEMON),
        )
        return found[0]

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """Return ``systemctl show`` properties of ``unit``."""
        flags = " ".join(f"-p {p}" for p in properties)
        out = self.container.sh(f"systemctl show {flags} {unit}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self, unit: str = DAEMON) -> int:
        """Return the unit's main pid inside the container (0 when not running)."""
        return int(self.show(unit, "MainPID")["MainPID"])

    def journal_tail(self, unit: str, lines: int = 30) -> str:
        """Return the last lines of ``unit``'s journal."""
        script = f"journalctl -u {unit} --no-pager -n {lines} -o short"
        return self.container.sh(script, check=False).stdout

    def http_status(self, method: str, url: str, token: str | None) -> int:
        """Return the status of one HTTP request made inside (loopback is the only network)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        program = (
            "import sys, urllib.request, urllib.error\n"
            f"req = urllib.request.Request({url!r}, method={method!r}, headers={headers!r},"
            " data=b'{}' if " + repr(method) + " == 'POST' else None)\n"
            "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
            "except urllib.error.HTTPError as e:\n    print(e.code)\n"
        )
        return int(self.container.sh(f"python3 -c {shlex.quote(program)}").stdout)

    # -- acting -------------------------------------------------------------------------------

    def drop(self, fixture: str, name: str, user: str = DROPPER) -> None:
        """Have ``user`` copy a speech fixture into the inbox as ``name``."""
        source = f"{FIXTURES_INSIDE}/{fixture}"
        self.container.sh(f"runuser -u {user} -- cp {source} {INBOX}/{shlex.quote(name)}")

    def signal(self, pid: int, name: str) -> None:
        """Send signal ``name`` (STOP, CONT, ...) to ``pid`` inside."""
        self.container.sh(f"kill -{name} {pid}")

    def restart_daemon(self, mark: int) -> None:
        """Restart the daemon (start limit reset first: the tests restart it often) and wait
        for its daemon.started event after ``mark``."""
        self.container.sh(f"systemctl reset-failed {DAEMON}; systemctl restart {DAEMON}")
        self.wait_event(mark, "daemon.started", timeout=START_TIMEOUT_SECONDS)

    def use_embedded(self) -> None:
        """Run the daemon with the README's configuration: the embedded engine."""
        if self.backend is Backend.EMBEDDED and self.main_pid():
            return
        mark = len(self.events())
        self.container.sh(config_install(self.steps.config_yaml))
        self.restart_daemon(mark)
        self.backend = Backend.EMBEDDED

    def use_serve(self) -> None:
        """Run the daemon against dropscribe-serve.service on loopback, its token given to the
        daemon as the API key through README step 4's credential file."""
        if self.backend is Backend.SERVE and self.main_pid():
            return
        self.start_serve()
        self.container.sh(self.steps.api_key.replace(KEY_PLACEHOLDER, self.serve_token))
        served = f"api:\n  base_url: http://127.0.0.1:{SERVE_PORT}\n"
        mark = len(self.events())
        self.container.sh(config_install(self.steps.config_yaml + served))
        self.restart_daemon(mark)
        self.backend = Backend.SERVE

    def start_serve(self) -> None:
        """Install and start dropscribe-serve.service as its own comment says, once."""
        if self.serve_token:
            return
        match = SERVE_TOKEN_LINE.search(SERVE_UNIT_FILE.read_text(encoding="utf-8"))
        assert match is not None, "the serve unit no longer says how to install its token"
        self.container.sh(match.group(1))
        install = f"install -m 0644 systemd/{SERVE} /etc/systemd/system/"
        self.container.sh(in_checkout(f"{install}\nsystemctl daemon-reload"))
        self.container.sh(f"systemctl enable --now {SERVE}", timeout=START_TIMEOUT_SECONDS)
        token_path = "/etc/dropscribe/serve_token"
        self.serve_token = self.container.sh(f"cat {token_path}").stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", self.serve_token), "the token line changed"
        wait_for(
            lambda: self.serve_healthy(),
            START_TIMEOUT_SECONDS,
            "dropscribe-serve to answer /healthz",
            lambda: self.journal_tail(SERVE),
        )

    def serve_healthy(self) -> bool:
        """Return True once the serve unit answers /healthz."""
        try:
            url = f"http://127.0.0.1:{SERVE_PORT}/healthz"
            return self.http_status("GET", url, None) == 200
        except ContainerError:
            return False
