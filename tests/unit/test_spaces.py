"""Abandoned upload spaces: the open-spaces rows the package processor keeps, the rule that
rejects a space expired unsealed after the grace, and the watchdog recording it once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub import events as ev
from hub.clock import ManualClock
from hub.deadlines.open import SHARDS
from hub.deadlines.spaces import OPEN_SPACES, OpenSpace, abandoned, space_ref
from hub.packages import decisions as decide
from hub.packages.model import PackageState
from hub.packages.processor import needs_shredding, step
from hub.registry.decisions import Context
from infra.sqlite.database import Database
from tests.unit.test_packages import CTX, DIGEST, LIMITS, NOW, SOURCE, send, world
from tests.unit.test_watchdog import Hub

EXPIRES = NOW + LIMITS.space_ttl
GRACE = timedelta(minutes=10)


def requested() -> tuple[ev.PackageRequested, ev.SpaceGranted]:
    reg, callers = world()
    return decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)


def test_a_granted_space_opens_a_row_that_seal_or_rejection_removes() -> None:
    request, space = requested()
    pkg = step(None, request).package
    granted = step(pkg, space)
    (row,) = [r for r in granted.writes.upserts if r.ref.view == OPEN_SPACES]
    assert row.ref == space_ref(request.package_id)
    assert OpenSpace.from_row(dict(row.body)) == OpenSpace(request.package_id, EXPIRES, "corr")
    assert granted.package is not None
    sealed = step(granted.package, decide.seal(Context("app", NOW, "c"), granted.package,
                                               [0, 1], DIGEST, deadline=None,
                                               offline_wait_seconds=None))
    assert space_ref(request.package_id) in sealed.writes.deletes
    assert all(r.ref.view != OPEN_SPACES for r in sealed.writes.upserts)
    rejected = step(granted.package, abandoned([OpenSpace(request.package_id, EXPIRES, "c")],
                                               EXPIRES + GRACE, GRACE)[0])
    assert space_ref(request.package_id) in rejected.writes.deletes
    assert rejected.package is not None and rejected.package.state is PackageState.REJECTED
    assert needs_shredding(rejected.package), "what was uploaded is destroyed"


def test_only_spaces_past_expiry_and_grace_are_rejected_oldest_first() -> None:
    spaces = [OpenSpace("b", EXPIRES, "cb"), OpenSpace("a", EXPIRES - timedelta(hours=1), "ca"),
              OpenSpace("c", EXPIRES + timedelta(minutes=1), "cc")]
    early = abandoned(spaces, EXPIRES + GRACE - timedelta(seconds=1), GRACE)
    assert [r.package_id for r in early] == ["a"], "b is within its grace, c not expired"
    due = abandoned(spaces, EXPIRES + GRACE, GRACE)
    assert [(r.package_id, r.reason_code, r.correlation_id) for r in due] == [
        ("a", "space_expired", "ca"), ("b", "space_expired", "cb")]
    again = abandoned(spaces, EXPIRES + 2 * GRACE, GRACE)
    assert [r.event_id for r in again[:2]] == [r.event_id for r in due], \
        "the same package always gets the same rejection id"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def test_the_watchdog_rejects_an_abandoned_space_once(db: Database) -> None:
    hub = Hub(db)
    hub.view.registry = world()[0]
    request, space = requested()
    await hub.feed(request, space)
    clock = ManualClock(EXPIRES + GRACE - timedelta(seconds=1))
    watchdog = hub.watchdog(clock)
    assert await watchdog.tick() == []
    clock.advance(timedelta(seconds=1))
    (rejection,) = await watchdog.tick()
    assert isinstance(rejection, ev.PackageRejected)
    assert (rejection.package_id, rejection.reason_code) == (request.package_id, "space_expired")
    assert await watchdog.tick() == [], "not recorded twice before the processor applies it"
    logged = [r.event async for r in hub.log.read("packages")
              if isinstance(r.event, ev.PackageRejected)]
    assert logged == [rejection]
    await hub.feed(rejection)
    assert [r for s in SHARDS for r in await hub.projections.scan(OPEN_SPACES, s)] == []
    assert await hub.watchdog(clock).tick() == []


async def test_a_sealed_package_is_never_swept(db: Database) -> None:
    hub = Hub(db)
    hub.view.registry = world()[0]
    request, space = requested()
    await hub.feed(request, space)
    assert hub.pkg is not None
    await hub.feed(decide.seal(Context("app", NOW, "c"), hub.pkg, [0, 1], DIGEST,
                               deadline=None, offline_wait_seconds=None))
    later = ManualClock(EXPIRES + 2 * GRACE)
    assert [r for r in await hub.watchdog(later).tick()
            if isinstance(r, ev.PackageRejected)] == []
