"""A poison event as the hostile seal of issue 10 left it in the log: a ``PackageSealed``
whose deadline (9999-12-31T23:59:59-00:01, i.e. year 10000 in UTC) encodes but cannot be
decoded (``OverflowError: date value out of range``). Built with fastavro directly, so
the bytes exist whatever the hub's own codec now refuses to write."""

from __future__ import annotations

import io
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from fastavro import parse_schema, schemaless_writer

from hub.topics import PACKAGES
from infra.avro import MAGIC, default_codec, schema_fingerprint
from tests.e2e.hubs import RunningHub

YEAR_10000_MS = 253_402_300_859_000
"""9999-12-31T23:59:59-00:01 in milliseconds since the epoch: past datetime.max."""


def overflowing_seal(package_id: str) -> bytes:
    raw = default_codec().schema("PackageSealed")
    record = {"event_id": str(uuid.uuid4()),
              "occurred_at": int(datetime.now(UTC).timestamp() * 1000),
              "actor": "app:hostile", "correlation_id": str(uuid.uuid4()),
              "package_id": package_id, "size": 10, "sha256": "ab" * 32,
              "deadline": YEAR_10000_MS, "offline_wait_seconds": None}
    out = io.BytesIO(MAGIC + schema_fingerprint(raw))
    out.seek(0, io.SEEK_END)
    schemaless_writer(out, parse_schema(raw), record)
    return out.getvalue()


async def inject(hub: RunningHub, package_id: str, payload: bytes) -> None:
    """Puts ``payload`` in the hub's packages topic as it is, past the hub."""
    if hub.backend == "embedded":
        path = Path(hub.env["TRUC_DATA_DIR"]) / "truc.sqlite3"
        with sqlite3.connect(path, isolation_level=None, timeout=30) as db:
            db.execute("BEGIN IMMEDIATE")
            (offset,) = db.execute("SELECT COALESCE(MAX(offset) + 1, 0) FROM events "
                                   "WHERE topic=? AND partition=0", (PACKAGES,)).fetchone()
            db.execute("INSERT INTO events VALUES (?,0,?,?,?)",
                       (PACKAGES, offset, package_id, payload))
            db.execute("COMMIT")
        return
    producer = AIOKafkaProducer(bootstrap_servers=hub.env["TRUC_KAFKA"], acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(hub.env["TRUC_TOPIC_PREFIX"] + PACKAGES, payload,
                                     key=package_id.encode())
    finally:
        await producer.stop()
