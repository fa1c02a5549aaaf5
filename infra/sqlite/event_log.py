"""The embedded event log: an append-only SQLite table, one partition per topic.

Events are stored in the same Avro single-object encoding as on Kafka, so a replay or an
export reads the same bytes whichever backend wrote them. Subscribers in this process are
woken at once by an ``asyncio.Event``; other processes' appends are seen by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Collection, Mapping, Sequence

from hub.events import Event
from hub.ports import Position, Recorded
from infra.avro import EventCodec, default_codec
from infra.sqlite.database import Database

PARTITION = 0
BATCH = 500
READ_BATCH = 5000
"""Rows per query when reading to the end (replays): fewer hops to the database thread."""


class SqliteEventLog:
    def __init__(
        self, db: Database, codec: EventCodec | None = None, poll_seconds: float = 0.1
    ) -> None:
        self._db = db
        self._codec = codec or default_codec()
        self._poll = poll_seconds
        self._appended = asyncio.Event()

    async def append(self, topic: str, key: str, event: Event) -> Position:
        payload = self._codec.encode(event)

        def insert(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic=? AND partition=?",
                (topic, PARTITION),
            ).fetchone()
            offset = int(row[0])
            conn.execute(
                "INSERT INTO events (topic, partition, offset, key, payload) VALUES (?,?,?,?,?)",
                (topic, PARTITION, offset, key, payload),
            )
            return offset

        offset = await self._db.run(self._db.transaction(insert))
        self._appended.set()  # wakes every waiting subscriber, then re-arms
        self._appended.clear()
        return Position(topic, PARTITION, offset)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic=? AND partition=?",
                (topic, PARTITION),
            ).fetchone()
        )
        return {PARTITION: int(row[0])}

    async def _batch(self, topic: str, start: int, stop: int | None,
                     types: Collection[str] | None = None,
                     limit: int = BATCH) -> tuple[list[Recorded], int]:
        """The next events (of ``types`` only, filtered by SQLite on the schema fingerprint
        in each payload's header, so skipped events never reach Python), and the last
        offset returned (-1: none left)."""
        sql = ("SELECT offset, key, payload FROM events WHERE topic=? AND partition=? "
               "AND offset >= ? AND offset < ?")
        params: list[object] = [topic, PARTITION, start, stop if stop is not None else 2**62]
        if types is not None:
            prints = self._codec.fingerprints_of(types)
            sql += f" AND substr(payload, 3, 8) IN ({','.join('?' * len(prints))})"
            params += prints
        rows = await self._db.run(
            lambda: self._db.conn.execute(sql + " ORDER BY offset LIMIT ?",
                                          [*params, limit]).fetchall()
        )
        found = [
            Recorded(Position(topic, PARTITION, off), key, self._codec.decode(payload))
            for off, key, payload in rows
        ]
        return found, int(rows[-1][0]) if rows else -1

    async def read(
        self, topic: str, start: Mapping[int, int] | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[Recorded]:
        offset = (start or {}).get(PARTITION, 0)
        stop = (await self.end_offsets(topic))[PARTITION]
        while offset < stop:
            batch, last = await self._batch(topic, offset, stop, types, READ_BATCH)
            for recorded in batch:
                yield recorded
            if last < 0:
                return
            offset = last + 1

    async def subscribe(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int] | None = None
    ) -> AsyncIterator[Recorded]:
        offsets = {t: (start or {}).get((t, PARTITION), 0) for t in topics}
        while True:
            found = False
            for topic in topics:
                batch, _ = await self._batch(topic, offsets[topic], None)
                for recorded in batch:
                    yield recorded
                if batch:
                    offsets[topic] = batch[-1].position.offset + 1
                    found = True
            if not found:
                await self._wait_for_append()

    async def _wait_for_append(self) -> None:
        with contextlib.suppress(TimeoutError):  # then poll: another process may append
            await asyncio.wait_for(self._appended.wait(), self._poll)

    async def close(self) -> None:
        """The database belongs to whoever opened it."""
