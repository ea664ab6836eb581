"""A Debian root folder that boots with systemd as PID 1, and the wheels to install into it.

Both are built once and kept in a cache folder outside the clone (``CACHE_ENV`` or
``DEFAULT_CACHE``), each under a name made of a hash of what went into it:

- ``root-<key>``: ``debootstrap --variant=minbase`` of Debian with :data:`PACKAGES`, keyed by the
  suite, the mirror, the package list and :data:`ROOT_RECIPE`. Cold, this takes about 90 s;
  later runs only mount it read-only under an overlay.
- ``wheels-<key>``: every dependency of the checkout (and the build backend) as wheels for the
  root's Python, from the index pip is configured with on this machine; keyed by the
  dependency lists in ``pyproject.toml``. The checkout itself is not in it: the README's install
  step builds it from source inside the container, offline, from these wheels.

A lock file serialises two test runs that would build the same thing; a build goes to a
temporary name and is renamed into place when complete, so an interrupted build is never used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Where the cache lives unless ``CACHE_ENV`` says otherwise: outside any clone, so that a
#: fresh clone in CI reuses it.
DEFAULT_CACHE = Path("/var/cache/dropscribe-system-test")
CACHE_ENV = "DROPSCRIBE_SYSTEM_TEST_CACHE"
#: The Debian release the root is built from: the one this project supports (systemd 252).
SUITE = "bookworm"
#: The mirror debootstrap downloads from unless ``MIRROR_ENV`` says otherwise; the same one the
#: development machines' apt uses.
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "DROPSCRIBE_DEBIAN_MIRROR"
#: Packages added to debootstrap's minimal base, each for a step of the README or a check.
PACKAGES = (
    "systemd",  # PID 1, systemctl, journald, systemd-sysusers, systemd-tmpfiles
    "systemd-sysv",  # /sbin/init, which systemd-nspawn --boot runs
    "python3",  # the interpreter of the service's virtual environment (README step 1)
    "python3-venv",  # `python3 -m venv` (Debian ships ensurepip separately)
    "sudo",  # README step 3: `sudo -u dropscribe ... check-config`
    "openssl",  # the serve unit's install line: `openssl rand -hex 32` makes the token
)
#: Bump when the steps after debootstrap change, so that an old root is not reused.
ROOT_RECIPE = 1
#: The host name the container boots with, also written to the root's /etc/hosts so that sudo
#: can resolve it.
HOSTNAME = "dropscribe-test"
#: pip's configuration inside the root: the wheelhouse is bound at this path and pip never
#: looks anywhere else, as on a server without access to an index.
WHEELHOUSE_INSIDE = "/wheelhouse"
PIP_CONF = f"[global]\nno-index = true\nfind-links = {WHEELHOUSE_INSIDE}\n"
#: The Python of the root (Debian 12: 3.11) and the platforms its wheels may be built for.
ROOT_PYTHON = "3.11"
ROOT_PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
)
#: A cold debootstrap takes about 90 s here; this guards against a hung download only.
DEBOOTSTRAP_TIMEOUT_SECONDS = 900
PIP_TIMEOUT_SECONDS = 600
#: The file a complete root or wheelhouse carries, written last.
COMPLETE_MARK = ".complete"


def cache_folder() -> Path:
    """Return the cache folder, created if needed."""
    folder = Path(os.environ.get(CACHE_ENV, str(DEFAULT_CACHE)))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mirror() -> str:
    """Return the Debian mirror debootstrap uses."""
    return os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)


def digest(*parts: object) -> str:
    """Return a short stable hash of the JSON form of ``parts``."""
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def root_key() -> str:
    """Return the cache key of the Debian root."""
    return digest(SUITE, mirror(), sorted(PACKAGES), ROOT_RECIPE)


def python_requirements(pyproject: Path) -> list[str]:
    """Return the checkout's runtime dependencies and its build backend's requirements."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return [*data["project"]["dependencies"], *data["build-system"]["requires"]]


def wheels_key(requirements: list[str]) -> str:
    """Return the cache key of the wheelhouse."""
    return digest(sorted(requirements), ROOT_PYTHON, ROOT_PLATFORMS)


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the duration of the block."""
    with open(lock_file, "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_checked(argv: list[str], timeout: float) -> None:
    """Run a build command; raise RuntimeError with its output's tail if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"{argv[0]} failed with exit status {result.returncode}:\n{tail}")


def build_once(target: Path, build: Callable[[Path], None]) -> float:
    """Build ``target`` with ``build(folder)`` unless it is complete; return the seconds spent.

    The build goes to a temporary folder beside the target, renamed into place when complete.
    """
    if (target / COMPLETE_MARK).exists():
        return 0.0
    started = time.monotonic()
    partial = target.with_name(f"{target.name}.partial")
    for stale in (partial, target):
        if stale.exists():
            shutil.rmtree(stale)
    build(partial)
    (partial / COMPLETE_MARK).write_text("", encoding="ascii")
    partial.rename(target)
    return time.monotonic() - started


def debootstrap(folder: Path) -> None:
    """Make a bootable Debian root in ``folder``."""
    debootstrap_path = shutil.which("debootstrap")
    if debootstrap_path is None:
        raise RuntimeError("debootstrap is not installed: run .ci/install-debian-packages")
    argv = [debootstrap_path, "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    run_checked([*argv, SUITE, str(folder), mirror()], DEBOOTSTRAP_TIMEOUT_SECONDS)
    configure_root(folder)


def configure_root(folder: Path) -> None:
    """Give the root what a server's installer would: a host name that resolves, pip's
    configuration, apt's sources of this machine, and no machine id (made at each boot)."""
    (folder / "etc" / "hostname").write_text(f"{HOSTNAME}\n", encoding="ascii")
    with open(folder / "etc" / "hosts", "a", encoding="ascii") as hosts:
        hosts.write(f"127.0.1.1 {HOSTNAME}\n")
    (folder / "etc" / "pip.conf").write_text(PIP_CONF, encoding="ascii")
    host_sources = Path("/etc/apt/sources.list.d/debian.sources")
    if host_sources.exists():
        shutil.copy(host_sources, folder / "etc" / "apt" / "sources.list.d" / host_sources.name)
    (folder / "etc" / "machine-id").write_text("", encoding="ascii")


def download_wheels(requirements: list[str]) -> Callable[[Path], None]:
    """Return a builder that fills a folder with wheels of ``requirements`` for the root."""

    def build(folder: Path) -> None:
        platforms = [arg for platform in ROOT_PLATFORMS for arg in ("--platform", platform)]
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
        argv += ["--only-binary=:all:", "--python-version", ROOT_PYTHON, *platforms]
        run_checked([*argv, *requirements], PIP_TIMEOUT_SECONDS)

    return build


def cached_root() -> tuple[Path, float]:
    """Return the complete Debian root, building it if needed, and the seconds the build took."""
    cache = cache_folder()
    target = cache / f"root-{root_key()}"
    with locked(cache / "root.lock"):
        return target, build_once(target, debootstrap)


def cached_wheels(pyproject: Path) -> tuple[Path, float]:
    """Return the complete wheelhouse for the checkout's dependencies, downloading it if needed,
    and the seconds that took."""
    cache = cache_folder()
    requirements = python_requirements(pyproject)
    target = cache / f"wheels-{wheels_key(requirements)}"
    with locked(cache / "wheels.lock"):
        return target, build_once(target, download_wheels(requirements))
