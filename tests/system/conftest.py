"""The system tests' one container: Debian booted with systemd as PID 1, dropscribe installed
in it by the README's own steps.

The Debian root and the wheels come from a cache outside the clone (see
:mod:`support.debian_root`); a cold build takes about two minutes, a warm start only the boot
and the install. Where the time went is printed at the end of the run. These tests need root
(debootstrap, overlay mounts, systemd-nspawn) and never skip: without root or the tools they
fail and say what is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from support.container import booted
from support.debian_root import (
    CACHE_ENV,
    DEFAULT_CACHE,
    HOSTNAME,
    WHEELHOUSE_INSIDE,
    cached_root,
    cached_wheels,
)
from support.installed_service import (
    FIXTURES_INSIDE,
    REPO,
    Service,
    install_as_readme_says,
    make_recordings,
)
from support.readme_install import install_steps

#: This folder, whose tests share one booted container.
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep every system test in one pytest-xdist worker (``--dist loadgroup``): they share
    one booted container, which a second worker would build and boot again."""
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.xdist_group("system"))


#: Seconds spent in each phase of the setup, printed in the terminal summary.
TIMINGS: dict[str, float] = {}


def timed(phase: str, started: float) -> None:
    """Record the seconds since ``started`` as ``phase``'s."""
    TIMINGS[phase] = time.monotonic() - started


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Yield the installed service in a booted container, the daemon running the README's
    configuration."""
    if os.geteuid() != 0:
        pytest.fail("the system tests need root: debootstrap, overlay mounts, systemd-nspawn")
    started = time.monotonic()
    wheels, TIMINGS["wheelhouse download (0 when cached)"] = cached_wheels(REPO / "pyproject.toml")
    root, TIMINGS["Debian root build (0 when cached)"] = cached_root()
    work = tmp_path_factory.mktemp("system")
    recordings = make_recordings(work / "recordings")
    binds = {wheels: WHEELHOUSE_INSIDE, recordings: FIXTURES_INSIDE}
    with booted(root, work / "container", binds, HOSTNAME) as container:
        timed("ready to install (cache, overlay, boot)", started)
        installing = time.monotonic()
        steps = install_steps()
        install_as_readme_says(container, steps)
        timed("README install steps (venv, pip, units)", installing)
        yield Service(container, steps)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the system tests' set-up time went (a cold cache costs minutes)."""
    if not TIMINGS:
        return
    terminalreporter.section("system tests: set-up time")
    for phase, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{seconds:7.1f} s  {phase}")
    terminalreporter.write_line(f"cache: {os.environ.get(CACHE_ENV, str(DEFAULT_CACHE))}")
