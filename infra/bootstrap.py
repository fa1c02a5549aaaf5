"""All wiring in one place: settings in, a ready ``Backend`` out.

Nothing connects at import time. The embedded default opens one SQLite file; the
distributed backend connects to Kafka and Cassandra. Callers get the same ports either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.clock import SystemClock
from hub.ports import Clock, ContentStore, EventLog, KeyStore, Projections, ReplayGuard
from hub.topics import ALL_TOPICS
from infra.settings import Settings

Probe = Callable[[], Awaitable[bool]]

log = logging.getLogger(__name__)


@dataclass
class Backend:
    name: str
    events: EventLog
    projections: Projections
    content: ContentStore
    keys: KeyStore
    replay: ReplayGuard
    clock: Clock
    probes: dict[str, Probe]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def health(self, within: float = 5) -> dict[str, Any]:
        """Each engine probed at once (``ok``, ``ms``, and ``error`` when it fails);
        ``down`` names the engines that did not answer ``within`` seconds."""
        names = list(self.probes)
        results = await asyncio.gather(*(_probe(self.probes[n], within) for n in names))
        engines = dict(zip(names, results, strict=True))
        down = [n for n, e in engines.items() if not e["ok"]]
        return {"status": "degraded" if down else "ok", "backend": self.name,
                "engines": engines, "down": down}

    async def close(self) -> None:
        for closer in reversed(self.closers):
            await closer()


async def _probe(probe: Probe, within: float) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            ok, error = await probe(), "did not answer"
    except TimeoutError:
        ok, error = False, f"no answer within {within:g} s"
    except Exception as exc:  # a probe that fails in any way reports it, never a 500
        ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
    result: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - began) * 1000, 1)}
    if not ok:
        result["error"] = error
    return result


async def open_backend(settings: Settings) -> Backend:
    settings.check()
    if settings.distributed:
        return await _open_distributed(settings)
    return await _open_embedded(settings)


async def _open_embedded(settings: Settings) -> Backend:
    from infra.sqlite.database import Database
    from infra.sqlite.event_log import SqliteEventLog
    from infra.sqlite.projections import SqliteProjections
    from infra.sqlite.stores import SqliteContentStore, SqliteKeyStore, SqliteReplayGuard

    db = await Database(settings.sqlite_path).open()
    if not await db.run(lambda: db.reclaims_space):
        log.warning("%s was made without auto_vacuum=INCREMENTAL: destroyed content's "
                    "space is not given back; run `truc migrate` once with the hub stopped",
                    settings.sqlite_path)
    return Backend(
        name="embedded", events=SqliteEventLog(db), projections=SqliteProjections(db),
        content=SqliteContentStore(db), keys=SqliteKeyStore(db),
        replay=SqliteReplayGuard(db), clock=SystemClock(),
        probes={"sqlite": db.ping}, closers=[db.close],
    )


async def _open_distributed(settings: Settings) -> Backend:
    from infra.cassandra.projections import CassandraProjections
    from infra.cassandra.session import CassandraSession
    from infra.cassandra.stores import (
        CassandraContentStore,
        CassandraKeyStore,
        CassandraReplayGuard,
    )
    from infra.kafka.admin import kafka_answers
    from infra.kafka.event_log import KafkaEventLog

    assert settings.kafka is not None
    bootstrap = settings.kafka
    hosts, port = settings.cassandra_hosts()
    cassandra = await CassandraSession(hosts, port, settings.keyspace,
                                       datacenter=settings.cassandra_datacenter).connect()
    await cassandra.use_keyspace()
    events = await KafkaEventLog(bootstrap, settings.topic_prefix).start()

    async def kafka_probe() -> bool:
        return await kafka_answers(bootstrap)

    return Backend(
        name="distributed", events=events, projections=CassandraProjections(cassandra),
        content=CassandraContentStore(cassandra), keys=CassandraKeyStore(cassandra),
        replay=CassandraReplayGuard(cassandra),
        clock=SystemClock(), probes={"kafka": kafka_probe, "cassandra": cassandra.ping},
        closers=[cassandra.close, events.close],
    )


async def migrate(settings: Settings) -> dict[str, list[str]]:
    """Creates what the backend needs (topics, keyspace, tables); safe to run again."""
    settings.check()
    if not settings.distributed:
        from infra.sqlite.database import Database

        db = await Database(settings.sqlite_path).open()
        try:
            vacuumed = await db.make_reclaiming()
        finally:
            await db.close()
        done = ["auto_vacuum=INCREMENTAL (VACUUM once)"] if vacuumed else []
        return {"sqlite": [str(settings.sqlite_path), *done]}
    from infra.cassandra.session import CassandraSession
    from infra.kafka.admin import ensure_topics

    assert settings.kafka is not None
    topics = await ensure_topics(
        settings.kafka, [settings.topic_prefix + t for t in ALL_TOPICS],
        settings.partitions, settings.replication,
    )
    hosts, port = settings.cassandra_hosts()
    cassandra = await CassandraSession(hosts, port, settings.keyspace,
                                       datacenter=settings.cassandra_datacenter).connect()
    try:
        tables = await cassandra.migrate(settings.replication)
    finally:
        await cassandra.close()
    return {"kafka_topics": topics, "cassandra_migrations": tables}
