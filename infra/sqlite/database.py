"""One SQLite file shared by every embedded adapter.

SQLite calls block, so each database gets one dedicated thread: calls queue on it in order
(one writer, as SQLite wants) while the event loop stays free. The hop is hand-made — a
queue to the thread, ``call_soon_threadsafe`` back — rather than a ``ThreadPoolExecutor``:
the executor's ``concurrent.futures.Future`` (a ``threading.Condition`` each), its
semaphore and the future chaining cost more than most of the queries themselves, and the
hub makes dozens of hops per package. WAL lets other processes
(the CLI, a replay) read the same file while the hub writes. ``secure_delete`` makes
deleted chunks and keys be overwritten on disk, which crypto-shredding relies on.

Transactions that queue up behind one another (the requests' appends, every processor's
projection write, the replay guard) are committed together: one ``BEGIN IMMEDIATE …
COMMIT``, a savepoint each (``Database._commit_group``) — group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from hub.errors import Unavailable

T = TypeVar("T")

ENGINE_DOWN = ("locked", "busy", "disk i/o error", "database or disk is full",
               "unable to open database file")
"""``sqlite3.OperationalError`` messages that mean the file cannot be used *now* (another
process holds the lock past ``busy_timeout``, the disk fails or is full): retriable, a
503. Any other error (a bad statement, a corrupt file) stays a bug, a 500."""


def engine_down(exc: BaseException) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(m in message for m in ENGINE_DOWN)


def engine_unavailable(exc: BaseException) -> Unavailable:
    return Unavailable(f"SQLite could not be used ({exc}); retry later",
                       code="engine_unavailable", engine="sqlite")

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


INCREMENTAL = 2
"""``PRAGMA auto_vacuum`` value: freed pages are kept until ``incremental_vacuum``."""


def _has_tables(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0)


Job = tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]
GROUP = 64
"""The most transactions one COMMIT holds (``Database._commit_group``)."""
_NOTHING = object()


class _Transaction(Generic[T]):
    """A job that is one transaction: run alone, BEGIN IMMEDIATE … COMMIT; queued
    behind others, one savepoint of their shared transaction."""

    def __init__(self, db: Database, work: Callable[[sqlite3.Connection], T]) -> None:
        self.db, self.work = db, work

    def __call__(self) -> T:
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.work(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result


def _run_job(job: Job) -> None:
    fn, future, loop = job
    try:
        result = fn()
    except BaseException as exc:  # handed to the caller, whatever it is
        _hand_back(loop, future, None, exc)
    else:
        _hand_back(loop, future, result, None)


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> Database:
        await self.run(self._connect)
        return self

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if not _has_tables(conn):  # only a file with no table yet takes it without VACUUM
            conn.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")
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
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop))
        try:
            return await future
        except sqlite3.OperationalError as exc:
            if engine_down(exc):
                raise engine_unavailable(exc) from exc
            raise

    def _serve(self) -> None:
        """The database thread: runs jobs in order until ``close`` sends None.
        Transactions queued one behind the other run as one group (``_commit_group``)."""
        job: Job | object | None = _NOTHING
        while True:
            job = self._jobs.get() if job is _NOTHING else job
            if job is None:
                return
            assert isinstance(job, tuple)
            if not isinstance(job[0], _Transaction):
                _run_job(job)
                job = _NOTHING
                continue
            group, job = [job], _NOTHING
            while len(group) < GROUP:
                try:
                    queued = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if queued is None or not isinstance(queued[0], _Transaction):
                    job = queued  # runs next, after the group: order is kept
                    break
                group.append(queued)
            self._commit_group(group)

    def _commit_group(self, group: list[Job]) -> None:
        """Group commit: the transactions waiting in the queue share one ``BEGIN
        IMMEDIATE … COMMIT`` (one WAL write of each page they touch, one lock), each in
        its own savepoint, so a job that raises rolls back only its own writes, as it
        would alone. Each caller hears of its result only once the COMMIT is done; if the
        COMMIT fails, or SQLite itself abandoned the transaction (the disk failing or
        full), every job of the group fails with that error and none is stored."""
        if len(group) == 1:
            _run_job(group[0])
            return
        conn = self.conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _, _ in group:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((fn.work(conn), None))  # type: ignore[attr-defined]
                except Exception as exc:
                    if not conn.in_transaction or isinstance(exc, sqlite3.OperationalError):
                        raise
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((None, exc))
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            for _, future, loop in group:
                _hand_back(loop, future, None, exc)
            return
        for (_, future, loop), (result, error) in zip(group, outcomes, strict=True):
            _hand_back(loop, future, result, error)

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        """Wraps ``fn`` in BEGIN IMMEDIATE … COMMIT (rolled back if it raises); queued
        behind another transaction, it may share that one's COMMIT (``_commit_group``)."""
        return _Transaction(self, fn)

    @property
    def reclaims_space(self) -> bool:
        """Whether freed pages can be given back to the file system (``auto_vacuum`` is
        INCREMENTAL: files made before it was set need ``truc migrate`` once)."""
        return bool(self.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL)

    async def reclaim(self) -> None:
        """Gives the pages freed by destroyed content back to the file system, so the file
        shrinks after a package is shredded (``secure_delete`` has overwritten them)."""
        def work() -> None:
            if self.reclaims_space:
                # executescript steps the pragma to the end: execute() frees one page
                self.conn.executescript("PRAGMA incremental_vacuum;")
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

        await self.run(work)

    async def make_reclaiming(self) -> bool:
        """Turns INCREMENTAL auto-vacuum on for a file made without it: a full VACUUM
        (rewrites the file; run it with the hub stopped). True when it had to."""
        def work() -> bool:
            if self.reclaims_space:
                return False
            self.conn.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")
            self.conn.execute("VACUUM")
            return True

        return await self.run(work)

    async def ping(self) -> bool:
        """A read of the file itself (the schema), not only of the connection."""
        return await self.run(lambda: self.conn.execute(
            "SELECT count(*) FROM sqlite_master").fetchone() is not None)

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(self.conn.close)
            self._conn = None
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None


def _hand_back(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
               error: BaseException | None) -> None:
    """From the database thread: settle ``future`` on its loop (unless it was cancelled)."""

    def settle() -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
