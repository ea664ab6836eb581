"""The job store: one SQLite file, ``<state_dir>/state.db``; the only package that touches it.

:mod:`~dropscribe.state.store` holds :class:`StateStore`, made of the queries of
:mod:`~dropscribe.state.jobs` (jobs and their results),
:mod:`~dropscribe.state.acknowledgements` (incomplete transcripts still to be seen to) and
:mod:`~dropscribe.state.deliveries` (webhooks and messages to send) over one
:mod:`~dropscribe.state.state_file`; :mod:`~dropscribe.state.schema` holds the versioned schema and
:mod:`~dropscribe.state.storage_errors` tells "the file cannot be written now" from a wrong
statement. Callers import the public names from here.
"""

from dropscribe.state.schema import MIGRATIONS, SCHEMA_VERSION, StateDamaged, StateTooNew
from dropscribe.state.storage_errors import is_storage_error, storage_errors
from dropscribe.state.store import Observer, StateStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Observer",
    "StateDamaged",
    "StateStore",
    "StateTooNew",
    "is_storage_error",
    "storage_errors",
]
