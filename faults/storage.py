"""What the hub really holds, read past it: the package events in the log (through the
``EventLog`` port, as ``truc replay`` reads them) and the raw content rows and data keys
(CQL or SQLite directly, as the e2e test on abandoned spaces does)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub import events as ev
from hub.topics import PACKAGES
from infra.bootstrap import open_backend
from infra.settings import Settings


@dataclass
class Logged:
    """One package's events, as the log holds them."""

    requested: set[str] = field(default_factory=set)
    """Event ids of ``PackageRequested`` (one request should be one event)."""
    sealed: bool = False
    planned: int = 0
    fetched: int = 0
    acks: set[str] = field(default_factory=set)
    ack_records: int = 0
    shredded: bool = False


def settings_of(env: dict[str, str]) -> Settings:
    values: dict[str, Any] = {k[5:].lower(): v for k, v in env.items() if k.startswith("TRUC_")}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def read_log(env: dict[str, str]) -> dict[str, Logged]:
    backend = await open_backend(settings_of(env))
    found: dict[str, Logged] = defaultdict(Logged)
    try:
        async for recorded in backend.events.read(PACKAGES):
            e = recorded.event
            pid = getattr(e, "package_id", None)
            if pid is None:
                continue
            one = found[pid]
            if isinstance(e, ev.PackageRequested):
                one.requested.add(e.event_id)
            elif isinstance(e, ev.PackageSealed):
                one.sealed = True
            elif isinstance(e, ev.DeliveryPlanned):
                one.planned += 1
            elif isinstance(e, ev.DeliveryFetched):
                one.fetched += 1
            elif isinstance(e, ev.DeliveryAcknowledged):
                one.acks.add(e.event_id)
                one.ack_records += 1
            elif isinstance(e, ev.ContentShredded):
                one.shredded = True
    finally:
        await backend.close()
    return dict(found)


class RawContent:
    """Counts what is left of a package's content: chunk rows and its data key."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._session: Any = None
        self._cluster: Any = None

    def left(self, package_id: str, chunks: int = 1) -> int:
        if "TRUC_CASSANDRA" not in self.env:
            return self._sqlite(package_id)
        return self._cql(package_id, chunks)

    def _sqlite(self, package_id: str) -> int:
        path = Path(self.env["TRUC_DATA_DIR"]) / "truc.sqlite3"
        with sqlite3.connect(path, timeout=30) as db:
            chunks = db.execute("SELECT count(*) FROM content_chunks WHERE package_id=?",
                                (package_id,)).fetchone()[0]
            keys = db.execute("SELECT count(*) FROM key_material WHERE key_id=?",
                              (f"package:{package_id}",)).fetchone()[0]
        return int(chunks) + int(keys)

    def _cql(self, package_id: str, chunks: int) -> int:
        if self._session is None:
            from cassandra import ConsistencyLevel
            from cassandra.cluster import Cluster

            hosts, port = settings_of(self.env).cassandra_hosts()
            self._cluster = Cluster(hosts, port=port)
            self._session = self._cluster.connect(self.env["TRUC_KEYSPACE"])
            # a quorum's view, as the hub reads: one replica alone may not have the deletes
            self._session.default_consistency_level = ConsistencyLevel.QUORUM
        run = self._session.execute
        found = len(list(run("SELECT idx FROM content_index WHERE package_id=%s",
                             (package_id,))))
        found += len(list(run("SELECT idx FROM content_chunks WHERE package_id=%s",
                              (package_id,))))
        for idx in range(chunks):
            found += len(list(run("SELECT idx FROM content_blocks WHERE package_id=%s AND "
                                  "idx=%s", (package_id, idx))))
        found += len(list(run("SELECT key_id FROM key_material WHERE key_id=%s",
                              (f"package:{package_id}",))))
        return found

    async def left_async(self, package_id: str) -> int:
        return await asyncio.to_thread(self.left, package_id)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
