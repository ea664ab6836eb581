"""The daemon-wide pauses of a run, built from the settings: the outage pause (the service is
down) and the full-disk pause (the state folder cannot be written). Each starts by clearing a
pause an earlier run recorded."""

from __future__ import annotations

import contextlib

from dropscribe.app.folders import state_dir
from dropscribe.app.keys import pause_recorder
from dropscribe.app.pauses import SERVICE_PAUSE_FILE, STORAGE_PAUSE_FILE
from dropscribe.config import Settings
from dropscribe.core.fsio import write_atomic
from dropscribe.pipeline import Clock
from dropscribe.pipeline.gates.outage import OutageRule, ServiceGate
from dropscribe.pipeline.gates.pause import ProbeTiming
from dropscribe.pipeline.gates.storage import PROBE_BYTES, StorageGate
from dropscribe.pipeline.ports import Audit
from dropscribe.scheduler import Scheduler
from dropscribe.state import StateStore

# The file a storage probe writes (and removes) in the state folder.
STORAGE_PROBE_FILE = ".storage-probe"


def service_gate(settings: Settings, scheduler: Scheduler, log: Audit, clock: Clock) -> ServiceGate:
    """Return the outage pause of this run; a pause left by an earlier run is over."""
    record = pause_recorder(state_dir(settings), SERVICE_PAUSE_FILE)
    record(None, None)
    r = settings.retry
    timing = ProbeTiming(r.outage_probe_first_seconds, r.outage_probe_max_seconds)
    rule = OutageRule(min_failures=r.outage_min_failures, min_seconds=r.outage_after_seconds)
    return ServiceGate(scheduler.hold, log, clock.time, timing, record, rule)


def storage_gate(
    settings: Settings, store: StateStore, scheduler: Scheduler, log: Audit, clock: Clock
) -> StorageGate:
    """Return the full-disk pause of this run: its probe writes PROBE_BYTES beside the state
    file, then a transaction to it."""
    folder = state_dir(settings)
    record = pause_recorder(folder, STORAGE_PAUSE_FILE)
    with contextlib.suppress(OSError):
        record(None, None)  # a pause left by an earlier run is over

    def probe() -> None:
        try:
            write_atomic(folder / STORAGE_PROBE_FILE, bytes(PROBE_BYTES))
        finally:
            (folder / STORAGE_PROBE_FILE).unlink(missing_ok=True)
        store.probe()

    r = settings.retry
    timing = ProbeTiming(r.outage_probe_first_seconds, r.outage_probe_max_seconds)
    return StorageGate(scheduler.hold, log, clock.time, timing, probe, record)
