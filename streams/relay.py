"""What the two relays share: the forwarder (a package for another zone's Truc, through
its public API: ``streams/forwarder.py``) and the gateway (the upstream national axis,
through its own protocol: ``streams/gateway.py``). Both are outboxes whose rows are
deliveries handed to another hub, worked step by step until the other side's leg ends:
sent, then followed — read again and again, less often while nothing happens, since a
destination may take days to fetch — with what the other hub reports mirrored here as
events, and each failure (the other hub unreachable, an engine outage) waited out and
tried again, never ending the row."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from hub import events as ev
from hub.packages.model import Package
from hub.packages.processor import TRACKER
from hub.ports import Clock, EventLog, Projections
from hub.registry.view import RegistryView
from hub.topics import record
from infra.vault import Vault
from streams.applied import Applied
from streams.outbox import Outbox
from streams.shown import read_package
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
MAX_DELAY = 60.0
"""Seconds between tries at most, while a step keeps failing."""


class Step(Enum):
    DONE = "done"
    CHANGED = "changed"
    IDLE = "idle"


@dataclass(frozen=True)
class Pace:
    """A failed step is tried again after ``retry`` seconds, doubling up to ``MAX_DELAY``;
    a row where nothing happens is read every ``poll`` seconds, doubling up to
    ``poll_max``; an acknowledged delivery is still followed for ``follow`` (a status
    the destination reports afterwards comes back)."""

    retry: float = 1.0
    poll: float = 2.0
    poll_max: float = 30.0
    follow: timedelta = timedelta(days=30)


DEFAULT_PACE = Pace()


class Relay(Outbox):
    def __init__(self, events: EventLog, projections: Projections, view: RegistryView,
                 vault: Vault, *, clock: Clock, pace: Pace = DEFAULT_PACE,
                 applied: Applied | None = None, tracking: TrackingCache | None = None
                 ) -> None:
        super().__init__(projections, tracking or TrackingCache(projections))
        self._events = events
        self._view = view
        self._vault = vault
        self._clock = clock
        self._pace = pace
        self._applied = applied or Applied(projections)

    async def _repeat(self, step: Callable[[], Awaitable[Step]], what: str) -> None:
        """Runs ``step`` until it is DONE; a failure waits and tries again, never ends."""
        delay, idle = self._pace.retry, 0
        while True:
            try:
                found = await step()
                if found is Step.DONE:
                    return
                delay, idle = self._pace.retry, 0 if found is Step.CHANGED else idle + 1
                await asyncio.sleep(min(self._pace.poll * 2 ** min(idle, 16),
                                        max(self._pace.poll, self._pace.poll_max)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the other hub unreachable, an engine outage
                log.info("%s waits %.1f s: %s", what, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    async def _package(self, package_id: str) -> Package | None:
        return await read_package(self._projections, package_id)

    async def _record(self, events: list[ev.Event]) -> None:
        for event in events:
            position = await record(self._events, event)
            with contextlib.suppress(TimeoutError):  # the next pass reads the row again
                await self._applied.wait(TRACKER, position, seconds=10)

    def _acknowledged(self, row: dict[str, Any], now: datetime) -> bool:
        """Starts following an acknowledged delivery for ``Pace.follow``; True when the
        row changed."""
        if row.get("follow_until"):
            return False
        row["follow_until"] = (now + self._pace.follow).isoformat()
        return True


def follow_until(row: dict[str, Any]) -> datetime | None:
    until = row.get("follow_until")
    return datetime.fromisoformat(until) if until else None
