"""A node's live view of the registry, and waiting until it has seen a given event.

Commands record events, then wait until this node's view has folded them in before they
answer, so an operator who adds an agency can add its app at once (read your writes),
whatever node or backend serves the next call. Whoever holds something authenticated
earlier (a node's live streams) listens to the changes, to end what a revocation ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub import events as ev
from hub.errors import Unavailable
from hub.ports import Position, Recorded
from hub.registry.model import Registry

Listener = Callable[[ev.Event], None]


class RegistryView:
    def __init__(self) -> None:
        self.registry = Registry()
        self._seen: dict[tuple[str, int], int] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0
        """How many ``reached`` calls wait on ``_changed``."""
        self._listeners: list[Listener] = []
        self.chain_heads: dict[int, str] = {}
        """Per registry partition, the hash of its last audit link (``hub/audit.py``)."""

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Calls ``listener`` with each event right after it is folded in (synchronously,
        so nothing sees the new registry before the listener did); returns the undo. A
        listener must not raise: its failure would be the follower's."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def apply(self, recorded: Recorded) -> None:
        pos = recorded.position
        if self._seen.get((pos.topic, pos.partition), -1) >= pos.offset:
            return
        self.registry.apply(recorded.event)
        if isinstance(recorded.event, ev.AuditLinked):
            self.chain_heads[pos.partition] = recorded.event.hash
        self._seen[(pos.topic, pos.partition)] = pos.offset
        for listener in list(self._listeners):
            listener(recorded.event)
        if self._waiting:  # else no lock to take: most events of a sync wake nobody
            async with self._changed:
                self._changed.notify_all()

    def has_seen(self, position: Position) -> bool:
        return self._seen.get((position.topic, position.partition), -1) >= position.offset

    async def reached(self, position: Position, seconds: float = 10) -> None:
        """Returns once ``position`` is folded in; ``Unavailable`` if that takes too long."""
        if self.has_seen(position):
            return
        self._waiting += 1
        try:
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(lambda: self.has_seen(position))
        except TimeoutError:
            raise Unavailable(
                "the registry change was recorded but this node has not seen it yet",
                code="registry_lagging",
            ) from None
        finally:
            self._waiting -= 1
