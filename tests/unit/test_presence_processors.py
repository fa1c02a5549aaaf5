"""The presence drivers on SQLite: the processor folds exactly once, and the watchdog
sweep records the loss of a silent node's connections once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.clock import ManualClock
from hub.ports import Row, RowRef
from hub.presence.model import HISTORY, summary_ref
from hub.presence.tracker import CLOSED, NodePresence, Who
from hub.topics import PRESENCE, record
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.presence import PresenceProcessor, PresenceWatchdog

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
BEAT = timedelta(seconds=30)
ALICE = Who("ag-1", "000.00.01.H53", "app-1")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def apply_all(log: SqliteEventLog, processor: PresenceProcessor) -> list[bool]:
    return [await processor.handle(r) async for r in log.read(PRESENCE)]


async def test_the_processor_applies_each_event_once(db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    clock = ManualClock(T0)
    here = NodePresence("n1", BEAT, T0)
    cid, opened = here.open(ALICE, "websocket", clock.now())
    await record(log, here.beat(clock.now()))
    await record(log, opened)
    clock.advance(timedelta(minutes=2))
    closed = here.close(cid, CLOSED, clock.now())
    assert closed is not None
    await record(log, closed)
    processor = PresenceProcessor(projections)
    assert await apply_all(log, processor) == [True, True, True]
    assert await apply_all(log, processor) == [False, False, False]  # a replay
    summary = await projections.get(summary_ref("ag-1"))
    assert summary is not None and summary.body["online"] is False
    history = await projections.scan(HISTORY, "ag-1")
    assert [r.body["kind"] for r in history] == ["connected", "disconnected"]
    assert history[1].body["duration_seconds"] == 120.0


async def test_the_watchdog_ends_a_crashed_nodes_connections_once(db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    clock = ManualClock(T0)
    crashed = NodePresence("n1", BEAT, T0)
    _, opened = crashed.open(ALICE, "websocket", clock.now())
    await record(log, crashed.beat(clock.now()))
    await record(log, opened)
    processor = PresenceProcessor(projections)
    await apply_all(log, processor)
    dog = PresenceWatchdog(log, projections, clock, BEAT, 3)
    assert await dog.tick() == []
    clock.advance(BEAT * 3 + timedelta(seconds=1))
    [lost] = await dog.tick()
    assert await dog.tick() == []  # not said again while the projection catches up
    await apply_all(log, processor)
    summary = await projections.get(summary_ref("ag-1"))
    assert summary is not None and summary.body["online"] is False
    assert summary.body["since"] == "2026-11-27T08:00:00.000Z"  # dated at its last beat
    history = await projections.scan(HISTORY, "ag-1")
    assert history[-1].body["reason"] == "node_lost" == lost.reason
    assert await PresenceWatchdog(log, projections, clock, BEAT, 3).tick() == []


def test_a_node_is_named_after_its_host_and_port_unless_told() -> None:
    from infra.settings import Settings

    assert Settings(port=9123).node_id.endswith(":9123")
    assert Settings(port=9123, node_id="api-1").node_id == "api-1"
    assert Settings().heartbeat_seconds == 30 and Settings().node_missed_heartbeats == 3


class Counting(SqliteProjections):
    """Counts the reads the processor makes (row and tracking)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.reads = 0

    async def get(self, ref: RowRef) -> Row | None:
        self.reads += 1
        return await super().get(ref)

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        self.reads += 1
        return await super().tracked(tracker, topic)


async def test_the_processor_reads_only_what_it_has_not_written(db: Database) -> None:
    """It is its agencies' only writer: after the first event it knows their state and
    the connections it opened; a new connection's row is the one read left per pair."""
    log, projections = SqliteEventLog(db, poll_seconds=0.05), Counting(db)
    clock = ManualClock(T0)
    here = NodePresence("n1", BEAT, T0)
    pairs = 10
    for _ in range(pairs):
        cid, opened = here.open(ALICE, "websocket", clock.now())
        await record(log, opened)
        clock.advance(timedelta(seconds=5))
        closed = here.close(cid, CLOSED, clock.now())
        assert closed is not None
        await record(log, closed)
    processor = PresenceProcessor(projections)
    assert await apply_all(log, processor) == [True] * 2 * pairs
    assert projections.reads == 1 + 1 + pairs, "tracking, state, each new connection"
    summary = await projections.get(summary_ref("ag-1"))
    assert summary is not None and summary.body["online"] is False
    assert len(await projections.scan(HISTORY, "ag-1")) == 2 * pairs
    fresh = PresenceProcessor(SqliteProjections(db))
    assert await apply_all(log, fresh) == [False] * 2 * pairs, "the store agrees"
