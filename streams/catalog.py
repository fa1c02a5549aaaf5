"""Every processor the hub runs, built once per process for either driver."""

from __future__ import annotations

from hub.processors import PROJECTORS
from infra.bootstrap import Backend
from infra.vault import Vault
from streams.packages import PackageProcessor
from streams.runner import Processor, ProjectorProcessor

NAMES = (*(p.name for p in PROJECTORS), PackageProcessor.name)


def build_processors(backend: Backend, vault: Vault) -> list[Processor]:
    found: list[Processor] = [ProjectorProcessor(p, backend.projections) for p in PROJECTORS]
    found.append(PackageProcessor(backend.events, backend.projections, vault))
    return found
