"""Group commit in the embedded database: transactions queued behind one another share
one COMMIT, yet each keeps its own outcome — a job that raises rolls back only itself,
an engine error fails the whole group and stores nothing of it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hub.errors import Unavailable
from infra.sqlite.database import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "truc.sqlite3").open()
    await database.run(lambda: database.conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    yield database
    await database.close()


def insert(key: str, fail: BaseException | None = None) -> Callable[[sqlite3.Connection], str]:
    def work(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        if fail is not None:
            raise fail
        return key

    return work


async def queued_behind_a_busy_thread(db: Database, jobs: list[Callable[[], str]]
                                      ) -> tuple[list[str | BaseException], list[str]]:
    """Runs ``jobs`` queued while the database thread is held, so they form one group;
    their outcomes, and the statements SQLite ran."""
    statements: list[str] = []
    await db.run(lambda: db.conn.set_trace_callback(statements.append))
    gate = threading.Event()
    held = asyncio.ensure_future(db.run(gate.wait))
    await asyncio.sleep(0.05)
    runs = [asyncio.ensure_future(db.run(job)) for job in jobs]
    await asyncio.sleep(0.05)
    gate.set()
    await held
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    await db.run(lambda: db.conn.set_trace_callback(None))
    return outcomes, statements


async def stored(db: Database) -> list[str]:
    rows = await db.run(lambda: db.conn.execute("SELECT k FROM t ORDER BY k").fetchall())
    return [r[0] for r in rows]


async def test_queued_transactions_share_one_commit_and_a_failing_one_rolls_back_alone(
        db: Database) -> None:
    jobs = [db.transaction(insert(f"k{i}", ValueError("no") if i == 3 else None))
            for i in range(8)]
    outcomes, statements = await queued_behind_a_busy_thread(db, jobs)
    assert [o if isinstance(o, str) else type(o) for o in outcomes] == [
        "k0", "k1", "k2", ValueError, "k4", "k5", "k6", "k7"]
    assert await stored(db) == ["k0", "k1", "k2", "k4", "k5", "k6", "k7"]
    assert statements.count("COMMIT") == 1, "one COMMIT for the eight"


async def test_an_engine_error_in_a_group_fails_all_of_it_and_stores_none(
        db: Database) -> None:
    jobs = [db.transaction(insert(f"k{i}", sqlite3.OperationalError("disk I/O error")
                                  if i == 2 else None)) for i in range(4)]
    outcomes, _ = await queued_behind_a_busy_thread(db, jobs)
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes
    assert await stored(db) == []
    assert await db.run(db.transaction(insert("after"))) == "after", "the database goes on"


async def test_a_job_that_is_not_a_transaction_keeps_its_place(db: Database) -> None:
    """Order holds: a plain job queued between transactions sees what came before it
    and not what came after."""
    count = lambda: db.conn.execute("SELECT count(*) FROM t").fetchone()[0]  # noqa: E731
    jobs = [db.transaction(insert("a")), db.transaction(insert("b")), count,
            db.transaction(insert("c"))]
    outcomes, _ = await queued_behind_a_busy_thread(db, jobs)  # type: ignore[arg-type]
    assert outcomes == ["a", "b", 2, "c"]
