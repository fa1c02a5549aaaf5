"""Projections on Cassandra.

Rows and the tracking record go in one LOGGED batch: Cassandra guarantees that either
all of it eventually applies or none does, so a row is never kept without the position
that produced it. Upserts are idempotent, and each partition of a topic has one consumer,
so check-then-write on the tracking record is safe — and a consumer that remembers the
offset it last applied (``last_applied``, see ``streams/tracking.py``) skips the read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cassandra.query import BatchStatement, BatchType

from hub.ports import Position, Row, RowRef
from infra.cassandra.session import CassandraSession

UPSERT = "INSERT INTO projection_rows (view_name, part, row_key, body) VALUES (?, ?, ?, ?)"
DELETE = "DELETE FROM projection_rows WHERE view_name = ? AND part = ? AND row_key = ?"
TRACK = ("INSERT INTO projection_tracking (tracker, topic, log_partition, log_offset) "
         "VALUES (?, ?, ?, ?)")
TRACKED = ("SELECT log_partition, log_offset FROM projection_tracking "
           "WHERE tracker = ? AND topic = ?")
GET = "SELECT body FROM projection_rows WHERE view_name = ? AND part = ? AND row_key = ?"
SCAN = "SELECT row_key, body FROM projection_rows WHERE view_name = ? AND part = ?"


class CassandraProjections:
    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def apply(
        self,
        tracker: str,
        position: Position,
        upserts: Sequence[Row] = (),
        deletes: Sequence[RowRef] = (),
        *,
        last_applied: int | None = None,
    ) -> bool:
        done = last_applied if last_applied is not None else (
            await self.tracked(tracker, position.topic)).get(position.partition)
        if done is not None and done >= position.offset:
            return False
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        upsert, delete, track = [await self._db.prepare(q) for q in (UPSERT, DELETE, TRACK)]
        for row in upserts:
            batch.add(upsert, (row.ref.view, row.ref.partition, row.ref.key, json.dumps(row.body)))
        for ref in deletes:
            batch.add(delete, (ref.view, ref.partition, ref.key))
        batch.add(track, (tracker, position.topic, position.partition, position.offset))
        await self._db.execute(batch)
        return True

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        rows = await self._db.execute(await self._db.prepare(TRACKED), (tracker, topic))
        return {int(r.log_partition): int(r.log_offset) for r in rows}

    async def get(self, ref: RowRef) -> Row | None:
        rows = await self._db.execute(
            await self._db.prepare(GET), (ref.view, ref.partition, ref.key)
        )
        return Row(ref, json.loads(rows[0].body)) if rows else None

    async def scan(self, view: str, partition: str) -> list[Row]:
        rows = await self._db.execute(await self._db.prepare(SCAN), (view, partition))
        return [Row(RowRef(view, partition, r.row_key), json.loads(r.body)) for r in rows]

    async def close(self) -> None:
        """The session belongs to whoever opened it."""
