"""Timers judge projection rows one by one: a bad row is set aside, not every tick failed.

The watchdogs read views (open deliveries, open spaces, nodes' beats and connections)
and ask pure rules about them. One row a rule cannot compute with — a field missing, a
wait of 10^17 s that overflows the date arithmetic — used to fail the whole tick, every
tick, for ever: no delivery anywhere expired again. ``RowGuard`` parses and judges each
row alone; a row that fails is written once (per process) as a dead letter keyed by the
row (``streams/dead_letters.py``), logged, and left out, and the tick goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hub.ports import Projections, Row, RowRef
from streams.dead_letters import row_letter

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E")


class RowGuard:
    def __init__(self, projections: Projections, processor: str) -> None:
        self._projections = projections
        self._processor = processor
        self._aside: set[RowRef] = set()

    async def parsed(self, rows: Iterable[Row], parse: Callable[[dict[str, Any]], T]
                     ) -> list[tuple[T, RowRef]]:
        """Each row parsed, with its address; a row that does not parse is set aside."""
        found: list[tuple[T, RowRef]] = []
        for row in rows:
            try:
                found.append((parse(dict(row.body)), row.ref))
            except Exception as exc:  # the rules are pure: any error is the row's
                await self.set_aside(row.ref, exc)
        return found

    async def each(self, items: Iterable[tuple[T, RowRef]], judge: Callable[[T], list[E]]
                   ) -> list[tuple[E, RowRef]]:
        """``judge`` asked about each item alone; one it fails on is set aside."""
        found: list[tuple[E, RowRef]] = []
        for item, ref in items:
            try:
                found.extend((e, ref) for e in judge(item))
            except Exception as exc:  # the rules are pure: any error is the row's
                await self.set_aside(ref, exc)
        return found

    async def set_aside(self, ref: RowRef, exc: BaseException) -> None:
        """A dead letter for the row, once per process (the row is met every tick). An
        engine outage writing it fails the tick; the next tick tries again."""
        if ref in self._aside:
            return
        log.error("%s sets aside row %s: %s: %s", self._processor, ref,
                  type(exc).__name__, exc)
        await self._projections.write([row_letter(self._processor, ref, exc)])
        self._aside.add(ref)
