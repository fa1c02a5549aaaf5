"""One SQLite file shared by every embedded adapter.

SQLite calls block, so each database gets one dedicated thread: calls queue on it in order
(one writer, as SQLite wants) while the event loop stays free. WAL lets other processes
(the CLI, a replay) read the same file while the hub writes. ``secure_delete`` makes
deleted chunks and keys be overwritten on disk, which crypto-shredding relies on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
  key TEXT NOT NULL, payload BLOB NOT NULL,
  PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS projection_rows (
  view TEXT NOT NULL, part TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (view, part, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS projection_tracking (
  tracker TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
  offset INTEGER NOT NULL, PRIMARY KEY (tracker, topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS content_chunks (
  package_id TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (package_id, idx));
CREATE TABLE IF NOT EXISTS key_material (
  key_id TEXT PRIMARY KEY, material BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen_signatures (
  signature TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
"""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> Database:
        await self.run(self._connect)
        return self

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        self._conn = conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def run(self, fn: Callable[[], T]) -> T:
        """Runs ``fn`` on the database's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        """Wraps ``fn`` in BEGIN IMMEDIATE … COMMIT (rolled back if it raises)."""

        def work() -> T:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

        return work

    async def ping(self) -> bool:
        return await self.run(lambda: self.conn.execute("SELECT 1").fetchone() == (1,))

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(self.conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
