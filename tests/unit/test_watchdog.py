"""The watchdog's driver on the SQLite adapters: reads the open-deliveries view and the
presence rows, records each due expiry once, and only where it is the leader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub import events as ev
from hub.clock import ManualClock
from hub.deadlines.rules import PRESENCE
from hub.packages import decisions as decide
from hub.packages.processor import step
from hub.ports import Position, Row, RowRef
from hub.registry.decisions import Context
from hub.registry.view import RegistryView
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.watchdog import Watchdog
from tests.unit.test_deadlines import DEADLINE, SEALED_AT
from tests.unit.test_packages import CTX, DEST, DIGEST, LIMITS, SOURCE, send, world


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


class Hub:
    """The package processor's rows, written as the real driver writes them."""

    def __init__(self, db: Database) -> None:
        self.log = SqliteEventLog(db, poll_seconds=0.05)
        self.projections = SqliteProjections(db)
        self.view = RegistryView()
        self.pkg = None
        self.offset = 0

    async def feed(self, *events: ev.Event) -> None:
        queue = list(events)
        while queue:
            outcome = step(self.pkg, queue.pop(0))
            queue.extend(outcome.derived)
            self.pkg = outcome.package
            await self.projections.apply("packages", Position("packages", 0, self.offset),
                                         outcome.writes.upserts, outcome.writes.deletes)
            self.offset += 1

    async def recorded(self) -> list[ev.DeliveryExpired]:
        return [r.event async for r in self.log.read("packages")
                if isinstance(r.event, ev.DeliveryExpired)]

    def watchdog(self, clock: ManualClock, leader: bool = True) -> Watchdog:
        return Watchdog(self.log, self.projections, self.view, clock=clock, interval=1,
                        is_leader=lambda: leader)


async def sealed_hub(db: Database, wait: int | None = None) -> tuple[Hub, str]:
    hub = Hub(db)
    reg, callers = world()
    hub.view.registry = reg
    requested, space = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
    await hub.feed(requested, space)
    assert hub.pkg is not None
    seal = decide.seal(Context("app", SEALED_AT, "c"), hub.pkg, [0, 1], DIGEST,
                       deadline=DEADLINE, offline_wait_seconds=wait)
    await hub.feed(seal)
    return hub, callers[DEST].app.agency_id


async def test_a_due_delivery_expires_once_and_leaves_the_view(db: Database) -> None:
    hub, dest = await sealed_hub(db)
    clock = ManualClock(DEADLINE - timedelta(seconds=1))
    watchdog = hub.watchdog(clock)
    assert await watchdog.tick() == []
    clock.advance(timedelta(seconds=1))
    (expired,) = await watchdog.tick()
    assert (expired.destination_agency_id, expired.reason) == (dest, "deadline")
    assert await watchdog.tick() == [], "not recorded twice before the processor applies it"
    assert await hub.recorded() == [expired]
    await hub.feed(expired)
    assert await watchdog.open_deliveries() == []
    assert await hub.watchdog(clock).tick() == []


async def test_a_restarted_watchdog_decides_the_same_expiry(db: Database) -> None:
    hub, _ = await sealed_hub(db)
    clock = ManualClock(DEADLINE)
    first = await hub.watchdog(clock).tick()
    second = await hub.watchdog(clock).tick()
    assert [e.event_id for e in first] == [e.event_id for e in second]


async def test_only_the_leader_acts(db: Database) -> None:
    hub, _ = await sealed_hub(db)
    assert await hub.watchdog(ManualClock(DEADLINE), leader=False).tick() == []
    assert await hub.recorded() == []


async def test_the_offline_rule_reads_the_presence_view(db: Database) -> None:
    hub, dest = await sealed_hub(db, wait=300)
    clock = ManualClock(SEALED_AT + timedelta(minutes=10))
    ref = RowRef(PRESENCE, dest, "")
    online = {"agency_id": dest, "agency_code": DEST, "online": True,
              "since": SEALED_AT.isoformat()}
    await hub.projections.apply("presence", Position("presence", 0, 0), [Row(ref, online)])
    assert await hub.watchdog(clock).tick() == []
    went_off = (SEALED_AT + timedelta(minutes=8)).isoformat()
    await hub.projections.apply("presence", Position("presence", 0, 1),
                                [Row(ref, {**online, "online": False, "since": went_off})])
    assert await hub.watchdog(clock).tick() == []
    clock.advance(timedelta(minutes=3))
    (expired,) = await hub.watchdog(clock).tick()
    assert expired.reason == "offline"
