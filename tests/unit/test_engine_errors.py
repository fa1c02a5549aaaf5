"""Every engine failure is the domain's retriable ``Unavailable`` naming the engine, served
as 503 with ``Retry-After``; a bug is a 500 that does not invite a retry.

The adapters are driven with fakes of the drivers' inner calls that raise the drivers'
*real* exception classes (cassandra-driver, aiokafka, sqlite3), so a rename or a new
subclass in a driver shows here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cassandra
import httpx
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnsupportedVersionError,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException, ConnectionShutdown
from cassandra.protocol import OverloadedErrorMessage, SyntaxException
from fastapi import FastAPI

from api import problems
from hub.errors import Unavailable
from infra.bootstrap import Backend
from infra.cassandra.session import CassandraSession
from infra.kafka.event_log import KafkaEventLog
from infra.sqlite.database import Database
from infra.sqlite.stores import SqliteContentStore, SqliteKeyStore
from tests.factories import chunk_stored

CASSANDRA_DOWN: list[BaseException] = [
    NoHostAvailable("no host", {"127.0.0.1:9042": ConnectionRefusedError()}),
    cassandra.OperationTimedOut(errors={}, last_host="127.0.0.1"),
    cassandra.Unavailable("not enough replicas", required_replicas=1, alive_replicas=0),
    cassandra.ReadTimeout("read timed out"),
    cassandra.WriteTimeout("write timed out", write_type=cassandra.WriteType.SIMPLE),
    ConnectionException("connection lost"),
    ConnectionShutdown("connection closed"),
    OverloadedErrorMessage(0x1001, "overloaded", None),
]


class FakeResponseFuture:
    """The driver's ``ResponseFuture``: calls back with rows, or with ``error``."""

    has_more_pages = False

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def add_callbacks(self, ok: Callable[[Any], None], failed: Callable[[Any], None]) -> None:
        if self.error is not None:
            failed(self.error)
        else:
            ok([])


class FakeDriverSession:
    def __init__(self, error: BaseException | None, *, at_call: bool = False) -> None:
        self.error, self.at_call = error, at_call

    def execute_async(self, statement: Any, params: Any) -> FakeResponseFuture:
        if self.at_call and self.error is not None:
            raise self.error
        return FakeResponseFuture(None if self.at_call else self.error)


def cassandra_over(inner: FakeDriverSession) -> CassandraSession:
    session = CassandraSession(["127.0.0.1"], 9042, "truc")
    session._session = inner  # type: ignore[assignment]
    return session


@pytest.mark.parametrize("call", ["execute", "execute_all"])
@pytest.mark.parametrize("at_call", [False, True], ids=["callback", "raised"])
@pytest.mark.parametrize("error", CASSANDRA_DOWN, ids=lambda e: type(e).__name__)
async def test_cassandra_down_is_unavailable_on_every_call(
        call: str, at_call: bool, error: BaseException) -> None:
    session = cassandra_over(FakeDriverSession(error, at_call=at_call))
    with pytest.raises(Unavailable) as down:
        await getattr(session, call)("SELECT 1")
    assert down.value.code == "engine_unavailable" and down.value.retriable
    assert down.value.extra == {"engine": "cassandra"}
    assert down.value.__cause__ is error


@pytest.mark.parametrize("call", ["execute", "execute_all"])
async def test_a_bad_statement_stays_a_bug(call: str) -> None:
    bad = SyntaxException(0x2000, "line 1: no viable alternative", None)
    session = cassandra_over(FakeDriverSession(bad))
    with pytest.raises(SyntaxException):
        await getattr(session, call)("SELEC 1")


class FakeProducer:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def send_and_wait(self, *args: Any, **kw: Any) -> Any:
        raise self.error


@pytest.mark.parametrize("error", [
    KafkaTimeoutError(), KafkaConnectionError("refused"), NotLeaderForPartitionError(),
    RequestTimedOutError(), NodeNotReadyError(),
], ids=lambda e: type(e).__name__)
async def test_kafka_send_errors_and_timeouts_are_unavailable(error: BaseException) -> None:
    log = KafkaEventLog("127.0.0.1:1")
    log._producer = FakeProducer(error)  # type: ignore[assignment]
    with pytest.raises(Unavailable) as down:
        await log.append("packages", "p", chunk_stored("p", 0))
    assert down.value.extra == {"engine": "kafka"} and down.value.retriable


async def test_a_kafka_error_that_is_not_an_outage_stays_a_bug() -> None:
    log = KafkaEventLog("127.0.0.1:1")
    log._producer = FakeProducer(UnsupportedVersionError())  # type: ignore[assignment]
    with pytest.raises(UnsupportedVersionError):
        await log.append("packages", "p", chunk_stored("p", 0))


@pytest.mark.parametrize("message", ["database is locked", "disk I/O error",
                                     "database or disk is full", "unable to open database file"])
async def test_sqlite_outages_are_unavailable(tmp_path: Path, message: str) -> None:
    db = await Database(tmp_path / "t.sqlite3").open()
    try:
        def fails() -> None:
            raise sqlite3.OperationalError(message)
        with pytest.raises(Unavailable) as down:
            await db.run(fails)
        assert down.value.extra == {"engine": "sqlite"}
        with pytest.raises(sqlite3.OperationalError):  # a bad statement: a bug
            await db.run(lambda: db.conn.execute("SELEC 1"))
    finally:
        await db.close()


async def test_a_locked_sqlite_file_is_a_503_for_the_key_and_content_stores(
        tmp_path: Path) -> None:
    """Really locked: another process holds the write lock past the busy timeout."""
    db = await Database(tmp_path / "t.sqlite3").open()
    other = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    try:
        await db.run(lambda: db.conn.execute("PRAGMA busy_timeout=50"))
        other.execute("BEGIN EXCLUSIVE")
        for write in (SqliteKeyStore(db).put("k", b"v"),
                      SqliteContentStore(db).put_chunk("p", 0, b"x")):
            with pytest.raises(Unavailable) as down:
                await write
            assert down.value.extra == {"engine": "sqlite"}
    finally:
        other.execute("ROLLBACK")
        other.close()
        await db.close()


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    problems.install(app, retry_after=7)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


async def get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get("/boom")


async def test_an_engine_down_is_a_503_with_retry_after() -> None:
    answer = await get(app_raising(Unavailable("Cassandra did not answer",
                                               code="engine_unavailable", engine="cassandra")))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
    body = answer.json()
    assert (body["code"], body["engine"], body["retriable"]) == (
        "engine_unavailable", "cassandra", True)


async def test_an_unexpected_error_is_a_500_that_does_not_invite_a_retry() -> None:
    answer = await get(app_raising(RuntimeError("bug")))
    assert answer.status_code == 500 and "retry-after" not in answer.headers
    assert answer.json()["code"] == "internal_error"
    assert answer.json()["retriable"] is False


async def test_health_names_the_engine_down_and_why() -> None:
    async def up() -> bool:
        return True

    async def down() -> bool:
        return False

    async def broken() -> bool:
        raise ConnectionRefusedError("refused")

    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    backend = Backend("distributed", *([None] * 6),  # type: ignore[arg-type]
                      probes={"kafka": up, "cassandra": down, "x": broken, "y": hangs})
    report = await backend.health(within=0.2)
    assert report["status"] == "degraded" and report["down"] == ["cassandra", "x", "y"]
    engines = report["engines"]
    assert engines["kafka"]["ok"] and "error" not in engines["kafka"]
    assert engines["x"]["error"].startswith("ConnectionRefusedError")
    assert "0.2 s" in engines["y"]["error"] and engines["cassandra"]["ok"] is False
    assert all(isinstance(e["ms"], float) for e in engines.values())
