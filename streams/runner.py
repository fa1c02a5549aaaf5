"""Drives projectors over an event log: the embedded hub's in-process loop, and the one
function (``apply_recorded``) that the Faust agents call too, so both drivers apply
events the same way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hub.ports import EventLog, Projections, Recorded
from hub.projection import Projector

log = logging.getLogger(__name__)


async def apply_recorded(
    projector: Projector, projections: Projections, recorded: Recorded
) -> bool:
    """Applies one event; False when it was applied before (replay or redelivery)."""
    writes = projector.project(recorded.event)
    return await projections.apply(
        projector.name, recorded.position, writes.upserts, writes.deletes
    )


async def resume_positions(
    projector: Projector, projections: Projections
) -> dict[tuple[str, int], int]:
    """Where to start reading: just after the last event each partition applied."""
    start: dict[tuple[str, int], int] = {}
    for topic in projector.topics:
        for partition, offset in (await projections.tracked(projector.name, topic)).items():
            start[(topic, partition)] = offset + 1
    return start


async def run_projector(
    projector: Projector, log_: EventLog, projections: Projections
) -> None:
    """Runs until cancelled, applying every new event in log order."""
    start = await resume_positions(projector, projections)
    async for recorded in log_.subscribe(list(projector.topics), start):
        await apply_recorded(projector, projections, recorded)


class InProcessProcessors:
    """The embedded hub's processors: one asyncio task per projector."""

    def __init__(
        self, projectors: tuple[Projector, ...], log_: EventLog, projections: Projections
    ) -> None:
        self._projectors = projectors
        self._log = log_
        self._projections = projections
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for p in self._projectors:
            task = asyncio.create_task(self._guarded(p), name=f"projector:{p.name}")
            self._tasks.append(task)

    async def _guarded(self, projector: Projector) -> None:
        """A failing projector logs and restarts from its tracked position."""
        while True:
            try:
                await run_projector(projector, self._log, self._projections)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("projector %s failed; restarting in 1 s", projector.name)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


async def follow(log_: EventLog, topics: list[str], apply: Callable[[Recorded], Awaitable[None]]
                 ) -> None:
    """Feeds every event of ``topics``, from the start, to an in-memory view (the
    registry every API node keeps). Runs until cancelled; restarts after a failure."""
    while True:
        try:
            async for recorded in log_.subscribe(topics):
                await apply(recorded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following %s failed; restarting in 1 s", topics)
            await asyncio.sleep(1)
