"""An asyncio face for cassandra-driver.

The driver runs its own I/O thread and hands back ``ResponseFuture``s; we bridge each to
an asyncio future with ``call_soon_threadsafe``. Statements are prepared once, at start,
because preparing blocks. Paging is turned off (every read is small: projection
partitions, chunk listings of tiny cells); content reads fetch one chunk per query.

A Cassandra that is down, unreachable or too slow raises the domain's retriable
``Unavailable`` (code ``engine_unavailable``), so a request answers 503, not 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cassandra
from cassandra import ConsistencyLevel
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, LoadBalancingPolicy, RoundRobinPolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import PreparedStatement

from hub.errors import Unavailable

MIGRATIONS = Path(__file__).with_name("migrations")

ENGINE_DOWN: tuple[type[Exception], ...] = (
    NoHostAvailable, cassandra.OperationTimedOut, ConnectionException,
    cassandra.Unavailable, cassandra.Timeout, cassandra.CoordinationFailure,
    OverloadedErrorMessage, IsBootstrappingErrorMessage,
)
"""What the driver raises when Cassandra is unreachable, overloaded or too slow — as
opposed to a bad statement, which stays a bug (500)."""


def keyspace_replication(replication: int, datacenter: str | None) -> str:
    """SimpleStrategy for one machine; NetworkTopologyStrategy once the operator names the
    data centre, the production choice (a second data centre can be added later)."""
    if datacenter:
        return (f"{{'class': 'NetworkTopologyStrategy', "
                f"'{_cql_name(datacenter)}': {replication}}}")
    return f"{{'class': 'SimpleStrategy', 'replication_factor': {replication}}}"


def _cql_name(name: str) -> str:
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"not a data centre name: {name!r}")
    return name


def engine_unavailable(exc: BaseException) -> Unavailable:
    return Unavailable(f"Cassandra did not answer ({type(exc).__name__}); retry later",
                       code="engine_unavailable", engine="cassandra")


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Turns the driver's "engine down" exceptions into the domain's ``Unavailable``."""
    try:
        yield
    except ENGINE_DOWN as exc:
        raise engine_unavailable(exc) from exc


class CassandraSession:
    """Reads and writes at a quorum of replicas, so a cluster with replication 3 keeps
    read-your-writes and goes on with one node down; with one node a quorum is that node.
    Naming the data centre (``datacenter``) keeps the quorum and routing in it (LOCAL_*)."""

    def __init__(self, hosts: Sequence[str], port: int, keyspace: str, *,
                 request_timeout: float = 30, connect_timeout: float = 10,
                 datacenter: str | None = None) -> None:
        self.keyspace = keyspace
        self.datacenter = datacenter
        policy: LoadBalancingPolicy = (DCAwareRoundRobinPolicy(local_dc=datacenter)
                                       if datacenter else RoundRobinPolicy())
        profile = ExecutionProfile(
            load_balancing_policy=policy, request_timeout=request_timeout,
            consistency_level=(ConsistencyLevel.LOCAL_QUORUM if datacenter
                               else ConsistencyLevel.QUORUM),
            serial_consistency_level=(ConsistencyLevel.LOCAL_SERIAL if datacenter
                                      else ConsistencyLevel.SERIAL))
        # No schema or token metadata: nothing here reads the driver's model of every
        # keyspace (round-robin routing needs no token map), and fetching it cost
        # 0.2-0.5 s on each connect — every API node, worker and local `truc admin`.
        self._cluster = Cluster(
            list(hosts), port=port, protocol_version=5, connect_timeout=connect_timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            schema_metadata_enabled=False, token_metadata_enabled=False,
        )
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._preparing: dict[str, asyncio.Future[PreparedStatement]] = {}

    async def connect(self) -> CassandraSession:
        with mapped_errors():
            session = await asyncio.to_thread(self._cluster.connect)
        session.default_fetch_size = None  # no paging: a listing is never cut short
        self._session = session
        return self

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("CassandraSession.connect() was not awaited")
        return self._session

    async def prepare(self, cql: str) -> PreparedStatement:
        """One ``PreparedStatement`` per CQL text, even for callers racing at start: the
        driver keeps only a weak reference to the *last* object prepared for a query id,
        and needs it to re-prepare a batch's statements on a Cassandra node that
        restarted. A second object prepared by a racing caller replaced it there, then
        was collected: the node's "unprepared" answer then made the driver fail with an
        AttributeError (its own bug on that path), which a processor rightly takes for a
        poison event — a valid event set aside (the cluster test's all-at-once kill)."""
        found = self._prepared.get(cql)
        if found is not None:
            return found
        pending = self._preparing.get(cql)
        if pending is None:
            pending = self._preparing[cql] = asyncio.ensure_future(
                asyncio.to_thread(self.session.prepare, cql))
        try:
            with mapped_errors():
                found = await asyncio.shield(pending)
        finally:
            if pending.done():  # prepared, or failed: then tried again next time
                self._preparing.pop(cql, None)
        return self._prepared.setdefault(cql, found)

    async def execute(self, statement: Any, params: Sequence[Any] | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        with mapped_errors():
            future: ResponseFuture = self.session.execute_async(statement, params)

        def ok(rows: Any) -> None:
            loop.call_soon_threadsafe(_settle, done, list(rows or []), None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, exc)

        future.add_callbacks(ok, failed)
        with mapped_errors():
            return await done

    async def execute_all(self, statement: Any, params: Sequence[Any] | None = None
                          ) -> list[Any]:
        """Every row, page after page (``execute`` returns the first page only)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        found: list[Any] = []
        with mapped_errors():
            future: ResponseFuture = self.session.execute_async(statement, params)

        def ok(rows: Any) -> None:  # on the driver's thread, once per page
            found.extend(rows or [])
            try:
                if future.has_more_pages:
                    future.start_fetching_next_page()
                    return
            except Exception as exc:  # the next page could not even be asked for
                loop.call_soon_threadsafe(_settle, done, None, exc)
                return
            loop.call_soon_threadsafe(_settle, done, found, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, exc)

        future.add_callbacks(ok, failed)
        with mapped_errors():
            return await done

    async def migrate(self, replication: int) -> list[str]:
        """Creates the keyspace and applies the CQL migrations not applied yet."""
        await self.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            f"{keyspace_replication(int(replication), self.datacenter)}"
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
        with mapped_errors():
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
