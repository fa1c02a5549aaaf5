"""The embedded adapters against the shared contracts."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from infra.sqlite.stores import SqliteContentStore, SqliteKeyStore, SqliteReplayGuard
from tests.contract.event_log import EventLogContract, RawAppend
from tests.contract.projections import ProjectionsContract
from tests.contract.stores import ContentStoreContract, KeyStoreContract, ReplayGuardContract


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "truc.sqlite3").open()
    yield database
    await database.close()


@pytest.fixture
def topic() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class TestSqliteEventLog(EventLogContract):
    @pytest.fixture
    def log(self, db: Database) -> SqliteEventLog:
        return SqliteEventLog(db, poll_seconds=0.05)

    @pytest.fixture
    def raw_append(self, db: Database) -> RawAppend:
        async def append(topic: str, key: str, payload: bytes) -> None:
            def insert(conn: sqlite3.Connection) -> None:
                (offset,) = conn.execute(
                    "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic=?",
                    (topic,)).fetchone()
                conn.execute("INSERT INTO events VALUES (?,0,?,?,?)",
                             (topic, offset, key, payload))

            await db.run(db.transaction(insert))

        return append


class TestSqliteProjections(ProjectionsContract):
    @pytest.fixture
    def projections(self, db: Database) -> SqliteProjections:
        return SqliteProjections(db)


class TestSqliteContentStore(ContentStoreContract):
    @pytest.fixture
    def content(self, db: Database) -> SqliteContentStore:
        return SqliteContentStore(db)


class TestSqliteKeyStore(KeyStoreContract):
    @pytest.fixture
    def keys(self, db: Database) -> SqliteKeyStore:
        return SqliteKeyStore(db)


class TestSqliteReplayGuard(ReplayGuardContract):
    @pytest.fixture
    def replay(self, db: Database) -> SqliteReplayGuard:
        return SqliteReplayGuard(db)
