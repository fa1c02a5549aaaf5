"""Decoding that never fails a read: bytes that are not an event become ``Undecodable``.

Both event logs decode through ``lenient``, so one bad record (written by a buggy or
newer release, produced raw to a topic, a date the codec wrote but cannot read back) no
longer raises out of ``read`` or ``subscribe`` — which stopped every processor at that
offset, for ever. The record reaches the processor drivers, which set it aside as a
dead letter (``streams/guard.py``) and go on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from hub.events import Event
from hub.ports import Undecodable
from infra.avro import EventCodec

Decode = Callable[[bytes], Event]


def lenient(codec: EventCodec, decode: Decode | None = None) -> Callable[[bytes | None], Event]:
    """``decode`` (default: the codec's whole decode), answering ``Undecodable`` where
    it would raise."""
    strict = decode or codec.decode

    def read(data: bytes | None) -> Event:
        try:
            return strict(data)  # type: ignore[arg-type]  # None fails like bad bytes
        except Exception as exc:  # whatever the bytes made the decoder raise
            return undecodable(codec, data or b"", exc)

    return read


def undecodable(codec: EventCodec, data: bytes, exc: BaseException) -> Undecodable:
    """The placeholder for ``data``; its id is derived from the bytes, so reading the
    same record twice gives the same placeholder."""
    raw = bytes(data)
    try:
        type_name = codec.name_of(raw)
    except Exception:  # too short for a header
        type_name = None
    return Undecodable(
        event_id=f"undecodable:{hashlib.sha256(raw).hexdigest()[:32]}",
        occurred_at=datetime.fromtimestamp(0, UTC), actor="", correlation_id="",
        raw=raw, type_name=type_name, error=f"{type(exc).__name__}: {exc}"[:2000])
