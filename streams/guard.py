"""How both drivers hand one event to a processor: never skip it, never die on it.

``handle_guarded`` returns only once the event is dealt with, one of two ways:

- **applied** — the processor handled it (or had before);
- **dead-lettered** — it can never apply (it does not decode, or the domain refuses it):
  a dead letter is written with the processor's tracking record for its position
  (``streams/dead_letters.py``), so the partition moves on past it exactly once.

Anything in between is an engine outage (``infra.failures.is_outage``: Cassandra or
Kafka unavailable, SQLite locked, a timeout): the *same* event is tried again after a
pause that doubles from ``FIRST`` to ``CAP`` seconds, for as long as it takes — or until
the driver is cancelled (the worker stops), in which case the event was not applied and
is read again on restart. The drivers tell their log the event is done (Faust's ack,
the embedded loop's next read) only after this returns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from hub.events import NodeHeartbeat
from hub.ports import Projections, Recorded, Undecodable
from infra.failures import is_outage
from streams.dead_letters import event_letter

log = logging.getLogger(__name__)
events_log = logging.getLogger("truc.events")
LOGGED = frozenset({"packages", "presence"})
"""The processors that decide on each topic's events (package lifecycle, presence): the
one line per domain event handled is theirs, so an event is logged once, not once per
projection that also reads it."""
FIRST = 0.1
CAP = 5.0


class Handler(Protocol):
    name: str

    async def handle(self, recorded: Recorded) -> bool: ...


async def handle_guarded(processor: Handler, recorded: Recorded, projections: Projections,
                         *, first: float = FIRST, cap: float = CAP) -> bool:
    """True when applied (now or before), False when set aside as a dead letter."""
    delay, tries = first, 0
    while True:
        try:
            return await _attempt(processor, recorded, projections)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage, or a dead letter that could not be written
            tries += 1
            _say_retry(processor.name, recorded, exc, tries, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)


async def _attempt(processor: Handler, recorded: Recorded, projections: Projections) -> bool:
    if isinstance(recorded.event, Undecodable):
        await _set_aside(processor.name, recorded, projections, None)
        return False
    try:
        await processor.handle(recorded)
        if processor.name in LOGGED and events_log.isEnabledFor(logging.INFO) \
                and not isinstance(recorded.event, NodeHeartbeat):
            _say_handled(processor.name, recorded)
        return True
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise
        await _set_aside(processor.name, recorded, projections, exc)
        return False


async def _set_aside(name: str, recorded: Recorded, projections: Projections,
                     exc: BaseException | None) -> None:
    letter = event_letter(name, recorded, exc)
    await projections.apply(name, recorded.position, [letter])
    log.error("%s set aside %s at %s as a dead letter: %s %s", name,
              letter.body.get("event_type"), recorded.position,
              letter.body["error_type"], letter.body["error"], exc_info=exc)


def _say_retry(name: str, recorded: Recorded, exc: BaseException, tries: int,
               delay: float) -> None:
    """The first failure with its traceback, then one line per try."""
    outage = is_outage(exc)
    what = "an engine is unavailable" if outage else "the dead letter could not be written"
    log.warning("%s: %s at %s (%s: %s); try %d again in %.1f s", name, what,
                recorded.position, type(exc).__name__, exc, tries, delay,
                exc_info=exc if tries == 1 or not outage else None)


def _say_handled(name: str, recorded: Recorded) -> None:
    event = recorded.event
    agency = (getattr(event, "agency_code", None) or getattr(event, "source_agency_code", None)
              or getattr(event, "destination_code", None))
    events_log.info("%s %s", type(event).__name__, recorded.key, extra={
        "event": type(event).__name__, "event_id": event.event_id, "processor": name,
        "position": f"{recorded.position.topic}/{recorded.position.partition}/"
                    f"{recorded.position.offset}",
        "package_id": getattr(event, "package_id", None), "agency": agency,
        "app": getattr(event, "app_id", None) or getattr(event, "source_app_id", None),
        "correlation_id": event.correlation_id})
