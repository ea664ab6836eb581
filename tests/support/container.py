"""A Debian root booted with systemd as PID 1 in ``systemd-nspawn``, and commands run inside it.

:func:`booted` mounts an overlay over a (cached, read-only) root, so a run never changes the
cache, boots it with ``systemd-nspawn --keep-unit --register=no -b`` (without ``--keep-unit``
nspawn asks a system bus this machine does not run) and a private network (loopback only), waits
until systemd reports the system running, and powers it off and unmounts on the way out.

:meth:`Container.sh` runs a shell script as root inside, through ``nsenter`` into the
namespaces and root of the container's PID 1, so it sees the container's systemd, users and
files exactly as a login shell would. Files are also readable from this side through
:meth:`Container.path` (the overlay's merged view).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

#: The environment of a command inside: a root login's, nothing from the test process.
INSIDE_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
)
#: How long booting may take, nspawn start to `is-system-running`, in seconds (about 5 here).
BOOT_TIMEOUT_SECONDS = 120.0
#: How long the container may take to power off after nspawn's SIGTERM, in seconds: the units'
#: own stop timeouts (45 s for the daemon) plus room. After that its PID 1 is killed, which
#: ends every process of the container; killing only nspawn would leave them running.
POWEROFF_TIMEOUT_SECONDS = 90.0
#: Where the cgroup hierarchies nspawn uses are mounted: cgroup v1's name=systemd and the
#: unified one beside it (a hybrid host), or the unified one alone (a cgroup v2 host).
CGROUP_MOUNTS = {"name=systemd": Path("/sys/fs/cgroup/systemd"), "": Path("/sys/fs/cgroup")}
HYBRID_UNIFIED = Path("/sys/fs/cgroup/unified")
#: Seconds between two checks of a condition.
CHECK_INTERVAL_SECONDS = 0.2
#: The default limit of one command inside, in seconds: a hang guard, not a target.
COMMAND_TIMEOUT_SECONDS = 120.0


class ContainerError(AssertionError):
    """A command inside failed or a wait timed out; the message says what and shows output."""


def wait_for(
    check: Callable[[], T | None], timeout: float, what: str, why: Callable[[], str] = str
) -> T:
    """Return the first truthy result of ``check()``; raise ContainerError after ``timeout``
    seconds, with ``what`` and the text ``why()`` returns then."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise ContainerError(f"timed out after {timeout:.0f} s waiting for {what}\n{why()}")
        time.sleep(CHECK_INTERVAL_SECONDS)


def children(pid: int) -> list[int]:
    """Return the process ids of the children of ``pid`` (none if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(word) for word in text.split()]


def is_namespace_init(pid: int) -> bool:
    """Return True if ``pid`` is PID 1 of a PID namespace below ours."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


def container_init(nspawn_pid: int) -> int | None:
    """Return the host pid of the container's PID 1 under ``nspawn_pid``, once it exists."""
    pending = children(nspawn_pid)
    while pending:
        pid = pending.pop()
        if is_namespace_init(pid):
            return pid
        pending.extend(children(pid))
    return None


@dataclass(frozen=True)
class Container:
    """A booted container: its nspawn process, its PID 1 (host pid) and its root on this side."""

    nspawn: subprocess.Popen[bytes]
    init_pid: int
    root: Path
    console_log: Path

    def sh(
        self, script: str, *, check: bool = True, timeout: float = COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with ``bash -euo pipefail`` as root inside; return its result.

        Raise ContainerError, with the script and its output, if it exits non-zero and
        ``check`` is true.
        """
        namespaces = ["--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup"]
        argv = ["nsenter", f"--target={self.init_pid}", *namespaces, "--root", "--wd"]
        argv += ["env", "-i", *INSIDE_ENV, "bash", "-euo", "pipefail", "-c", script]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
        if check and result.returncode != 0:
            raise ContainerError(
                f"exit status {result.returncode} from, inside the container:\n{script}\n"
                f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
            )
        return result

    def path(self, inside: str) -> Path:
        """Return the path on this side of the absolute path ``inside`` the container."""
        return self.root / inside.lstrip("/")

    def console_tail(self, lines: int = 40) -> str:
        """Return the last lines the container printed on its console."""
        text = self.console_log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def require_tools(*names: str) -> None:
    """Fail, saying how to install them, if any of the host tools ``names`` is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise ContainerError(
            f"{', '.join(missing)} not installed: run .ci/install-debian-packages "
            "(systemd-container, debootstrap)"
        )


@contextmanager
def overlay(lower: Path, work: Path) -> Iterator[Path]:
    """Mount a writable overlay over the read-only ``lower`` under ``work``; yield its root."""
    upper, scratch, merged = work / "upper", work / "work", work / "root"
    for folder in (upper, scratch, merged):
        folder.mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={scratch}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    try:
        yield merged
    finally:
        subprocess.run(["umount", "--lazy", str(merged)], check=False)
        # The upper layer holds a whole virtual environment: do not leave it to pytest's
        # retention of old temporary folders.
        shutil.rmtree(work, ignore_errors=True)


def nspawn_argv(root: Path, binds: Mapping[Path, str], hostname: str) -> list[str]:
    """Return the command that boots ``root`` with read-only ``binds`` (host path -> inside)."""
    argv = ["systemd-nspawn", "--keep-unit", "--register=no", "--settings=no", "--quiet"]
    argv += ["--directory", str(root), "--boot", "--private-network", "--console=read-only"]
    argv += [f"--hostname={hostname}"]
    return argv + [f"--bind-ro={host}:{inside}" for host, inside in binds.items()]


def wait_until_running(container: Container) -> None:
    """Wait until systemd inside reports the system running; fail with the failed units."""

    def state() -> str:
        # Empty until systemd listens on its private socket, early in the boot.
        script = "systemctl is-system-running --wait"
        return container.sh(script, check=False, timeout=BOOT_TIMEOUT_SECONDS).stdout.strip()

    final = wait_for(
        state, BOOT_TIMEOUT_SECONDS, "systemd to finish booting", container.console_tail
    )
    if final != "running":
        failed = container.sh("systemctl --failed --no-pager", check=False).stdout
        raise ContainerError(f"the container booted {final!r}:\n{failed}")


def power_off(nspawn: subprocess.Popen[bytes]) -> None:
    """Ask nspawn to power the container off (SIGTERM); if that takes too long, kill the
    container's PID 1 (and with it every process inside), then nspawn."""
    if nspawn.poll() is not None:
        return
    nspawn.send_signal(signal.SIGTERM)
    try:
        nspawn.wait(timeout=POWEROFF_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        init = container_init(nspawn.pid)
        if init is not None:
            os.kill(init, signal.SIGKILL)
        nspawn.kill()
        nspawn.wait(timeout=POWEROFF_TIMEOUT_SECONDS)


def own_cgroups(name: str) -> list[Path]:
    """Return a new cgroup ``name`` below this process's own, in each hierarchy nspawn uses.

    nspawn --keep-unit puts the container in "payload" beside its own cgroup: two containers
    started from the same cgroup (two test runs at once) would share it. Each run's nspawn
    moves into its own cgroup first (:func:`in_cgroups`).
    """
    made = []
    for line in Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines():
        _, controllers, path = line.split(":", 2)
        mount = CGROUP_MOUNTS.get(controllers)
        if controllers == "" and HYBRID_UNIFIED.is_dir():
            mount = HYBRID_UNIFIED
        if mount is None or not (mount / "cgroup.procs").exists():
            continue
        folder = mount / path.lstrip("/") / name
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            continue  # a read-only cgroup tree: nspawn stays where it is, as before
        made.append(folder)
    return made


def in_cgroups(argv: list[str], cgroups: list[Path]) -> list[str]:
    """Return ``argv`` preceded by a shell that moves itself into ``cgroups`` and then execs it
    (a shell rather than a preexec function: the test process may have threads)."""
    moves = "".join(f'echo "$$" > {shlex.quote(str(c / "cgroup.procs"))}; ' for c in cgroups)
    return ["sh", "-c", f'{moves}exec "$@"', "nspawn", *argv]


def remove_cgroups(cgroups: list[Path]) -> None:
    """Remove the (now empty) cgroups of a run and what nspawn left inside them."""
    for cgroup in cgroups:
        for folder in sorted(cgroup.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextmanager
def booted(
    lower: Path, work: Path, binds: Mapping[Path, str], hostname: str
) -> Iterator[Container]:
    """Boot an overlay of ``lower`` (kept under ``work``) and yield the running container."""
    require_tools("systemd-nspawn", "nsenter")
    with overlay(lower, work / "overlay") as root:
        console_log = work / "console.log"
        cgroups = own_cgroups(f"dropscribe-system-test-{os.getpid()}")
        with open(console_log, "wb") as console:
            nspawn = start_nspawn(nspawn_argv(root, binds, hostname), console, cgroups)
            try:
                yield boot_wait(nspawn, root, console_log)
            finally:
                power_off(nspawn)
                remove_cgroups(cgroups)


def start_nspawn(
    argv: list[str], console: IO[bytes], cgroups: list[Path]
) -> subprocess.Popen[bytes]:
    """Start nspawn in its own ``cgroups``, its console going to ``console``."""
    return subprocess.Popen(
        in_cgroups(argv, cgroups), stdin=subprocess.DEVNULL, stdout=console, stderr=console
    )


def boot_wait(nspawn: subprocess.Popen[bytes], root: Path, console_log: Path) -> Container:
    """Return the container once its PID 1 exists and systemd reports the system running."""

    def init_pid() -> int | None:
        if nspawn.poll() is not None:
            text = console_log.read_text(encoding="utf-8", errors="replace")
            raise ContainerError(f"systemd-nspawn exited with {nspawn.returncode}:\n{text}")
        return container_init(nspawn.pid)

    pid = wait_for(init_pid, BOOT_TIMEOUT_SECONDS, "the container's PID 1")
    container = Container(nspawn=nspawn, init_pid=pid, root=root, console_log=console_log)
    wait_until_running(container)
    return container
