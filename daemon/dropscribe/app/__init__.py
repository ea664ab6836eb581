"""Composition: every part built in one phase from the settings; start and stop order,
signals, systemd notification and the single-instance lock.

:func:`build` returns the parts complete. Build order follows the data's path backwards, so
that nothing is taken in before there is somewhere for it to go: the lock on the state folder
-> the state file -> custody and the outbox -> the scheduler -> the service connection (the
embedded server, when configured, is started here: the client is made for its address) -> the
pipeline. :meth:`Service.start` then settles failed moves, adopts orphans, recovers the jobs,
starts the workers, scans the inbox and starts the observer. Shutdown is the reverse: stop
intake first, then let transfers in flight finish (up to the drain timeout), then stop the
server they talk to, then close the state file and release the lock.

Signal handlers only set flags: the first SIGTERM or SIGINT drains, a second one stops at once
(every transition is already committed, so the state stays consistent); SIGHUP reads the
configuration again (service.reload) and rescans.
"""

from dropscribe.app.daemon import Flags, Service, install_signal_handlers
from dropscribe.app.folders import check_folders, folders_of, state_dir
from dropscribe.app.keys import read_pause
from dropscribe.app.lock import AlreadyRunning, StateLock, lock_holder
from dropscribe.app.options import pipeline_options
from dropscribe.app.parts import Parts, build
from dropscribe.app.pauses import describe as describe_pause
from dropscribe.app.pauses import read_pauses
from dropscribe.app.remote import Remote, connect, wake_poll

__all__ = [
    "AlreadyRunning",
    "Flags",
    "Parts",
    "Remote",
    "Service",
    "StateLock",
    "build",
    "check_folders",
    "connect",
    "describe_pause",
    "folders_of",
    "install_signal_handlers",
    "lock_holder",
    "pipeline_options",
    "read_pause",
    "read_pauses",
    "state_dir",
    "wake_poll",
]
