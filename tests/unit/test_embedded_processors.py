"""The embedded driver: the in-process loop applies projectors exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from hub import events as ev
from hub.ports import Position, Row, RowRef
from hub.projection import Writes, combined
from hub.registry.directory import DIRECTORY, agency_ref
from hub.topics import REGISTRY, record
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.dead_letters import dead_letters
from streams.runner import InProcessProcessors, ProjectorProcessor, apply_recorded, drained
from tests.factories import agency_registered, envelope
from tests.unit.test_dead_letters import refusing


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def wait_for_row(projections: SqliteProjections, agency_id: str) -> None:
    for _ in range(100):
        if await projections.get(agency_ref(agency_id)) is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"agency {agency_id} never projected")


async def test_registered_agencies_reach_the_directory(db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    processors = InProcessProcessors([ProjectorProcessor(DIRECTORY, projections)], log, projections)
    processors.start()
    try:
        event = agency_registered()
        await record(log, event)
        await wait_for_row(projections, event.agency_id)
    finally:
        await processors.stop()


async def test_a_restarted_loop_resumes_and_replays_change_nothing(db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    first, second = agency_registered(), agency_registered(code="000.00.12.H53")
    await record(log, first)
    processors = InProcessProcessors([ProjectorProcessor(DIRECTORY, projections)], log, projections)
    processors.start()
    await wait_for_row(projections, first.agency_id)
    await processors.stop()
    await record(log, second)
    processors.start()
    await wait_for_row(projections, second.agency_id)
    await processors.stop()
    replayed = [await apply_recorded(DIRECTORY, projections, r) async for r in log.read("registry")]
    assert replayed == [False, False]
    assert await projections.tracked("directory", "registry") == {0: 1}


class CountingProjections(SqliteProjections):
    """SQLite projections that count their ``apply`` calls (one transaction each)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.calls = 0

    async def apply(self, tracker: str, position: Position, upserts: Sequence[Row] = (),
                    deletes: Sequence[RowRef] = (), *, last_applied: int | None = None
                    ) -> bool:
        self.calls += 1
        return await super().apply(tracker, position, upserts, deletes,
                                   last_applied=last_applied)


def burst() -> list[ev.Event]:
    """Registrations, a re-code, a removal: rows written, rewritten and deleted."""
    agencies = [agency_registered(code=f"000.00.{i:02d}.H53", name=f"Đơn vị {i}")
                for i in range(1, 41)]
    first, second = agencies[0], agencies[1]
    recoded = ev.AgencySucceeded(
        **envelope(), agency_id=first.agency_id, code="000.00.99.H53", name=first.name,
        parent_code=first.parent_code, account=first.account, old_codes=[first.code],
        old_agency_ids=[first.agency_id], reason="re-coded", effective_at=first.occurred_at)
    removed = ev.AgencyRemoved(**envelope(), agency_id=second.agency_id, code=second.code,
                               reason="not in the national list")
    return [*agencies, recoded, removed]


async def rows_of(projections: SqliteProjections) -> list[tuple[str, str, object]]:
    """Every agency row and every code's row."""
    rows = [*await projections.scan("agencies", "all")]
    for code in CODES:
        rows += await projections.scan("agency_codes", code)
    return [(r.ref.view, r.ref.partition + "/" + r.ref.key, r.body) for r in rows]


CODES = [*(f"000.00.{i:02d}.H53" for i in range(1, 41)), "000.00.99.H53"]


async def test_a_burst_is_applied_in_few_transactions_with_the_rows_of_one_each(
        db: Database, tmp_path: Path) -> None:
    """A directory sync appends 220,000 registry events: the directory projector applied
    them one transaction each (and the import waited on the lock they held). Events that
    queued up now share one, and the rows are those of one ``apply`` per event."""
    log, projections = SqliteEventLog(db, poll_seconds=0.05), CountingProjections(db)
    events = burst()
    for event in events:
        await record(log, event)
    processors = InProcessProcessors([ProjectorProcessor(DIRECTORY, projections)], log,
                                     projections)
    processors.start()
    try:
        async with asyncio.timeout(20):
            while await projections.tracked("directory", REGISTRY) != {0: len(events) - 1}:
                await asyncio.sleep(0.05)
    finally:
        await processors.stop()
    assert projections.calls < len(events) / 4
    one_each = await Database(tmp_path / "one.sqlite3").open()
    try:
        alone = SqliteProjections(one_each)
        async for recorded in log.read(REGISTRY):
            assert await apply_recorded(DIRECTORY, alone, recorded)
        assert await rows_of(projections) == await rows_of(alone)
        assert len([r for r in await rows_of(alone) if r[0] == "agencies"]) == 39
    finally:
        await one_each.close()


async def test_a_refused_event_in_a_burst_is_set_aside_alone(db: Database) -> None:
    """The burst fails together (nothing of it written), then goes one event at a time:
    the refused event is a dead letter, every other one applies, each exactly once."""
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    events = burst()[:10]
    for event in events:
        await record(log, event)
    bad = events[4]
    assert isinstance(bad, ev.AgencyRegistered)
    processors = InProcessProcessors([ProjectorProcessor(refusing(bad.code), projections)],
                                     log, projections)
    processors.start()
    try:
        async with asyncio.timeout(20):
            while await projections.tracked("directory", REGISTRY) != {0: 9}:
                await asyncio.sleep(0.05)
    finally:
        await processors.stop()
    (letter,) = await dead_letters(projections)
    assert letter["event_id"] == bad.event_id
    agencies = {r.ref.key for r in await projections.scan("agencies", "all")}
    assert agencies == {e.agency_id for e in events
                        if isinstance(e, ev.AgencyRegistered) and e is not bad}


def test_combined_writes_leave_each_row_as_the_last_event_did() -> None:
    a, b, c = (RowRef("v", "p", k) for k in "abc")
    writes = combined([Writes(upserts=[Row(a, {"n": 1}), Row(b, {"n": 1})]),
                       Writes(upserts=[Row(a, {"n": 2})], deletes=[b, c]),
                       Writes(upserts=[Row(c, {"n": 3})]),
                       Writes(upserts=[Row(b, {"n": 4})], deletes=[b])])
    assert writes.upserts == [Row(a, {"n": 2}), Row(c, {"n": 3})]
    assert list(writes.deletes) == [b]


async def test_drained_hands_on_what_is_ready_and_raises_what_the_source_raised() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(7):
            yield i
        raise RuntimeError("the log failed")

    seen: list[list[int]] = []
    with pytest.raises(RuntimeError, match="the log failed"):
        async for ready in drained(source(), 3):
            seen.append(ready)
            await asyncio.sleep(0.01)  # the reader queues the next ones meanwhile
    assert [i for ready in seen for i in ready] == list(range(7))
    assert max(map(len, seen)) == 3 and len(seen) < 7
