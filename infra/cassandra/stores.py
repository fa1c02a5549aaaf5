"""Content chunks and key material on Cassandra."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from infra.cassandra.session import CassandraSession


class CassandraContentStore:
    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def put_chunk(self, package_id: str, index: int, data: bytes) -> None:
        cql = "INSERT INTO content_chunks (package_id, idx, data) VALUES (?, ?, ?)"
        await self._db.execute(await self._db.prepare(cql), (package_id, index, data))

    async def get_chunk(self, package_id: str, index: int) -> bytes | None:
        cql = "SELECT data FROM content_chunks WHERE package_id = ? AND idx = ?"
        rows = await self._db.execute(await self._db.prepare(cql), (package_id, index))
        return bytes(rows[0].data) if rows else None

    async def chunk_indexes(self, package_id: str) -> list[int]:
        cql = "SELECT idx FROM content_chunks WHERE package_id = ?"
        rows = await self._db.execute(await self._db.prepare(cql), (package_id,))
        return [int(r.idx) for r in rows]

    async def delete_package(self, package_id: str) -> int:
        count = len(await self.chunk_indexes(package_id))
        cql = "DELETE FROM content_chunks WHERE package_id = ?"
        await self._db.execute(await self._db.prepare(cql), (package_id,))
        return count

    async def close(self) -> None:
        """The session belongs to whoever opened it."""


class CassandraKeyStore:
    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def put(self, key_id: str, material: bytes) -> None:
        cql = "INSERT INTO key_material (key_id, material) VALUES (?, ?)"
        await self._db.execute(await self._db.prepare(cql), (key_id, material))

    async def get(self, key_id: str) -> bytes | None:
        cql = "SELECT material FROM key_material WHERE key_id = ?"
        rows = await self._db.execute(await self._db.prepare(cql), (key_id,))
        return bytes(rows[0].material) if rows else None

    async def delete(self, key_id: str) -> bool:
        cql = "DELETE FROM key_material WHERE key_id = ? IF EXISTS"
        rows = await self._db.execute(await self._db.prepare(cql), (key_id,))
        return bool(rows and rows[0][0])

    async def close(self) -> None:
        """The session belongs to whoever opened it."""


class CassandraReplayGuard:
    """A lightweight transaction (``IF NOT EXISTS``) makes "first" hold across nodes; the
    row's TTL forgets the signature once the skew window has passed."""

    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def first_seen(self, signature: str, until: datetime) -> bool:
        ttl = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
        cql = "INSERT INTO seen_signatures (signature) VALUES (?) IF NOT EXISTS USING TTL ?"
        rows = await self._db.execute(await self._db.prepare(cql), (signature, ttl))
        return bool(rows and rows[0][0])

    async def close(self) -> None:
        """The session belongs to whoever opened it."""
