"""Projections on Cassandra.

Rows and the tracking record go in one LOGGED batch: Cassandra guarantees that either
all of it eventually applies or none does, so a row is never kept without the position
that produced it. Upserts are idempotent, and each partition of a topic has one consumer,
so check-then-write on the tracking record is safe — and a consumer that remembers the
offset it last applied (``last_applied``, see ``streams/tracking.py``) skips the read.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

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
SCAN_FROM = SCAN + " AND row_key >= ?"
SCAN_TO = SCAN + " AND row_key < ?"
SCAN_RANGE = SCAN + " AND row_key >= ? AND row_key < ?"
BULK_ROWS = 100
"""Rows per unlogged batch in bulk writes: one partition each, so one mutation."""
BULK_CONCURRENCY = 32


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

    async def scan(self, view: str, partition: str, start: str | None = None,
                   stop: str | None = None) -> list[Row]:
        query, params = SCAN, [view, partition]
        if start is not None and stop is not None:
            query, params = SCAN_RANGE, [*params, start, stop]
        elif start is not None:
            query, params = SCAN_FROM, [*params, start]
        elif stop is not None:
            query, params = SCAN_TO, [*params, stop]
        rows = await self._db.execute_all(await self._db.prepare(query), params)
        return [Row(RowRef(view, partition, r.row_key), json.loads(r.body)) for r in rows]

    async def write(self, upserts: Sequence[Row] = (), deletes: Sequence[RowRef] = ()) -> None:
        """Unlogged batches of one partition each, several in flight."""
        upsert, delete = await self._db.prepare(UPSERT), await self._db.prepare(DELETE)
        groups: dict[tuple[str, str], list[tuple[Any, tuple[Any, ...]]]] = defaultdict(list)
        for row in upserts:
            groups[(row.ref.view, row.ref.partition)].append(
                (upsert, (row.ref.view, row.ref.partition, row.ref.key, json.dumps(row.body))))
        for ref in deletes:
            groups[(ref.view, ref.partition)].append((delete, (ref.view, ref.partition, ref.key)))
        batches = []
        for statements in groups.values():
            for i in range(0, len(statements), BULK_ROWS):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for statement, params in statements[i:i + BULK_ROWS]:
                    batch.add(statement, params)
                batches.append(batch)
        gate = asyncio.Semaphore(BULK_CONCURRENCY)

        async def send(batch: BatchStatement) -> None:
            async with gate:
                await self._db.execute(batch)

        await asyncio.gather(*(send(b) for b in batches))

    async def close(self) -> None:
        """The session belongs to whoever opened it."""
