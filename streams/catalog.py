"""Every processor the hub runs, built once per process for either driver."""

from __future__ import annotations

from hub.processors import PROJECTORS
from hub.registry.view import RegistryView
from infra.bootstrap import Backend
from infra.crypto import MasterKeyWrapper
from infra.settings import Settings
from infra.vault import Vault
from streams.applied import Applied
from streams.packages import PackageProcessor
from streams.runner import Processor, ProjectorProcessor
from streams.tracking import TrackingCache
from streams.webhooks import WebhookProcessor

TOPICS: dict[str, tuple[str, ...]] = {
    **{p.name: p.topics for p in PROJECTORS},
    PackageProcessor.name: PackageProcessor.topics,
    WebhookProcessor.name: WebhookProcessor.topics,
}


def build_processors(backend: Backend, wrapper: MasterKeyWrapper, view: RegistryView,
                     settings: Settings, *, applied: Applied | None = None,
                     tracking: TrackingCache | None = None) -> list[Processor]:
    """``applied`` is what the driver advances as it handles events (the webhook
    processor waits on it for the package row); ``tracking`` the offsets the processors
    remember, which a driver whose partitions can move must be able to ``forget``."""
    tracking = tracking or TrackingCache(backend.projections)
    async def secret_of(key_id: str) -> str | None:
        blob = await backend.keys.get(key_id)
        return None if blob is None else wrapper.unwrap(blob, key_id.encode()).decode()

    vault = Vault(backend.content, backend.keys, wrapper)
    found: list[Processor] = [ProjectorProcessor(p, backend.projections, tracking)
                              for p in PROJECTORS]
    found.append(PackageProcessor(backend.events, backend.projections, vault, tracking))
    found.append(WebhookProcessor(backend.projections, view, secret_of,
                                  settings.webhook_retry_seconds,
                                  applied=applied or Applied(backend.projections),
                                  tracking=tracking))
    return found
