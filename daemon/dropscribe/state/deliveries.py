"""The deliveries of webhooks and messages in the state file: the queue their senders work.

A delivery is written in the same transaction as the transition it announces (see
:meth:`~dropscribe.state.StateStore.save`), so a crash never keeps a transition without its
deliveries, nor deliveries of a transition that was not saved. A sender claims one for a lease,
then forgets it, retries it later or abandons it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Collection, Iterable
from typing import Any

from dropscribe.core.announcements import Channel, Delivery, Topic
from dropscribe.state.state_file import StateFile

# The deliveries table has one column per Delivery field, in the same order, then abandoned.
_DELIVERY_COLUMNS = tuple(f.name for f in dataclasses.fields(Delivery))


class DeliveriesTable(StateFile):
    """The pending and abandoned deliveries (they are written by :func:`write_deliveries`)."""

    def claim_delivery(
        self,
        now: float,
        lease_seconds: float,
        skip_endpoints: Collection[str] = (),
        skip_ids: Collection[str] = (),
    ) -> Delivery | None:
        """Return the pending delivery due earliest (at ``now`` or before), none of whose
        receiver is in ``skip_endpoints`` nor whose id is in ``skip_ids``, and push its due
        time ``lease_seconds`` ahead, so no other sender takes it meanwhile and a crash
        mid-send only delays it; None if none is due."""
        endpoints, ids = tuple(skip_endpoints), tuple(skip_ids)
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries "
                "WHERE abandoned IS NULL AND next_due <= ? "
                f"AND endpoint NOT IN ({_marks(endpoints)}) AND id NOT IN ({_marks(ids)}) "
                "ORDER BY next_due LIMIT 1",
                (now, *endpoints, *ids),
            ).fetchone()
            if row is None:
                return None
            delivery = _delivery_from_row(row)
            db.execute(
                "UPDATE deliveries SET next_due = ? WHERE id = ?",
                (now + lease_seconds, delivery.id),
            )
        return delivery

    def delivered(self, delivery_id: str) -> None:
        """Forget a delivery its receiver accepted."""
        with self._transaction() as db:
            db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def delivery_failed(
        self, delivery_id: str, attempts: int, error: str, next_due: float | None, now: float
    ) -> None:
        """Record a failed attempt: due again at ``next_due``, or abandoned (None) at ``now``."""
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET attempts = ?, last_error = ?, next_due = ?, abandoned = ? "
                "WHERE id = ?",
                (
                    attempts,
                    error,
                    now if next_due is None else next_due,
                    now if next_due is None else None,
                    delivery_id,
                ),
            )

    def delivery_counts(self) -> dict[str, int]:
        """Return how many deliveries are pending and how many were abandoned."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) - COUNT(abandoned), COUNT(abandoned) FROM deliveries"
            ).fetchone()
        return {"pending": int(row[0]), "abandoned": int(row[1])}

    def abandoned_deliveries(self, limit: int) -> list[Delivery]:
        """Return up to ``limit`` abandoned deliveries, most recently abandoned first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries "
                "WHERE abandoned IS NOT NULL ORDER BY abandoned DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_delivery_from_row(row) for row in rows]


def write_deliveries(db: sqlite3.Connection, deliveries: Iterable[Delivery]) -> None:
    """Insert ``deliveries`` in the open transaction; one whose id is stored already stays."""
    marks = ", ".join("?" for _ in _DELIVERY_COLUMNS)
    db.executemany(
        f"INSERT OR IGNORE INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) VALUES ({marks})",
        [_delivery_row(d) for d in deliveries],
    )


def _delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    fields = {c: getattr(delivery, c) for c in _DELIVERY_COLUMNS}
    fields["channel"] = delivery.channel.value
    fields["topic"] = delivery.topic.value
    return tuple(fields.values())


def _delivery_from_row(row: Iterable[Any]) -> Delivery:
    fields = dict(zip(_DELIVERY_COLUMNS, row, strict=True))
    fields["channel"] = Channel(fields["channel"])
    fields["topic"] = Topic(fields["topic"])
    return Delivery(**fields)


def _marks(values: tuple[str, ...]) -> str:
    """Return the placeholders of an ``IN (...)`` list of ``values`` (an empty list matches
    nothing, which SQLite allows)."""
    return ", ".join("?" * len(values))
