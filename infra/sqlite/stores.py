"""Embedded content and key stores. ``secure_delete`` (set on the database) overwrites
deleted pages, so a shredded chunk or key does not linger in free pages of the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from infra.sqlite.database import Database


class SqliteContentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put_chunk(self, package_id: str, index: int, data: bytes) -> None:
        await self._db.run(
            lambda: self._db.conn.execute(
                "INSERT OR REPLACE INTO content_chunks (package_id, idx, data) VALUES (?,?,?)",
                (package_id, index, data),
            )
        )

    async def get_chunk(self, package_id: str, index: int) -> bytes | None:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT data FROM content_chunks WHERE package_id=? AND idx=?",
                (package_id, index),
            ).fetchone()
        )
        return None if row is None else bytes(row[0])

    async def chunk_indexes(self, package_id: str) -> list[int]:
        rows = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT idx FROM content_chunks WHERE package_id=? ORDER BY idx", (package_id,)
            ).fetchall()
        )
        return [int(r[0]) for r in rows]

    async def delete_chunks(self, package_id: str, indexes: Sequence[int]) -> int:
        """Deletes a batch; gives the freed pages back to the file system (``reclaim``)
        once the package has no chunk left: once per package, not once per batch."""
        wanted = list(indexes)

        def delete(conn: sqlite3.Connection) -> tuple[int, bool]:
            marks = ",".join("?" * len(wanted))
            deleted = conn.execute(
                f"DELETE FROM content_chunks WHERE package_id=? AND idx IN ({marks})",
                (package_id, *wanted),
            ).rowcount
            left = conn.execute("SELECT 1 FROM content_chunks WHERE package_id=? LIMIT 1",
                                (package_id,)).fetchone()
            return deleted, left is None

        if not wanted:
            return 0
        deleted, emptied = await self._db.run(self._db.transaction(delete))
        if emptied and deleted:
            await self._db.reclaim()
        return deleted

    async def close(self) -> None:
        """The database belongs to whoever opened it."""


class SqliteKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, key_id: str, material: bytes) -> None:
        await self._db.run(
            lambda: self._db.conn.execute(
                "INSERT OR REPLACE INTO key_material (key_id, material) VALUES (?,?)",
                (key_id, material),
            )
        )

    async def put_new(self, key_id: str, material: bytes) -> bool:
        return bool(await self._db.run(
            lambda: self._db.conn.execute(
                "INSERT OR IGNORE INTO key_material (key_id, material) VALUES (?,?)",
                (key_id, material),
            ).rowcount
        ))

    async def get(self, key_id: str) -> bytes | None:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT material FROM key_material WHERE key_id=?", (key_id,)
            ).fetchone()
        )
        return None if row is None else bytes(row[0])

    async def delete(self, key_id: str) -> bool:
        count = await self._db.run(
            lambda: self._db.conn.execute(
                "DELETE FROM key_material WHERE key_id=?", (key_id,)
            ).rowcount
        )
        return bool(count)

    async def close(self) -> None:
        """The database belongs to whoever opened it."""


class SqliteReplayGuard:
    """Seen signatures with their expiry; expired ones are purged as new ones arrive."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def first_seen(self, signature: str, until: datetime) -> bool:
        until_ms = int(until.timestamp() * 1000)

        def remember(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM seen_signatures WHERE until_ms < ?",
                         (int(datetime.now().timestamp() * 1000),))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO seen_signatures (signature, until_ms) VALUES (?, ?)",
                (signature, until_ms),
            ).rowcount
            return bool(inserted)

        return await self._db.run(self._db.transaction(remember))

    async def close(self) -> None:
        """The database belongs to whoever opened it."""
