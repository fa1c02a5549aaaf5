"""Every processor the hub runs, built once per process for either driver."""

from __future__ import annotations

from hub.processors import PROJECTORS
from hub.registry.view import RegistryView
from infra.bootstrap import Backend
from infra.crypto import MasterKeyWrapper
from infra.settings import Settings
from infra.vault import Vault
from streams.packages import PackageProcessor
from streams.presence import PresenceProcessor
from streams.runner import Processor, ProjectorProcessor
from streams.webhooks import WebhookProcessor

TOPICS: dict[str, tuple[str, ...]] = {
    **{p.name: p.topics for p in PROJECTORS},
    PackageProcessor.name: PackageProcessor.topics,
    WebhookProcessor.name: WebhookProcessor.topics,
    PresenceProcessor.name: PresenceProcessor.topics,
}


def build_processors(backend: Backend, wrapper: MasterKeyWrapper, view: RegistryView,
                     settings: Settings) -> list[Processor]:
    async def secret_of(key_id: str) -> str | None:
        blob = await backend.keys.get(key_id)
        return None if blob is None else wrapper.unwrap(blob, key_id.encode()).decode()

    vault = Vault(backend.content, backend.keys, wrapper)
    found: list[Processor] = [ProjectorProcessor(p, backend.projections) for p in PROJECTORS]
    found.append(PackageProcessor(backend.events, backend.projections, vault))
    found.append(WebhookProcessor(backend.projections, view, secret_of,
                                  settings.webhook_retry_seconds))
    found.append(PresenceProcessor(backend.projections))
    return found
