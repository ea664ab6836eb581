"""What each subcommand does, apart from parsing arguments and choosing exit codes (the cli
package).

``run``, ``once`` (:mod:`.runs`) and ``transcribe`` (:mod:`.transcribe`) build the parts
(:func:`dropscribe.app.build`), which takes the state folder's lock: one of them at a time per
state folder. ``status`` (:mod:`.status`), ``retry`` (:mod:`.requeue`) and ``acknowledge``
(:mod:`.acknowledge`) read and change the state file directly, so they work while a daemon
runs (it adopts requeued jobs within seconds); ``status`` says whether one does.
"""

from dropscribe.app.commands.acknowledge import Acknowledged, acknowledge
from dropscribe.app.commands.requeue import retry
from dropscribe.app.commands.runs import HardStop, once, run
from dropscribe.app.commands.status import StatusReport, format_status, status_report
from dropscribe.app.commands.transcribe import transcribe

__all__ = [
    "Acknowledged",
    "HardStop",
    "StatusReport",
    "acknowledge",
    "format_status",
    "once",
    "retry",
    "run",
    "status_report",
    "transcribe",
]
