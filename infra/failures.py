"""Why a processor could not apply an event: an engine that is down, or the event itself.

The drivers (``streams/guard.py``) ask ``is_outage`` about every failure. An outage
(Cassandra or Kafka unreachable, overloaded or too slow, SQLite busy or locked, a
timeout, a broken connection) says nothing about the event: the same event is retried,
with backoff, until it applies — skipping it would lose it. Anything else (the bytes do
not decode, the domain refuses the event, a value out of range) would fail the same way
on every try: the event is *poison*, set aside as a dead letter, and the partition goes on.

The answer comes from the error's type — and the types of the errors it was raised
from — never from how many times it failed: a Cassandra outage can last longer than any
retry budget, and a poison event fails on the very first try.
"""

from __future__ import annotations

from hub.errors import TrucError
from infra.cassandra.session import ENGINE_DOWN as CASSANDRA_DOWN
from infra.kafka.event_log import engine_down as kafka_down
from infra.sqlite.database import engine_down as sqlite_down

TRANSIENT: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)
"""Failures of the world around the event that no adapter names: a deadline passed
(asyncio.TimeoutError is TimeoutError), a socket broke. Not every ``OSError``: a missing
file or a refused permission fails the same way on every try."""


def is_outage(exc: BaseException) -> bool:
    """True if retrying the same event later may succeed: an engine was unavailable.
    Follows explicit causes (``raise … from exc``), so a domain ``Unavailable`` raised
    from a driver error, or a driver error wrapped by a library, counts the same. Not the
    implicit context: an error raised while handling an outage is not one itself."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _outage_itself(current):
            return True
        current = current.__cause__
    return False


def _outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, TrucError):
        return exc.retriable  # the adapters' Unavailable (engine_unavailable, lagging…)
    # the adapters' own lists of "engine down", also for an error not yet mapped by them
    return kafka_down(exc) or sqlite_down(exc) or isinstance(exc, (*CASSANDRA_DOWN, *TRANSIENT))
