"""Content chunks and key material on Cassandra."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from infra.cassandra.session import CassandraSession


class CassandraContentStore:
    """One partition per chunk (``content_blocks``) and a small listing per package
    (``content_index``), so that no query ever loads a whole package: listing reads tiny
    cells, reads and deletes address one chunk each. Chunks stored before migration 003
    (one partition per package in ``content_chunks``) are still read and deleted row by
    row, never listed whole unless a package has nothing in the new tables."""

    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def _run(self, cql: str, params: Sequence[Any]) -> list[Any]:
        return await self._db.execute(await self._db.prepare(cql), params)

    async def put_chunk(self, package_id: str, index: int, data: bytes) -> None:
        """Bytes first, then the listing: a listed chunk always has its bytes."""
        await self._run("INSERT INTO content_blocks (package_id, idx, data) VALUES (?, ?, ?)",
                        (package_id, index, data))
        await self._run("INSERT INTO content_index (package_id, idx, size) VALUES (?, ?, ?)",
                        (package_id, index, len(data)))

    async def get_chunk(self, package_id: str, index: int) -> bytes | None:
        rows = await self._run("SELECT data FROM content_blocks WHERE package_id = ? AND idx = ?",
                               (package_id, index))
        if not rows:
            rows = await self._run(_LEGACY_GET, (package_id, index))
        return bytes(rows[0].data) if rows else None

    async def chunk_indexes(self, package_id: str) -> list[int]:
        rows = await self._run("SELECT idx FROM content_index WHERE package_id = ?",
                               (package_id,))
        if not rows:
            rows = await self._run(_LEGACY_LIST, (package_id,))
        return sorted(int(r.idx) for r in rows)

    async def delete_chunks(self, package_id: str, indexes: Sequence[int]) -> int:
        wanted = list(indexes)
        if not wanted:
            return 0
        listed = await self._run(
            "SELECT idx FROM content_index WHERE package_id = ? AND idx IN ?",
            (package_id, wanted))
        legacy = await self._run(_LEGACY_PRESENT, (package_id, wanted))
        delete = await self._db.prepare(
            "DELETE FROM content_blocks WHERE package_id = ? AND idx = ?")
        await asyncio.gather(*(self._db.execute(delete, (package_id, i)) for i in wanted))
        await self._run("DELETE FROM content_index WHERE package_id = ? AND idx IN ?",
                        (package_id, wanted))
        if legacy:
            await self._run(_LEGACY_DELETE, (package_id, wanted))
        return len({int(r.idx) for r in listed} | {int(r.idx) for r in legacy})

    async def close(self) -> None:
        """The session belongs to whoever opened it."""


_LEGACY_GET = "SELECT data FROM content_chunks WHERE package_id = ? AND idx = ?"
_LEGACY_LIST = "SELECT idx FROM content_chunks WHERE package_id = ?"
_LEGACY_PRESENT = "SELECT idx FROM content_chunks WHERE package_id = ? AND idx IN ?"
_LEGACY_DELETE = "DELETE FROM content_chunks WHERE package_id = ? AND idx IN ?"


class CassandraKeyStore:
    def __init__(self, db: CassandraSession) -> None:
        self._db = db

    async def put(self, key_id: str, material: bytes) -> None:
        cql = "INSERT INTO key_material (key_id, material) VALUES (?, ?)"
        await self._db.execute(await self._db.prepare(cql), (key_id, material))

    async def put_new(self, key_id: str, material: bytes) -> bool:
        """A lightweight transaction: two nodes creating one key keep one."""
        cql = "INSERT INTO key_material (key_id, material) VALUES (?, ?) IF NOT EXISTS"
        rows = await self._db.execute(await self._db.prepare(cql), (key_id, material))
        return bool(rows and rows[0][0])

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
