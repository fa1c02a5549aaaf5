"""Presence: what tracking who is online costs.

- ``presence.processing``: connect/disconnect events per second through the presence
  processor (fold, rows and tracking record written per event), on the embedded SQLite
  adapters and on Kafka + Cassandra. The events are appended first (``append_per_s``), then
  read back and applied one by one as the drivers do; the baseline is reading them alone.
- ``presence.tracker_bytes_per_session``: memory of a node's in-memory presence state per
  held session (tracemalloc), the part presence adds to each connection.
- ``presence.rss_per_connection`` and ``presence.catch_up``: WebSockets held on one embedded
  node with presence on (every connection an ``AgencyConnected`` event and a projection
  row); the memory per connection compares with ``fanout.rss_per_connection``, and
  catch-up is how long until ``/v1/ops/presence`` counts them all.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from api.client import TrucClient
from bench.config import Engines
from bench.fanout import Holders, memory
from bench.hubproc import Hub, Provisioner
from bench.rss import rss_bytes
from hub import events as ev
from hub.presence.tracker import CLOSED, NodePresence, Who
from hub.topics import PRESENCE, record
from infra.bootstrap import Backend, migrate, open_backend
from infra.settings import Settings
from streams.presence import PresenceProcessor

AGENCIES = 50
APPS_PER_AGENCY = 4


def traffic(events: int) -> list[ev.Event]:
    """Half connects, half disconnects, over 50 agencies × 4 apps on 3 nodes."""
    clock = datetime(2026, 11, 27, 8, tzinfo=UTC)
    nodes = [NodePresence(f"node-{i}", timedelta(seconds=30), clock) for i in range(3)]
    who = [Who(f"ag-{a}", f"000.00.{a:02d}.H53", f"app-{a}-{p}")
           for a in range(AGENCIES) for p in range(APPS_PER_AGENCY)]
    out: list[ev.Event] = []
    for i in range(events // 2):
        at = clock + timedelta(milliseconds=i)
        node = nodes[i % 3]
        cid, opened = node.open(who[i % len(who)], "websocket", at)
        closed = node.close(cid, CLOSED, at + timedelta(seconds=1))
        assert closed is not None
        out += [opened, closed]
    return out


async def processing(backend_name: str, events: int, tmp: Path,
                     engines: Engines | None) -> dict[str, Any]:
    settings = _settings(backend_name, tmp, engines)
    await migrate(settings)
    backend = await open_backend(settings)
    try:
        made = traffic(events)
        began = time.perf_counter()
        for batch in range(0, len(made), 1000):  # connects before their disconnects
            chunk = made[batch:batch + 1000]
            await asyncio.gather(*(record(backend.events, e) for e in chunk[0::2]))
            await asyncio.gather(*(record(backend.events, e) for e in chunk[1::2]))
        appended = time.perf_counter() - began
        read = await _timed_read(backend)
        processor = PresenceProcessor(backend.projections)
        began = time.perf_counter()
        applied = 0
        async for recorded in backend.events.read(PRESENCE):
            applied += await processor.handle(recorded)
        elapsed = time.perf_counter() - began
    finally:
        await backend.close()
        if backend_name == "distributed":
            await _drop(settings)
    return {"events": len(made), "applied": applied, "seconds": round(elapsed, 2),
            "events_per_s": round(len(made) / elapsed, 1),
            "read_only_per_s": round(len(made) / read, 1),
            "append_per_s": round(len(made) / appended, 1)}


def _settings(backend: str, tmp: Path, engines: Engines | None) -> Settings:
    if backend == "embedded":
        return Settings(data_dir=tmp / f"presence-{uuid.uuid4().hex[:6]}")
    assert engines is not None
    tag = uuid.uuid4().hex[:8]
    return Settings(kafka=engines.kafka, cassandra=engines.cassandra, partitions=6,
                    topic_prefix=f"bench-presence-{tag}.", keyspace=f"bench_presence_{tag}")


async def _timed_read(backend: Backend) -> float:
    began = time.perf_counter()
    async for _ in backend.events.read(PRESENCE):
        pass
    return time.perf_counter() - began


async def _drop(settings: Settings) -> None:
    from infra.cassandra.session import CassandraSession

    hosts, port = settings.cassandra_hosts()
    db = await CassandraSession(hosts, port, settings.keyspace).connect()
    try:
        await db.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}")
    finally:
        await db.close()


def tracker_bytes_per_session(sessions: int) -> dict[str, Any]:
    """Memory of a node's presence state per session, half streams and half api."""
    now = datetime(2026, 11, 27, 8, tzinfo=UTC)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    node = NodePresence("node-0", timedelta(seconds=30), now)
    for i in range(sessions):
        who = Who(f"ag-{i % 500}", f"000.00.{i % 99:02d}.H53", f"app-{i}")
        if i % 2:
            node.open(who, "websocket", now)
        else:
            node.called(who, now)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"sessions": node.sessions, "bytes": used,
            "bytes_per_session": round(used / sessions, 1)}


async def held(hub: Hub, tmp: Path, level: int, apps: int) -> dict[str, Any]:
    """Holds ``level`` WebSockets on ``apps`` apps; memory, and how long until the presence
    projection counts them all."""
    prov = Provisioner(hub)
    keys = await prov.apps(apps, ["receive"])
    keys_file = tmp / "presence-holders.json"
    keys_file.write_text(json.dumps(keys))
    await asyncio.sleep(2)
    before = rss_bytes(hub.pid)
    holders = Holders(hub, keys_file)
    try:
        began = time.perf_counter()
        opened = await holders.grow_to(level)
        connected_at = time.perf_counter()
        codes = {k["code"] for k in keys}
        counted_at = await _until_counted(hub, prov, codes, holders.connected)
        await asyncio.sleep(2)
        mem = memory(hub, before, holders.connected)
    finally:
        final = await holders.close()
    return {"connections": holders.connected,
            "connect_seconds": round(connected_at - began, 2),
            "catch_up_seconds": round(max(0.0, counted_at - connected_at), 2), **mem,
            "opened": opened, "alive_at_end": final["alive"]}


async def _until_counted(hub: Hub, prov: Provisioner, codes: set[str], want: int,
                         seconds: float = 300) -> float:
    """The perf-counter time at which the ops presence counts ``want`` connections."""
    op = prov._op  # the provisioner's admin operator
    async with TrucClient(hub.url, op["access_key"], op["secret_key"]) as ops:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            rows = await ops.call("GET", "/v1/ops/presence")
            if sum(r["connections"] for r in rows if r["agency_code"] in codes) >= want:
                return time.perf_counter()
            await asyncio.sleep(0.2)
    raise TimeoutError(f"presence did not count {want} connections in {seconds} s")
