"""What each processor has applied, as far as this process knows: read your writes without
every caller polling the tracking table.

A caller that recorded an event waits until a processor (the package processor, mostly)
has applied its position, because the next read depends on it. Polling the tracking
record per caller cost one store round trip every few milliseconds per request — the
largest single item in the hub's profile. Instead, one ``Applied`` per process keeps the
highest offset known applied per (tracker, topic, partition) and the futures waiting for
it:

- processors driven in this process (the embedded hub's tasks, the Faust worker's agents)
  ``advance`` it as soon as ``handle`` returns, which wakes the waiters at once;
- for what is applied elsewhere (another worker, or a processor this node does not run),
  one poller per (tracker, topic) reads the tracking records while anybody waits —
  one read serves every waiter, whatever their number. It starts with a short wait and
  backs off to ``max_poll`` while it keeps having waiters, and it stops when nobody waits:
  under a steady flow of requests the store sees at most one read per ``max_poll``
  (20 ms: 50 reads/s), where each waiter polling on its own cost a few reads per request.
  Where the processors run in this process (``local``) it is only a safety net, and slow.

Known offsets only ever grow, and an offset is only known once its projection write
returned, so a waiter is never woken early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from hub.ports import Position, Projections

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(tracker, topic)"""


@dataclass
class _Waiter:
    partition: int
    offset: int
    future: asyncio.Future[None]


@dataclass
class _Track:
    known: dict[int, int] = field(default_factory=dict)
    waiters: list[_Waiter] = field(default_factory=list)
    poller: asyncio.Task[None] | None = None


class Applied:
    def __init__(self, projections: Projections, *, local: bool = False,
                 first_poll: float | None = None, max_poll: float | None = None) -> None:
        self._projections = projections
        self._first = first_poll if first_poll is not None else (0.05 if local else 0.005)
        self._max = max_poll if max_poll is not None else (0.5 if local else 0.02)
        self._tracks: dict[Key, _Track] = {}

    def known(self, tracker: str, position: Position) -> int:
        """The highest offset of the position's partition known applied (-1: none)."""
        track = self._tracks.get((tracker, position.topic))
        return -1 if track is None else track.known.get(position.partition, -1)

    def advance(self, tracker: str, position: Position) -> None:
        """``tracker`` has applied ``position`` (and so everything before it)."""
        self._raise(self._track((tracker, position.topic)), position.partition, position.offset)

    async def wait(self, tracker: str, position: Position, seconds: float = 10) -> None:
        """Returns once ``tracker`` has applied ``position``; TimeoutError after ``seconds``."""
        key = (tracker, position.topic)
        track = self._track(key)
        if track.known.get(position.partition, -1) >= position.offset:
            return
        waiter = _Waiter(position.partition, position.offset,
                         asyncio.get_running_loop().create_future())
        track.waiters.append(waiter)
        if track.poller is None or track.poller.done():
            track.poller = asyncio.create_task(self._poll(key, track),
                                               name=f"applied:{tracker}")
        try:
            async with asyncio.timeout(seconds):
                await waiter.future
        finally:  # timed out or cancelled (which cancels the future too): stop waiting
            if waiter.future.cancel() or waiter.future.cancelled():
                with contextlib.suppress(ValueError):
                    track.waiters.remove(waiter)

    async def close(self) -> None:
        pollers = [t.poller for t in self._tracks.values() if t.poller is not None]
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)

    def _track(self, key: Key) -> _Track:
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track()
        return track

    def _raise(self, track: _Track, partition: int, offset: int) -> bool:
        """Records a newly known offset and wakes whoever it satisfies; True if it moved."""
        if track.known.get(partition, -1) >= offset:
            return False
        track.known[partition] = offset
        if track.waiters:
            still = []
            for w in track.waiters:
                if w.partition == partition and w.offset <= offset:
                    if not w.future.done():
                        w.future.set_result(None)
                else:
                    still.append(w)
            track.waiters = still
        return True

    async def _poll(self, key: Key, track: _Track) -> None:
        """Reads the tracking records while anybody waits; one read for all waiters."""
        delay = self._first
        while track.waiters:
            await asyncio.sleep(delay)
            if not track.waiters:
                return
            try:
                tracked = await self._projections.tracked(*key)
            except Exception:  # a store hiccup: waiters time out on their own if it lasts
                log.warning("reading %s's tracking failed; retrying", key[0], exc_info=True)
                delay = self._max
                continue
            for partition, offset in tracked.items():
                self._raise(track, partition, offset)
            delay = min(delay * 2, self._max)
