"""The Faust worker (`truc worker`): the distributed driver of the hub's processors.

One agent per processor consumes its topics in the ``<topic prefix>worker`` consumer
group (``truc.worker`` by default), so adding workers spreads the partitions. Each agent
only decodes and calls the same ``Processor.handle`` the embedded loop calls, through
``handle_guarded`` (outages retried in place, poison events dead-lettered), and acks an
event only after that; tracking records in Cassandra make Faust's at-least-once
delivery exactly-once in the projections.
Each handled position is also told to the worker's ``Applied``, so a processor waiting for
another one here (webhooks for the package row) is woken at once. The worker holding
partition 0 of the packages topic also runs the deadline watchdog and the alert sweep; the
one holding partition 0 of the presence topic sweeps lost nodes. No business rules here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import faust
from mode import Service

from hub.events import Event
from hub.ports import Position, Projections, Recorded
from hub.registry.view import RegistryView
from hub.topics import PACKAGES, PRESENCE, REGISTRY
from infra.avro import default_codec
from infra.bootstrap import Backend, open_backend
from infra.crypto import MasterKeyWrapper, load_master_key
from infra.logs import uvicorn_config
from infra.settings import Settings
from infra.undecodable import lenient
from streams.applied import Applied
from streams.catalog import TOPICS, build_alert_sweep, build_processors, build_watchdog
from streams.guard import handle_guarded
from streams.in_flight import InFlight
from streams.outbox import Outbox
from streams.presence import PresenceWatchdog
from streams.runner import Processor, follow
from streams.tracking import TrackingCache


class ProcessorsService(Service):
    """Opens the backend when the worker starts and builds the processors on it."""

    def __init__(self, settings: Settings, is_leader: Callable[[], bool] = lambda: True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._is_leader = is_leader
        self._watchdog: asyncio.Task[None] | None = None
        self._alerts: asyncio.Task[None] | None = None
        self._backend: Backend | None = None
        self._processors: dict[str, Processor] = {}
        self.watchdog: PresenceWatchdog | None = None
        self._follower: asyncio.Task[None] | None = None
        self.applied: Applied | None = None
        self.tracking: TrackingCache | None = None
        self.ready = asyncio.Event()

    async def on_start(self) -> None:
        settings = self.settings
        self._backend = await open_backend(settings)
        wrapper = MasterKeyWrapper(load_master_key(
            settings.master_key, settings.master_key_file, settings.data_dir, create=False))
        view = RegistryView()
        self._follower = asyncio.create_task(
            follow(self._backend.events, [REGISTRY], view.apply))
        self.applied = Applied(self._backend.projections)
        self.tracking = TrackingCache(self._backend.projections)
        found = build_processors(self._backend, wrapper, view, settings,
                                 applied=self.applied, tracking=self.tracking)
        self._processors = {p.name: p for p in found}
        self._watchdog = asyncio.create_task(
            build_watchdog(self._backend, view, settings, self._is_leader).run())
        self._alerts = asyncio.create_task(build_alert_sweep(
            self._backend, view, settings, self.applied, self._is_leader).run())
        self.watchdog = PresenceWatchdog(
            self._backend.events, self._backend.projections, self._backend.clock,
            timedelta(seconds=settings.heartbeat_seconds), settings.node_missed_heartbeats)
        self.ready.set()

    async def on_stop(self) -> None:
        for task in (self._follower, self._watchdog, self._alerts):
            if task is not None:
                task.cancel()
        if self.applied is not None:
            await self.applied.close()
        if self._backend is not None:
            await self._backend.close()

    def forget_tracking(self) -> None:
        """Partitions may move at a rebalance: what this worker remembers of tracking
        records may be stale, so the next event of each partition reads them again."""
        if self.tracking is not None:
            self.tracking.forget()

    @property
    def projections(self) -> Projections:
        """Where dead letters go (started before any agent asks: ``processor`` waits)."""
        assert self._backend is not None, "the service has not started"
        return self._backend.projections

    async def processor(self, name: str) -> Processor:
        await self.ready.wait()
        return self._processors[name]

    async def outboxes(self) -> list[Outbox]:
        await self.ready.wait()
        return [p for p in self._processors.values() if isinstance(p, Outbox)]


class WorkerApp(faust.App):
    """Faust's app, waiting at a rebalance only for the events its agents hold."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = InFlight()

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        """Replaces Faust's wait for every message it delivered (``consumer.wait_empty``),
        which also waits for the messages it cleared from the agents' buffers just before
        and never returns for them (streams/in_flight.py)."""
        if self.conf.stream_wait_empty:
            logger.info("Wait for the events the agents hold...")
            await self.in_flight.wait_idle()


def create_worker_app(settings: Settings) -> Any:
    if not (settings.kafka and settings.cassandra):
        raise ValueError("the worker needs --kafka and --cassandra")
    app = WorkerApp(
        worker_group(settings),
        broker=[f"kafka://{h.strip()}" for h in settings.kafka.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=True,
        web_port=settings.worker_web_port,
        web_bind="127.0.0.1",
        consumer_auto_offset_reset="earliest",
        # a worker that dies gives its partitions back after 10 s, not Faust's 60 s
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        broker_rebalance_timeout=settings.worker_rebalance_seconds,
        consumer_group_instance_id=settings.worker_instance,
    )
    service = ProcessorsService(settings, lambda: holds_first_packages_partition(app, settings))
    app.add_dependency(service)  # started and stopped with the app

    def forget(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Revoked is sent once the agents have finished their events in flight."""
        service.forget_tracking()

    app.on_partitions_revoked.connect(forget)
    app.on_partitions_assigned.connect(forget)

    for name, topics in processor_topics().items():
        _add_agent(app, settings, name, topics, service)
    _add_watchdog(app, settings, service)
    _add_webhook_resume(app, settings, service)
    return app


def _add_watchdog(app: Any, settings: Settings, service: ProcessorsService) -> None:
    """The presence watchdog runs on one worker: the one that owns partition 0 of the
    presence topic (the group gives each partition to exactly one member). During a
    rebalance two may sweep at once; the fold ignores the repeated loss."""
    first = (settings.topic_prefix + PRESENCE, 0)

    async def sweep() -> None:
        owned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        if first in owned and service.watchdog is not None:
            try:
                await service.watchdog.tick()
            except Exception:
                logging.getLogger(__name__).exception("presence watchdog sweep failed")

    app.timer(settings.heartbeat_seconds, name="truc.presence-watchdog")(sweep)


def _add_webhook_resume(app: Any, settings: Settings, service: ProcessorsService) -> None:
    """Each worker resumes the outbox rows (webhook posts, forwarded deliveries) of the
    packages partitions it holds: those a stopped or crashed worker left, or those of
    partitions it was just given."""
    topic = settings.topic_prefix + PACKAGES

    async def resume() -> None:
        owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == topic]
        for outbox in await service.outboxes():
            try:
                await outbox.resume(owned)
            except Exception:
                logging.getLogger(__name__).exception("%s outbox resume failed", outbox.name)

    app.timer(settings.webhook_resume_seconds, name="truc.webhook-resume")(resume)


def worker_group(settings: Settings) -> str:
    """The consumer group, named after the topic prefix: two hubs sharing a Kafka cluster
    must never rebalance each other's workers (nor wait out each other's dead members)."""
    return f"{settings.topic_prefix}worker"


def holds_first_packages_partition(app: Any, settings: Settings) -> bool:
    """The watchdog's leader: the one worker that holds partition 0 of the packages topic
    (the group assigns each partition to exactly one member)."""
    topic = f"{settings.topic_prefix}{PACKAGES}"
    try:
        assigned = app.consumer.assignment()
    except Exception:  # no consumer yet: not assigned anything
        return False
    return any(tp.topic == topic and tp.partition == 0 for tp in assigned)


def processor_topics() -> dict[str, tuple[str, ...]]:
    return dict(TOPICS)


def _add_agent(app: Any, settings: Settings, name: str, topics: tuple[str, ...],
               service: ProcessorsService) -> None:
    topic = app.topic(*(settings.topic_prefix + t for t in topics))
    decode = lenient(default_codec())

    async def agent(stream: Any) -> AsyncIterator[None]:
        """Acks by hand (``noack``): Faust acks an event when the agent's loop moves past
        it, also when the loop fails or is cancelled, and commits what was acked — so a
        handler raising on a Cassandra outage lost its event. Here an event is acked only
        once applied or dead-lettered (``handle_guarded`` retries outages in place); a
        worker stopped mid-retry leaves it unacked, and the next owner reads it again."""
        processor = await service.processor(name)
        manual = stream.noack()
        async for event in manual.events():
            with app.in_flight.holding():
                recorded = _recorded(event.message, settings.topic_prefix, decode)
                await handle_guarded(processor, recorded, service.projections)
                if service.applied is not None:
                    service.applied.advance(name, recorded.position)
                await manual.ack(event)
            yield None

    app.agent(topic, name=f"truc.{name}")(agent)


def _recorded(msg: Any, prefix: str, decode: Callable[[bytes | None], Event]) -> Recorded:
    """Decoded inside the guarded path: bytes that are not an event come as
    ``Undecodable`` and are dead-lettered, instead of crashing the agent."""
    return Recorded(Position(msg.topic.removeprefix(prefix), msg.partition, msg.offset),
                    (msg.key or b"").decode(errors="replace"), decode(msg.value))


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGINT/SIGTERM)."""
    app = create_worker_app(settings)
    logging_config = uvicorn_config(settings.log_format, loglevel.upper()) \
        if settings.log_format == "json" else None  # plain: Faust's own coloured lines
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False,
                          logging_config=logging_config)
    if logging_config is not None:
        worker.spinner = None  # no terminal spinner in a JSON log, nor its WARN-only filter
    worker.execute_from_commandline()
