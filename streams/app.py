"""The Faust worker (`truc worker`): the distributed driver of the hub's processors.

One agent per processor consumes its topics in the ``<topic prefix>worker`` consumer
group (``truc.worker`` by default), so adding workers spreads the partitions. Each agent
only decodes and calls the same ``Processor.handle`` the embedded loop calls; tracking
records in Cassandra make Faust's at-least-once delivery exactly-once in the projections.
Each handled position is also told to the worker's ``Applied``, so a processor waiting for
another one here (webhooks for the package row) is woken at once. The worker holding
partition 0 of the packages topic also runs the deadline watchdog; the one holding
partition 0 of the presence topic sweeps lost nodes. No business rules here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import faust
from mode import Service

from hub.ports import Position, Recorded
from hub.registry.view import RegistryView
from hub.topics import PACKAGES, PRESENCE, REGISTRY
from infra.avro import default_codec
from infra.bootstrap import Backend, open_backend
from infra.crypto import MasterKeyWrapper, load_master_key
from infra.settings import Settings
from streams.applied import Applied
from streams.catalog import TOPICS, build_processors, build_watchdog
from streams.presence import PresenceWatchdog
from streams.runner import Processor, follow
from streams.tracking import TrackingCache
from streams.webhooks import WebhookProcessor


class ProcessorsService(Service):
    """Opens the backend when the worker starts and builds the processors on it."""

    def __init__(self, settings: Settings, is_leader: Callable[[], bool] = lambda: True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._is_leader = is_leader
        self._watchdog: asyncio.Task[None] | None = None
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
        self.watchdog = PresenceWatchdog(
            self._backend.events, self._backend.projections, self._backend.clock,
            timedelta(seconds=settings.heartbeat_seconds), settings.node_missed_heartbeats)
        self.ready.set()

    async def on_stop(self) -> None:
        for task in (self._follower, self._watchdog):
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

    async def processor(self, name: str) -> Processor:
        await self.ready.wait()
        return self._processors[name]


def create_worker_app(settings: Settings) -> Any:
    if not (settings.kafka and settings.cassandra):
        raise ValueError("the worker needs --kafka and --cassandra")
    app = faust.App(
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
    """Each worker resumes the outbox rows of the packages partitions it holds: those a
    stopped or crashed worker left, or those of partitions it was just given."""
    topic = settings.topic_prefix + PACKAGES

    async def resume() -> None:
        owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == topic]
        hooks = await service.processor(WebhookProcessor.name)
        assert isinstance(hooks, WebhookProcessor)
        try:
            await hooks.resume(owned)
        except Exception:
            logging.getLogger(__name__).exception("webhook outbox resume failed")

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
    codec = default_codec()

    async def agent(stream: Any) -> AsyncIterator[None]:
        processor = await service.processor(name)
        async for event in stream.events():
            msg = event.message
            recorded = Recorded(
                Position(msg.topic.removeprefix(settings.topic_prefix), msg.partition,
                         msg.offset),
                (msg.key or b"").decode(),
                codec.decode(msg.value),
            )
            await processor.handle(recorded)
            if service.applied is not None:
                service.applied.advance(name, recorded.position)
            yield None

    app.agent(topic, name=f"truc.{name}")(agent)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGINT/SIGTERM)."""
    app = create_worker_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
