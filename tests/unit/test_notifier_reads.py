"""The notifier tells a package's news once its read model shows it: a client reading the
package after a notice agrees with it (``api.notifications.Notifier._package_showing``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api import notifications
from hub import events as ev
from hub.packages.model import Package, evolve
from hub.packages.processor import package_ref
from hub.ports import Position, Recorded, Row
from tests.unit.test_packages import NOW
from tests.unit.test_zones_forwarding import planned

SHREDDED = ev.ContentShredded(event_id="x", occurred_at=NOW, actor="hub:shredder",
                              correlation_id="c", package_id="p", chunk_count=1, size=10)


class Rows:
    """The package row as a reader sees it: the tracking record already says applied,
    the row itself is from before for the first ``stale`` reads (Cassandra's logged
    batch is atomic, not isolated)."""

    def __init__(self, before: Package, after: Package, stale: int) -> None:
        self.bodies = [before.to_json()] * stale + [after.to_json()]
        self.reads = 0

    async def get(self, ref: Any) -> Row:
        assert ref == package_ref("p")
        body = self.bodies[min(self.reads, len(self.bodies) - 1)]
        self.reads += 1
        return Row(ref, body)


class Applied:
    def __init__(self, applied: bool) -> None:
        self.applied = applied

    async def wait(self, *_: Any, seconds: float) -> None:
        if not self.applied:
            raise TimeoutError


def notifier(rows: Rows, applied: bool = True) -> notifications.Notifier:
    runtime: Any = SimpleNamespace(
        view=SimpleNamespace(listen=lambda _listener: lambda: None),
        backend=SimpleNamespace(projections=rows), applied=Applied(applied))
    return notifications.Notifier(runtime)


def recorded(event: ev.Event) -> Recorded:
    return Recorded(Position("packages", 0, 7), "p", event)


async def test_a_row_read_before_it_shows_the_event_is_read_again() -> None:
    before = planned()
    rows = Rows(before, ev_applied(before), stale=3)
    pkg = await notifier(rows)._package_showing(recorded(SHREDDED), "p")
    assert pkg is not None and pkg.shredded is True
    assert rows.reads == 4


async def test_a_row_that_never_shows_the_event_is_told_after_the_patience(
        monkeypatch: Any) -> None:
    monkeypatch.setattr(notifications, "PATIENCE", 0.05)
    before = planned()
    rows = Rows(before, before, stale=1)
    pkg = await notifier(rows)._package_showing(recorded(SHREDDED), "p")
    assert pkg is not None and pkg.shredded is False
    assert rows.reads >= 2


async def test_a_processor_behind_is_not_waited_for_twice() -> None:
    before = planned()
    rows = Rows(before, ev_applied(before), stale=5)
    pkg = await notifier(rows, applied=False)._package_showing(recorded(SHREDDED), "p")
    assert pkg is not None and pkg.shredded is False and rows.reads == 1


def ev_applied(pkg: Package) -> Package:
    after = evolve(pkg, SHREDDED)
    assert after is not None and after.shredded
    return after
