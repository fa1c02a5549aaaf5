"""The running hub in one object: backend, registry view, services, background tasks.

Built once per process — by the API's lifespan, or by a CLI command working locally on
the hub's own configuration — and closed once. Nothing starts at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from hub.auth.authenticate import SigningPolicy
from hub.ports import EventLog
from hub.registry.service import RegistryService
from hub.registry.view import RegistryView
from hub.topics import REGISTRY
from infra.bootstrap import Backend, open_backend
from infra.crypto import MasterKeyWrapper, load_master_key
from infra.leases import fetch_leases
from infra.rsa_keys import verify_rsa
from infra.settings import Settings
from infra.tokens import TokenSigner
from infra.vault import Vault
from streams.applied import Applied
from streams.catalog import build_alert_sweep, build_processors, build_watchdog
from streams.outbox import Outbox, resume_owned
from streams.presence import PresenceWatchdog
from streams.runner import InProcessProcessors, follow, repeat

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    backend: Backend
    view: RegistryView
    registry: RegistryService
    wrapper: MasterKeyWrapper
    signing: SigningPolicy
    tokens: TokenSigner
    vault: Vault
    applied: Applied
    processors: InProcessProcessors | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Stopped before the processors: background work of a processor (forwarding)."""

    @classmethod
    async def open(cls, settings: Settings, *, run_processors: bool,
                   create_key: bool | None = None) -> Runtime:
        """``create_key``: make the embedded hub's master key if it has none (default: on
        the embedded hub; a local admin command never does)."""
        create = not settings.distributed if create_key is None else create_key
        wrapper = MasterKeyWrapper(load_master_key(
            settings.master_key, settings.master_key_file, settings.data_dir, create=create))
        backend = await open_backend(settings)
        view = RegistryView()
        registry = RegistryService(view, backend.events, backend.keys, wrapper,
                                   domain=settings.domain)
        signing = SigningPolicy(settings.region, settings.service,
                                timedelta(seconds=settings.max_skew_seconds), verify_rsa,
                                settings.public_host_names)
        vault = Vault(backend.content, backend.keys, wrapper,
                      leases=fetch_leases(backend.projections, backend.clock, settings))
        local = run_processors and not settings.distributed
        applied = Applied(backend.projections, local=local)
        runtime = cls(settings, backend, view, registry, wrapper, signing, TokenSigner(wrapper),
                      vault, applied)
        runtime.tasks.append(asyncio.create_task(follow(backend.events, [REGISTRY], view.apply),
                                                 name="registry-follower"))
        if local:
            found = build_processors(backend, wrapper, view, settings, applied=applied)
            runtime.processors = InProcessProcessors(found, backend.events,
                                                     backend.projections, applied)
            runtime.processors.start()
            for outbox in (p for p in found if isinstance(p, Outbox)):
                runtime.tasks.append(asyncio.create_task(
                    _resuming(outbox, backend.events, settings.webhook_resume_seconds),
                    name=f"{outbox.name}-resume"))
                runtime.closing.append(outbox.close)
            runtime.tasks.append(asyncio.create_task(
                build_watchdog(backend, view, settings).run(), name="watchdog"))
            runtime.tasks.append(asyncio.create_task(
                presence_watchdog(runtime).run(), name="presence-watchdog"))
            runtime.tasks.append(asyncio.create_task(
                build_alert_sweep(backend, view, settings, applied).run(), name="alert-sweep"))
        if run_processors:  # every serving node polls the axis: a document comes in once
            from api.gateway import axis_poller  # built on Packages, itself on Runtime
            poller = axis_poller(runtime)
            runtime.tasks.append(asyncio.create_task(poller.run(), name="axis-poller"))
            runtime.closing.append(poller.close)
        await runtime.catch_up()
        return runtime

    async def catch_up(self, seconds: float = 60) -> None:
        """Waits until the registry view has seen every registry event recorded so far."""
        await self.registry.catch_up(seconds)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for close in self.closing:
            await close()
        if self.processors is not None:
            await self.processors.stop()
        await self.applied.close()
        await self.backend.close()



def presence_watchdog(runtime: Runtime) -> PresenceWatchdog:
    """The embedded hub is its own only node: it runs the watchdog itself."""
    settings = runtime.settings
    return PresenceWatchdog(runtime.backend.events, runtime.backend.projections,
                            runtime.backend.clock, timedelta(seconds=settings.heartbeat_seconds),
                            settings.node_missed_heartbeats)


async def _resuming(outbox: Outbox, events: EventLog, seconds: float) -> None:
    """The embedded hub owns every packages partition: it resumes the outbox's rows at
    start, then every ``seconds`` (work whose task ended early is picked up again)."""
    await repeat(lambda: resume_owned(outbox, events), seconds, f"{outbox.name} outbox resume")
