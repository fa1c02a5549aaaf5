"""The embedded processor loop never skips an event and never dies on one: an engine
outage retries the same event, a poison event (undecodable bytes, a refused event) is
set aside as a dead letter with the tracking record, and the partition goes on."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cassandra
import pytest

from hub import events as ev
from hub.clock import ManualClock
from hub.deadlines.open import OPEN
from hub.errors import Conflict, Unavailable
from hub.ports import Position, Recorded, Row, RowRef, Undecodable
from hub.presence.model import ALL, NODES
from hub.presence.tracker import NodePresence
from hub.projection import Projector, Rebuild, Writes
from hub.registry.directory import DIRECTORY, agency_ref
from hub.statistics.fold import statistics_fold
from hub.topics import REGISTRY, record
from infra.avro import HEADER_SIZE, default_codec
from infra.failures import is_outage
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from infra.undecodable import lenient
from streams.dead_letters import dead_letters, summary
from streams.guard import handle_guarded
from streams.presence import PresenceProcessor, PresenceWatchdog
from streams.replay import Report, feed
from streams.runner import InProcessProcessors, ProjectorProcessor
from tests.factories import agency_registered, chunk_stored
from tests.unit.test_deadlines import DEADLINE
from tests.unit.test_presence_processors import ALICE, BEAT, T0, apply_all
from tests.unit.test_watchdog import sealed_hub


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


class FlakyProjections(SqliteProjections):
    """SQLite projections whose ``apply`` fails ``failures`` times as an engine that is
    down would (the error given), then works; counts what it applied."""

    def __init__(self, db: Database, failures: int, error: Exception) -> None:
        super().__init__(db)
        self.failures, self.error = failures, error
        self.applied: list[Position] = []

    async def apply(self, tracker: str, position: Position, upserts: Sequence[Row] = (),
                    deletes: Sequence[RowRef] = (), *, last_applied: int | None = None
                    ) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        done = await super().apply(tracker, position, upserts, deletes,
                                   last_applied=last_applied)
        if done:
            self.applied.append(position)
        return done


async def wait_until(check: object, what: str, seconds: float = 20) -> None:
    """Polls ``check()`` (an async callable answering truthy) for up to ``seconds``."""
    async with asyncio.timeout(seconds):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def refusing(bad_code: str) -> Projector:
    """The directory, except that it refuses one agency as a domain rule would."""

    def project(event: ev.Event) -> Writes:
        if isinstance(event, ev.AgencyRegistered) and event.code == bad_code:
            raise ValueError(f"agency code {bad_code} is refused")
        return DIRECTORY.project(event)

    return replace(DIRECTORY, project=project)


async def raw_append(db: Database, topic: str, key: str, payload: bytes) -> None:
    """Bytes straight into the events table, as a buggy or hostile writer would."""
    def insert(conn: sqlite3.Connection) -> None:
        (offset,) = conn.execute("SELECT COALESCE(MAX(offset) + 1, 0) FROM events "
                                 "WHERE topic=? AND partition=0", (topic,)).fetchone()
        conn.execute("INSERT INTO events VALUES (?,?,?,?,?)", (topic, 0, offset, key, payload))

    await db.run(db.transaction(insert))


@pytest.mark.parametrize("error", [
    Unavailable("Cassandra did not answer", code="engine_unavailable"),
    cassandra.Unavailable("not enough replicas"),
    sqlite3.OperationalError("database is locked"),
], ids=["domain-unavailable", "cassandra-unavailable", "sqlite-locked"])
async def test_an_outage_retries_the_same_event_until_it_applies_once(
        db: Database, error: Exception) -> None:
    log = SqliteEventLog(db, poll_seconds=0.05)
    projections = FlakyProjections(db, failures=3, error=error)
    first, second = agency_registered(), agency_registered(code="000.00.12.H53")
    await record(log, first)
    await record(log, second)
    processors = InProcessProcessors([ProjectorProcessor(DIRECTORY, projections)], log,
                                     projections)
    processors.start()
    try:
        async def both() -> bool:
            return len(projections.applied) == 2
        await wait_until(both, "both events applied")
    finally:
        await processors.stop()
    assert projections.applied == [Position(REGISTRY, 0, 0), Position(REGISTRY, 0, 1)]
    assert await projections.get(agency_ref(first.agency_id)) is not None
    assert await dead_letters(projections) == [], "an outage is not a poison event"


async def test_an_outage_is_retried_in_place_never_dead_lettered(db: Database) -> None:
    """At the level of one event: the handler returns only once the event applied."""
    projections = FlakyProjections(db, failures=4, error=cassandra.OperationTimedOut())
    processor = ProjectorProcessor(DIRECTORY, projections)
    event = agency_registered()
    recorded = Recorded(Position(REGISTRY, 0, 0), event.code, event)
    assert await handle_guarded(processor, recorded, projections, first=0.01, cap=0.02)
    assert projections.applied == [recorded.position]
    assert await dead_letters(projections) == []


async def test_undecodable_bytes_in_the_log_are_dead_lettered_and_the_next_event_applies(
        db: Database) -> None:
    """A record that does not decode used to raise out of the subscription: the processor
    restarted on it every second, for ever, and nothing after it was applied."""
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    sealed_header = default_codec().fingerprints_of(["PackageSealed"])[0]
    poison = b"\xc3\x01" + sealed_header + b"\xff\xff\xff"  # a known type, a broken body
    before, after = agency_registered(), agency_registered(code="000.00.12.H53")
    await record(log, before)
    await raw_append(db, REGISTRY, "000.00.13.H53", poison)
    await raw_append(db, REGISTRY, "", b"not avro at all")
    await record(log, after)
    processors = InProcessProcessors([ProjectorProcessor(DIRECTORY, projections)], log,
                                     projections)
    processors.start()
    try:
        async def projected() -> bool:
            return await projections.get(agency_ref(after.agency_id)) is not None
        await wait_until(projected, "the event after the poison applied")
    finally:
        await processors.stop()
    letters = await dead_letters(projections)
    assert [(d["processor"], d["offset"], d["event_type"]) for d in letters] == [
        ("directory", 1, "PackageSealed"), ("directory", 2, None)]
    assert base64.b64decode(letters[0]["raw_base64"]) == poison
    assert letters[0]["key"] == "000.00.13.H53" and letters[0]["size"] == len(poison)
    assert letters[1]["error_type"] == "Undecodable" and "Malformed" in letters[1]["error"]
    assert await summary(projections) == {"count": 2, "processors": {"directory": 2}}
    assert await projections.tracked("directory", REGISTRY) == {0: 3}


async def test_an_event_the_domain_refuses_is_dead_lettered_once_and_the_next_applies(
        db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    refused, after = agency_registered(code="000.00.66.H53"), agency_registered()
    await record(log, refused)
    await record(log, after)
    processor = ProjectorProcessor(refusing("000.00.66.H53"), projections)
    processors = InProcessProcessors([processor], log, projections)
    processors.start()
    try:
        async def projected() -> bool:
            return await projections.get(agency_ref(after.agency_id)) is not None
        await wait_until(projected, "the event after the refused one applied")
    finally:
        await processors.stop()
    (letter,) = await dead_letters(projections)
    assert letter["event_type"] == "AgencyRegistered"
    assert letter["event_id"] == refused.event_id
    assert (letter["error_type"], letter["offset"]) == ("ValueError", 0)
    assert await projections.get(agency_ref(refused.agency_id)) is None
    redelivered = Recorded(Position(REGISTRY, 0, 0), refused.code, refused)
    await handle_guarded(processor, redelivered, projections)  # Kafka redelivers
    assert len(await dead_letters(projections)) == 1, "a redelivery writes no second letter"


def test_errors_are_classified_by_type_not_by_count() -> None:
    outage = Unavailable("down", code="engine_unavailable")
    wrapped = RuntimeError("gave up")
    wrapped.__cause__ = cassandra.WriteTimeout("timed out", write_type=0)
    assert all(is_outage(e) for e in (
        outage, wrapped, cassandra.Unavailable("x"), TimeoutError(), ConnectionResetError(),
        sqlite3.OperationalError("database is locked")))
    assert not any(is_outage(e) for e in (
        ValueError("bad"), KeyError("x"), TypeError("x"), OverflowError("date value out of "
        "range"), Conflict("refused"), sqlite3.IntegrityError("constraint")))


def test_anything_that_is_not_an_event_becomes_a_placeholder() -> None:
    """Bytes shorter than the header, none at all (a Kafka tombstone), a date past year
    9999: a placeholder each, never an exception out of the log's reader."""
    read = lenient(default_codec())
    for data in (b"\xc3", b"", None, b"\xc3\x01" + b"\x00" * HEADER_SIZE):
        placeholder = read(data)
        assert isinstance(placeholder, Undecodable)
        assert placeholder.raw == (data or b"") and placeholder.type_name is None
    assert read(b"").event_id == read(None).event_id, "the same bytes, the same id"


async def test_one_bad_open_delivery_row_never_stops_the_watchdog(db: Database) -> None:
    """A wait of 10^17 s overflowed the deadline arithmetic and failed every tick, so no
    delivery anywhere expired again. Now such a wait is read as no wait (hub.bounds), a
    row that cannot be read at all is set aside, and the others expire."""
    hub, dest = await sealed_hub(db)
    huge = {"package_id": "p-huge", "agency_id": dest, "code": "000.00.12.H53",
            "priority": "normal", "planned_at": "2026-01-01T00:00:00+00:00",
            "deadline": None, "offline_wait_seconds": 1e17, "generation": 0}
    broken = {"package_id": "p-broken"}
    bad = [Row(RowRef(OPEN, "0", "p-huge|x"), huge), Row(RowRef(OPEN, "1", "p-broken|x"), broken)]
    await hub.projections.write(bad)
    watchdog = hub.watchdog(ManualClock(DEADLINE + timedelta(seconds=1)))
    (expired,) = await watchdog.tick()
    assert (expired.destination_agency_id, expired.reason) == (dest, "deadline")
    letters = await dead_letters(hub.projections)
    assert sorted((d["processor"], d["row_key"], d["error_type"]) for d in letters) == [
        ("watchdog", "p-broken|x", "KeyError")]
    await watchdog.tick()
    assert len(await dead_letters(hub.projections)) == 1, "a bad row is set aside once"


def test_a_rebuild_skips_an_event_the_fold_refuses_as_the_live_driver_does() -> None:
    """``truc replay`` must not stop on the event the live processor dead-lettered."""
    def refuse(state: object, event: ev.Event) -> object:
        raise ValueError("refused")

    fold = replace(statistics_fold(ZoneInfo("Asia/Ho_Chi_Minh")), step=refuse)
    folded, report = Rebuild(fold), Report(fold.name, "replay-test")
    feed(folded, Recorded(Position("packages", 0, 0), "p", chunk_stored("p", 0)), report)
    assert (report.set_aside, folded.rows) == (1, {})
    assert folded.applied == {("packages", 0): 0}, "its position counts as handled"


async def test_one_bad_node_row_never_stops_the_presence_sweep(db: Database) -> None:
    """A node's beat row the rules cannot read failed every sweep: no lost node's
    connections were ever closed. Now that row is set aside and the others are swept."""
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    clock = ManualClock(T0)
    crashed = NodePresence("n1", BEAT, T0)
    _, opened = crashed.open(ALICE, "websocket", clock.now())
    await record(log, crashed.beat(clock.now()))
    await record(log, opened)
    processor = PresenceProcessor(projections)
    await apply_all(log, processor)
    bad = Row(RowRef(NODES, ALL, "n0"), {"node": "n0", "started_at": "not a time"})
    await projections.write([bad])
    clock.advance(BEAT * 3 + timedelta(seconds=1))
    [lost] = await PresenceWatchdog(log, projections, clock, BEAT, 3).tick()
    assert lost.reason == "node_lost"
    (letter,) = await dead_letters(projections)
    assert (letter["processor"], letter["view"], letter["row_key"]) == (
        "presence-watchdog", NODES, "n0")
