"""The events the worker's agents have taken and not yet acknowledged.

Why: at a rebalance Faust clears the agents' input buffers, then waits until every message
it ever delivered is acknowledged — including the ones it has just cleared, which no agent
will ever see. The surviving worker of a killed one waited so until the group expelled it
(pauses of 60 s, docs/reliability.md "On a cluster"). The wait that matters is for the
events an agent is applying right now: this counts them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    def __init__(self) -> None:
        self._held = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def held(self) -> int:
        return self._held

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Around one event, from the moment an agent takes it to its acknowledgement."""
        self._held += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
