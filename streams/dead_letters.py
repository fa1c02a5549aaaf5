"""Dead letters: what a processor set aside because it can never apply it.

A poison event (bytes that do not decode, an event the domain refuses) would fail on
every try; retrying it would stop its partition for good, and skipping it silently would
hide it. So the driver writes one row to the ``dead_letters`` view *in the same tracked
``apply`` as the processor's tracking record* for that position: the partition moves on
exactly once, and a redelivered poison event finds the position applied (no second
row). A timer that meets a projection row it cannot judge (the watchdog) sets the row
aside the same way, keyed by the row instead of a log position.

All dead letters share one partition of the view (there should be few; each is a bug or
an attack to look at): ``/healthz`` counts them, ``GET /v1/ops/dead-letters`` and ``truc
admin dead-letters`` list them. They are kept until an operator has looked; the event
itself stays in the log at its position.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hub.ports import Projections, Recorded, Row, RowRef, Undecodable

VIEW = "dead_letters"
PARTITION = "all"
RAW_KEPT = 64 * 1024
"""Undecodable bytes up to this size are kept (base64) in the dead letter; beyond it,
only their size: the record is still in the log at its position."""


def event_ref(processor: str, recorded: Recorded) -> RowRef:
    pos = recorded.position
    return RowRef(VIEW, PARTITION,
                  f"{processor}|{pos.topic}|{pos.partition:06d}|{pos.offset:020d}")


def event_letter(processor: str, recorded: Recorded, exc: BaseException | None) -> Row:
    """The dead letter of ``recorded`` for ``processor``: ``exc`` is why it cannot be
    applied (None: it does not decode, and the placeholder says why)."""
    event, pos = recorded.event, recorded.position
    body: dict[str, Any] = {
        "processor": processor, "topic": pos.topic, "partition": pos.partition,
        "offset": pos.offset, "key": recorded.key, "first_seen": _now()}
    if isinstance(event, Undecodable):
        body |= {"event_type": event.type_name, "error_type": "Undecodable",
                 "error": event.error, "size": len(event.raw)}
        if len(event.raw) <= RAW_KEPT:
            body["raw_base64"] = base64.b64encode(event.raw).decode()
    else:
        body |= {"event_type": type(event).__name__, "event_id": event.event_id,
                 **_error(exc)}
    return Row(event_ref(processor, recorded), body)


def row_letter(processor: str, ref: RowRef, exc: BaseException) -> Row:
    """The dead letter of a projection row a timer cannot judge."""
    return Row(RowRef(VIEW, PARTITION, f"{processor}|row|{ref.view}|{ref.partition}|{ref.key}"),
               {"processor": processor, "view": ref.view, "view_partition": ref.partition,
                "row_key": ref.key, "first_seen": _now(), **_error(exc)})


async def dead_letters(projections: Projections, limit: int | None = None
                       ) -> list[dict[str, Any]]:
    """The dead letters, by processor and position (the first ``limit``)."""
    rows = await projections.scan(VIEW, PARTITION)
    return [dict(row.body) for row in rows[:limit]]


async def summary(projections: Projections) -> dict[str, Any]:
    """How many, and how many per processor: what ``/healthz`` shows."""
    letters = await dead_letters(projections)
    return {"count": len(letters),
            "processors": dict(sorted(Counter(str(d["processor"]) for d in letters).items()))}


def _error(exc: BaseException | None) -> dict[str, str]:
    if exc is None:
        return {"error_type": "unknown", "error": ""}
    return {"error_type": type(exc).__name__, "error": str(exc)[:2000]}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
