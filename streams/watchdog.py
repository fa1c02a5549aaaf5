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
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

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
from streams.runner import repeat

log = logging.getLogger(__name__)
REMEMBERED = 100_000


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
        deliveries = await self.open_deliveries()
        waiting = {d.agency_id for d in deliveries
                   if d.offline_wait_seconds is not None and not d.fetched}
        presence = {agency: await read_presence(self._projections, agency) for agency in waiting}
        done = []
        for expiry in due(deliveries, self._clock.now(), self._view.registry, presence,
                          self._receiver_wait):
            if expiry.event_id not in self._recorded and await self._still_open(expiry):
                await record(self._events, expiry)
                self._remember(expiry.event_id)
                done.append(expiry)
        return done

    async def _sweep_spaces(self) -> list[ev.PackageRejected]:
        spaces = [OpenSpace.from_row(dict(row.body)) for shard in SHARDS
                  for row in await self._projections.scan(OPEN_SPACES, shard)]
        done = []
        for rejection in abandoned(spaces, self._clock.now(), self._space_grace):
            if rejection.event_id not in self._recorded and await self._uploading(rejection):
                await record(self._events, rejection)
                self._remember(rejection.event_id)
                done.append(rejection)
        return done

    async def _uploading(self, rejection: ev.PackageRejected) -> bool:
        row = await self._projections.get(package_ref(rejection.package_id))
        return row is not None and row.body.get("state") == PackageState.UPLOADING.value

    async def open_deliveries(self) -> list[OpenDelivery]:
        rows = [row for shard in SHARDS for row in await self._projections.scan(OPEN, shard)]
        return [OpenDelivery.from_row(dict(row.body)) for row in rows]

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
