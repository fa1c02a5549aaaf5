"""The watchdog's driver: every few seconds, expire the open deliveries that are due, and
reject the packages whose upload space expired unsealed (``hub.deadlines.spaces``).

It reads the open-deliveries view (never every package), the destinations' presence and
the registry, asks the pure rules (``hub.deadlines.rules``) what is due and records each
``DeliveryExpired``; the package processor then closes the delivery like any other, the
notifiers and webhooks tell the source, and the content is shredded once every delivery
is closed. Embedded, it runs as a task of the API process; distributed, in the Faust
worker that holds partition 0 of the packages topic (one at a time). Expiry ids are
derived from the delivery, so two watchdogs deciding the same expiry record the same
event, which the fold takes once.

One bad row never stops the others: a row that does not parse, whose values the rules
cannot compute with, or whose event cannot be recorded, is set aside as a dead letter
(``streams/row_guard.py``) and the tick goes on; only an engine outage fails the
tick, and the next one tries again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from hub import events as ev
from hub.deadlines.open import OPEN, SHARDS, OpenDelivery
from hub.deadlines.rules import DEFAULT_RECEIVER_WAIT, PRESENCE, Presence, due
from hub.deadlines.spaces import OPEN_SPACES, OpenSpace, abandoned
from hub.errors import Unavailable
from hub.packages.model import Package, PackageState
from hub.packages.processor import package_ref
from hub.ports import Clock, EventLog, Position, Projections, RowRef
from hub.registry.view import RegistryView
from hub.topics import REGISTRY, record
from infra.failures import is_outage
from streams.row_guard import RowGuard
from streams.runner import repeat

log = logging.getLogger(__name__)
REMEMBERED = 100_000
T = TypeVar("T")


async def read_presence(projections: Projections, agency_id: str) -> Presence | None:
    """The presence row of one agency (None: never seen online)."""
    row = await projections.get(RowRef(PRESENCE, agency_id, ""))
    return Presence.from_row(None if row is None else dict(row.body))


class Watchdog:
    def __init__(self, events: EventLog, projections: Projections, view: RegistryView, *,
                 clock: Clock, interval: float,
                 is_leader: Callable[[], bool] = lambda: True,
                 space_grace: timedelta = timedelta(minutes=10),
                 receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT) -> None:
        self._events = events
        self._projections = projections
        self._view = view
        self._clock = clock
        self.interval = interval
        self._is_leader = is_leader
        self._space_grace = space_grace
        self._receiver_wait = receiver_wait
        self._recorded: OrderedDict[str, None] = OrderedDict()
        self._rows = RowGuard(projections, "watchdog")

    async def run(self) -> None:
        await repeat(self.tick, self.interval, "deadline watchdog tick")

    async def tick(self) -> list[ev.DeliveryExpired | ev.PackageRejected]:
        """Records every expiry due now (flash first), then every abandoned space's
        rejection; returns what it recorded."""
        if not self._is_leader() or not await self._registry_current():
            return []
        expired: list[ev.DeliveryExpired | ev.PackageRejected] = []
        expired.extend(await self._expire_deliveries())
        expired.extend(await self._sweep_spaces())
        return expired

    async def _expire_deliveries(self) -> list[ev.DeliveryExpired]:
        deliveries = await self._open()
        waiting = {d.agency_id for d, _ in deliveries
                   if d.offline_wait_seconds is not None and not d.fetched}
        presence = {agency: await read_presence(self._projections, agency) for agency in waiting}
        now, registry = self._clock.now(), self._view.registry
        done = []
        for expiry, ref in await self._rows.each(
                deliveries, lambda d: due([d], now, registry, presence, self._receiver_wait)):
            if (expiry.event_id not in self._recorded and await self._still_open(expiry)
                    and await self._record(expiry, ref)):
                done.append(expiry)
        return done

    async def _sweep_spaces(self) -> list[ev.PackageRejected]:
        spaces = await self._rows.parsed([row for shard in SHARDS for row in
                                     await self._projections.scan(OPEN_SPACES, shard)],
                                    OpenSpace.from_row)
        ordered = await self._rows.each(  # oldest first, as ``abandoned`` orders them
            spaces, lambda s: [(s.expires_at.timestamp(), s.package_id, s)])
        oldest = [(s, ref) for (*_, s), ref in sorted(ordered, key=lambda f: f[0][:2])]
        now = self._clock.now()
        found = await self._rows.each(oldest, lambda s: abandoned([s], now, self._space_grace))
        done = []
        for rejection, ref in found:
            if (rejection.event_id not in self._recorded and await self._uploading(rejection)
                    and await self._record(rejection, ref)):
                done.append(rejection)
        return done

    async def _record(self, event: ev.DeliveryExpired | ev.PackageRejected,
                      ref: RowRef) -> bool:
        """Records ``event``; an event that cannot be recorded (not encodable) sets its
        row aside instead of failing the tick — an engine outage still does."""
        try:
            await record(self._events, event)
        except Exception as exc:
            if is_outage(exc):
                raise
            await self._rows.set_aside(ref, exc)
            return False
        self._remember(event.event_id)
        return True

    async def _uploading(self, rejection: ev.PackageRejected) -> bool:
        row = await self._projections.get(package_ref(rejection.package_id))
        return row is not None and row.body.get("state") == PackageState.UPLOADING.value

    async def open_deliveries(self) -> list[OpenDelivery]:
        return [d for d, _ in await self._open()]

    async def _open(self) -> list[tuple[OpenDelivery, RowRef]]:
        """Flash first (then urgent, normal; oldest first), as the rules order them."""
        rows = [row for shard in SHARDS for row in await self._projections.scan(OPEN, shard)]
        found = await self._rows.parsed(rows, OpenDelivery.from_row)
        ordered = await self._rows.each(found, lambda d: [(d.order, d)])
        return [(d, ref) for (_, d), ref in sorted(ordered, key=lambda f: f[0][0])]

    async def _registry_current(self) -> bool:
        """Judging "no receiver" on a registry view that lags would expire by mistake."""
        try:
            for partition, end in (await self._events.end_offsets(REGISTRY)).items():
                if end > 0:
                    await self._view.reached(Position(REGISTRY, partition, end - 1), 30)
        except Unavailable:
            log.warning("watchdog skips a tick: the registry view is behind")
            return False
        return True

    async def _still_open(self, expiry: ev.DeliveryExpired) -> bool:
        """The view may lag the package: check the package itself before recording."""
        row = await self._projections.get(package_ref(expiry.package_id))
        if row is None:
            return False
        delivery = Package.from_json(dict(row.body)).deliveries.get(
            expiry.destination_agency_id)
        return delivery is not None and not delivery.state.closed

    def _remember(self, event_id: str) -> None:
        self._recorded[event_id] = None
        if len(self._recorded) > REMEMBERED:
            self._recorded.popitem(last=False)
