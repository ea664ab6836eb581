"""What ``dropscribe worker`` runs with, checked: built by ``cli.worker``, run by
``cli.worker_node``."""

from __future__ import annotations

from dataclasses import dataclass, field

from dropscribe.engine.pieces import PIECE_SECONDS
from dropscribe.server.locations import StorageKeys, StorageLocation
from dropscribe.server.options import DEFAULT_MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class WorkerOptions:
    """Everything ``dropscribe worker`` needs, checked."""

    broker: str = field(repr=False)
    storage: StorageLocation
    workers: int
    models: tuple[str, ...]
    retention_hours: float
    health_host: str
    health_port: int
    max_audio_hours: float
    piece_seconds: float = PIECE_SECONDS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    storage_keys: StorageKeys | None = None
