"""Helpers for the exchange tests: agencies with approved apps, raw storage readers."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cassandra.cluster import Cluster

from api.client import TrucClient
from hub.topics import PACKAGES
from infra.avro import default_codec
from infra.kafka.event_log import KafkaEventLog
from tests.e2e.hubs import RunningHub

_codes = itertools.count(39)


def next_code() -> str:
    """A fresh department-like code: 000.00.40.H53 … 000.00.99.H53, then 000.01.01.H53 …
    (a level is never 00 under a used one), enough for any test process."""
    upper, lower = divmod(next(_codes), 99)
    return f"000.{upper:02d}.{lower + 1:02d}.H53"


def agency_with_app(hub: RunningHub, operations: list[str] | None = None) -> dict[str, Any]:
    """A new agency with one approved app, made through the operator API."""
    code = next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": f"Đơn vị {code}"})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"})
    approved = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                       {"operations": operations or []})
    return {"code": code, "app_id": app["app_id"], **approved["key"]}


def client(hub: RunningHub, key: dict[str, Any]) -> TrucClient:
    return TrucClient(hub.url, key["access_key"], key["secret_key"])


async def first(stream: AsyncIterator[dict[str, Any]], kind: str,
                package_id: str | None = None, seconds: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        async for message in stream:
            if message["type"] == kind and package_id in (None, message.get("package_id")):
                return message
    raise AssertionError("stream ended")


def raw_chunks(hub: RunningHub, package_id: str) -> list[bytes]:
    """What the content store holds for a package, read past the hub."""
    if hub.backend == "embedded":
        with sqlite3.connect(Path(hub.env["TRUC_DATA_DIR"]) / "truc.sqlite3") as db:
            rows = db.execute("SELECT data FROM content_chunks WHERE package_id=?",
                              (package_id,)).fetchall()
        return [bytes(r[0]) for r in rows]
    blocks = _cql(hub, "SELECT data FROM content_blocks WHERE package_id=%s ALLOW FILTERING",
                  package_id)  # a scan: fine for a test keyspace, never done by the hub
    listed = _cql(hub, "SELECT idx FROM content_index WHERE package_id=%s", package_id)
    legacy = _cql(hub, "SELECT data FROM content_chunks WHERE package_id=%s", package_id)
    assert len(listed) == len(blocks), "every stored chunk is listed, and only those"
    return [bytes(r.data) for r in [*blocks, *legacy]]


def raw_key(hub: RunningHub, package_id: str) -> bytes | None:
    key_id = f"package:{package_id}"
    if hub.backend == "embedded":
        with sqlite3.connect(Path(hub.env["TRUC_DATA_DIR"]) / "truc.sqlite3") as db:
            row = db.execute("SELECT material FROM key_material WHERE key_id=?",
                             (key_id,)).fetchone()
        return None if row is None else bytes(row[0])
    rows = _cql(hub, "SELECT material FROM key_material WHERE key_id=%s", key_id)
    return bytes(rows[0].material) if rows else None


async def logged(hub: RunningHub, event_type: str, package_id: str) -> int:
    """How many ``event_type`` events of the package the hub's event log holds, read past
    the hub (the SQLite events table, or the Kafka topic)."""
    codec = default_codec()
    if hub.backend == "embedded":
        with sqlite3.connect(Path(hub.env["TRUC_DATA_DIR"]) / "truc.sqlite3") as db:
            rows = db.execute("SELECT payload FROM events WHERE topic=? AND key=?",
                              (PACKAGES, package_id)).fetchall()
        return sum(1 for (payload,) in rows if codec.name_of(bytes(payload)) == event_type)
    log = await KafkaEventLog(hub.env["TRUC_KAFKA"], hub.env["TRUC_TOPIC_PREFIX"]).start()
    try:
        return sum([r.key == package_id async for r in log.read(PACKAGES, types={event_type})])
    finally:
        await log.close()


def _cql(hub: RunningHub, query: str, *params: str) -> list[Any]:
    host, port = hub.env["TRUC_CASSANDRA"].split(":")
    cluster = Cluster([host], port=int(port))
    try:
        session = cluster.connect(hub.env["TRUC_KEYSPACE"])
        return list(session.execute(query, params))
    finally:
        cluster.shutdown()
