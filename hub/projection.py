"""Projectors: pure functions from one event to the rows it writes.

A projector never reads or writes storage itself. The drivers (the in-process loop of
the embedded hub, a Faust agent on Kafka) feed it events in log order and hand its
``Writes`` to the ``Projections`` port together with the event's position, which makes
every projection exactly-once under replay and redelivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.events import Event
from hub.ports import Row, RowRef


@dataclass(frozen=True)
class Writes:
    upserts: Sequence[Row] = ()
    deletes: Sequence[RowRef] = field(default_factory=tuple)


NOTHING = Writes()


@dataclass(frozen=True)
class Projector:
    """``name`` is also the tracker name: renaming a projector rebuilds it from zero."""

    name: str
    topics: tuple[str, ...]
    project: Callable[[Event], Writes]
