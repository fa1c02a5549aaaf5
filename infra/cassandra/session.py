"""An asyncio face for cassandra-driver.

The driver runs its own I/O thread and hands back ``ResponseFuture``s; we bridge each to
an asyncio future with ``call_soon_threadsafe``. Statements are prepared once, at start,
because preparing blocks. Paging is turned off for the small reads projections do;
content reads fetch one chunk per query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.policies import RoundRobinPolicy
from cassandra.query import PreparedStatement

MIGRATIONS = Path(__file__).with_name("migrations")


class CassandraSession:
    def __init__(self, hosts: Sequence[str], port: int, keyspace: str) -> None:
        self.keyspace = keyspace
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(),
                                   request_timeout=30)
        self._cluster = Cluster(
            list(hosts), port=port, protocol_version=5, connect_timeout=10,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}

    async def connect(self) -> CassandraSession:
        self._session = await asyncio.to_thread(self._cluster.connect)
        return self

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("CassandraSession.connect() was not awaited")
        return self._session

    async def prepare(self, cql: str) -> PreparedStatement:
        if cql not in self._prepared:
            self._prepared[cql] = await asyncio.to_thread(self.session.prepare, cql)
        return self._prepared[cql]

    async def execute(self, statement: Any, params: Sequence[Any] | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        future: ResponseFuture = self.session.execute_async(statement, params)

        def ok(rows: Any) -> None:
            loop.call_soon_threadsafe(_settle, done, list(rows or []), None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, exc)

        future.add_callbacks(ok, failed)
        return await done

    async def execute_all(self, statement: Any, params: Sequence[Any] | None = None
                          ) -> list[Any]:
        """Every row, page after page (``execute`` returns the first page only)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        found: list[Any] = []
        future: ResponseFuture = self.session.execute_async(statement, params)

        def ok(rows: Any) -> None:  # on the driver's thread, once per page
            found.extend(rows or [])
            if future.has_more_pages:
                future.start_fetching_next_page()
            else:
                loop.call_soon_threadsafe(_settle, done, found, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, exc)

        future.add_callbacks(ok, failed)
        return await done

    async def migrate(self, replication: int) -> list[str]:
        """Creates the keyspace and applies the CQL migrations not applied yet."""
        await self.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            f"{{'class': 'SimpleStrategy', 'replication_factor': {int(replication)}}}"
        )
        await asyncio.to_thread(self.session.set_keyspace, self.keyspace)
        await self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(id text PRIMARY KEY, applied_at timestamp)"
        )
        applied = {row.id for row in await self.execute("SELECT id FROM schema_migrations")}
        done = []
        for path in sorted(MIGRATIONS.glob("*.cql")):
            if path.stem in applied:
                continue
            for statement in _statements(path.read_text()):
                await self.execute(statement)
            await self.execute(
                "INSERT INTO schema_migrations (id, applied_at) VALUES (%s, toTimestamp(now()))",
                [path.stem],
            )
            done.append(path.stem)
        return done

    async def use_keyspace(self) -> None:
        await asyncio.to_thread(self.session.set_keyspace, self.keyspace)

    async def ping(self) -> bool:
        try:
            await self.execute("SELECT release_version FROM system.local")
            return True
        except Exception:  # any failure means "does not answer"
            return False

    async def close(self) -> None:
        await asyncio.to_thread(self._cluster.shutdown)


def _settle(
    done: asyncio.Future[list[Any]], rows: list[Any] | None, exc: BaseException | None
) -> None:
    if done.done():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(rows or [])


def _statements(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
