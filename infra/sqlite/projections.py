"""Embedded projections: rows and tracking records in one SQLite transaction, so a row
is never written without the position that produced it (exactly-once under replay)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from hub.ports import Position, Row, RowRef
from infra.sqlite.database import Database


class SqliteProjections:
    def __init__(self, db: Database) -> None:
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
        """``last_applied`` is not needed: the check below runs inside the write's own
        transaction, on the same trip to the database thread, and stays the authority."""

        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT offset FROM projection_tracking WHERE tracker=? AND topic=? "
                "AND partition=?",
                (tracker, position.topic, position.partition),
            ).fetchone()
            if row is not None and row[0] >= position.offset:
                return False
            _write_rows(conn, upserts, deletes)
            conn.execute(
                "INSERT OR REPLACE INTO projection_tracking (tracker, topic, partition, offset) "
                "VALUES (?,?,?,?)",
                (tracker, position.topic, position.partition, position.offset),
            )
            return True

        return await self._db.run(self._db.transaction(write))

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        rows = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT partition, offset FROM projection_tracking WHERE tracker=? AND topic=?",
                (tracker, topic),
            ).fetchall()
        )
        return {int(p): int(o) for p, o in rows}

    async def get(self, ref: RowRef) -> Row | None:
        found = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT body FROM projection_rows WHERE view=? AND part=? AND key=?",
                (ref.view, ref.partition, ref.key),
            ).fetchone()
        )
        return None if found is None else Row(ref, json.loads(found[0]))

    async def scan(self, view: str, partition: str, start: str | None = None,
                   stop: str | None = None) -> list[Row]:
        sql = "SELECT key, body FROM projection_rows WHERE view=? AND part=?"
        params: list[str] = [view, partition]
        if start is not None:
            sql, params = sql + " AND key >= ?", [*params, start]
        if stop is not None:
            sql, params = sql + " AND key < ?", [*params, stop]
        rows = await self._db.run(
            lambda: self._db.conn.execute(sql + " ORDER BY key", params).fetchall()
        )
        return [Row(RowRef(view, partition, key), json.loads(body)) for key, body in rows]

    async def write(self, upserts: Sequence[Row] = (), deletes: Sequence[RowRef] = ()) -> None:
        def bulk(conn: sqlite3.Connection) -> None:
            _write_rows(conn, upserts, deletes)

        await self._db.run(self._db.transaction(bulk))

    async def close(self) -> None:
        """The database belongs to whoever opened it."""


def _write_rows(conn: sqlite3.Connection, upserts: Sequence[Row],
                deletes: Sequence[RowRef]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO projection_rows (view, part, key, body) VALUES (?,?,?,?)",
        [(r.ref.view, r.ref.partition, r.ref.key, json.dumps(r.body)) for r in upserts],
    )
    conn.executemany(
        "DELETE FROM projection_rows WHERE view=? AND part=? AND key=?",
        [(d.view, d.partition, d.key) for d in deletes],
    )
