"""The embedded driver: the in-process loop applies projectors exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.registry.directory import DIRECTORY, agency_ref
from hub.topics import record
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.runner import InProcessProcessors, ProjectorProcessor, apply_recorded
from tests.factories import agency_registered


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
