"""The Faust worker (`truc worker`): the distributed driver of the hub's projectors.

One agent per projector consumes its topics in the ``truc-worker`` consumer group, so
adding workers spreads the partitions. Each agent only decodes, calls the same
``apply_recorded`` the embedded loop uses, and lets Cassandra's tracking records make
Faust's at-least-once delivery exactly-once in the projections. No business rules here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from mode import Service

from hub.ports import Position, Projections, Recorded
from hub.processors import PROJECTORS
from hub.projection import Projector
from infra.avro import default_codec
from infra.bootstrap import Backend, open_backend
from infra.settings import Settings
from streams.runner import apply_recorded


class ProjectionsService(Service):
    """Opens the Cassandra-backed projections when the worker starts, closes them at stop."""

    settings: Settings

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._backend: Backend | None = None
        self.ready = asyncio.Event()

    async def on_start(self) -> None:
        self._backend = await open_backend(self.settings)
        self.ready.set()

    async def on_stop(self) -> None:
        if self._backend is not None:
            await self._backend.close()

    async def projections(self) -> Projections:
        await self.ready.wait()
        assert self._backend is not None
        return self._backend.projections


def create_worker_app(settings: Settings) -> Any:
    if not (settings.kafka and settings.cassandra):
        raise ValueError("the worker needs --kafka and --cassandra")
    app = faust.App(
        "truc-worker",
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
    )
    service = ProjectionsService(settings)
    app.add_dependency(service)  # started and stopped with the app
    for projector in PROJECTORS:
        _add_agent(app, settings, projector, service)
    return app


def _add_agent(
    app: Any, settings: Settings, projector: Projector, service: ProjectionsService
) -> None:
    topic = app.topic(*(settings.topic_prefix + t for t in projector.topics))
    codec = default_codec()

    async def agent(stream: Any) -> AsyncIterator[None]:
        projections = await service.projections()
        async for event in stream.events():
            msg = event.message
            recorded = Recorded(
                Position(msg.topic.removeprefix(settings.topic_prefix), msg.partition,
                         msg.offset),
                (msg.key or b"").decode(),
                codec.decode(msg.value),
            )
            await apply_recorded(projector, projections, recorded)
            yield None

    app.agent(topic, name=f"truc.{projector.name}")(agent)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGINT/SIGTERM)."""
    app = create_worker_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
