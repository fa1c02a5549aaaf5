"""A small package sent in one call (``Packages.send``) is idempotent on its key like the
chunked request: a retry after the first call's claim expired must not record it twice."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from api.packages_service import Packages
from api.runtime import Runtime
from hub.packages.model import Package
from infra.settings import Settings
from tests.unit.test_packages import SOURCE, send, world

SMALL = b"one call " * 100


async def test_a_retry_after_the_claim_expired_finds_the_package_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call recorded its batch, but the processor had not applied it when the
    claims expired (an outage longer than the lease). The retry wins new claims and reads
    no package: it must look again on a caught-up read model, as ``request`` does, not
    record a second ``PackageRequested`` and seal the package twice."""
    rt = await Runtime.open(Settings(data_dir=tmp_path, idempotency_lease_seconds=0.01),
                            run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        req = replace(send(), size=len(SMALL), sha256=hashlib.sha256(SMALL).hexdigest(),
                      idempotency_key="expired-send-1")
        packages = Packages(rt)
        first = await packages.send(callers[SOURCE], req, SMALL, None, None)
        await asyncio.sleep(0.05)  # the first call's claims expire
        load = packages.load
        reads: list[str] = []

        async def lagging(package_id: str) -> Package | None:
            reads.append(package_id)
            return None if len(reads) == 1 else await load(package_id)

        monkeypatch.setattr(packages, "load", lagging)
        again = await packages.send(callers[SOURCE], req, SMALL, None, None)
        assert (again.package_id, again.state) == (first.package_id, first.state)
        recorded = Counter([type(r.event).__name__
                            async for r in rt.backend.events.read("packages")])
        assert (recorded["PackageRequested"], recorded["PackageSealed"]) == (1, 1)
    finally:
        await rt.close()
