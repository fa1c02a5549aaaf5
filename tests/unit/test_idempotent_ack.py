"""An acknowledgement, or a seal, is recorded once however it is retried (embedded hub,
real SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.packages_service import Packages
from hub.errors import Conflict
from hub.packages.model import DeliveryState
from tests.unit.test_fetch_and_shred import sealed, uploaded
from tests.unit.test_idempotent_request import first_read_answers
from tests.unit.test_packages import DEST, DIGEST, SOURCE


async def logged(packages: Packages, package_id: str, name: str) -> int:
    return sum([r.event.__class__.__name__ == name and r.key == package_id
                async for r in packages.rt.backend.events.read("packages")])


async def acks_logged(packages: Packages, package_id: str) -> int:
    return await logged(packages, package_id, "DeliveryAcknowledged")


async def test_a_second_ack_answers_with_the_recorded_one(tmp_path: Path) -> None:
    rt, packages, callers, pkg = await sealed(tmp_path)
    try:
        first = await packages.acknowledge(callers[DEST], pkg.package_id, DIGEST)
        again = await packages.acknowledge(callers[DEST], pkg.package_id, DIGEST)
        assert again.deliveries == first.deliveries
        with pytest.raises(Conflict) as other:
            await packages.acknowledge(callers[DEST], pkg.package_id, "0" * 64)
        assert (other.value.status, other.value.code) == (409, "already_acknowledged")
        assert await acks_logged(packages, pkg.package_id) == 1
    finally:
        await rt.close()


async def test_concurrent_acks_record_one(tmp_path: Path) -> None:
    rt, packages, callers, pkg = await sealed(tmp_path)
    try:
        done = await asyncio.gather(*(packages.acknowledge(callers[DEST], pkg.package_id,
                                                           DIGEST) for _ in range(5)))
        agency = callers[DEST].app.agency_id
        assert {p.deliveries[agency].state for p in done} == {DeliveryState.ACKNOWLEDGED}
        assert await acks_logged(packages, pkg.package_id) == 1
    finally:
        await rt.close()


async def test_a_retry_after_the_claim_expired_decides_on_a_caught_up_read_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ack was recorded but answered 503 processor_lagging, and its claim has
    expired: the retry must not trust the stale package row it read first."""
    rt, packages, callers, pkg = await sealed(tmp_path, idempotency_lease_seconds=0.01)
    try:
        stale = await packages.load(pkg.package_id)
        await packages.acknowledge(callers[DEST], pkg.package_id, DIGEST)
        await asyncio.sleep(0.05)  # the first call's claim expires
        first_read_answers(packages, monkeypatch, stale)
        again = await packages.acknowledge(callers[DEST], pkg.package_id, DIGEST)
        assert again.deliveries[callers[DEST].app.agency_id].state \
            is DeliveryState.ACKNOWLEDGED
        assert await acks_logged(packages, pkg.package_id) == 1
    finally:
        await rt.close()


async def test_concurrent_seals_record_one(tmp_path: Path) -> None:
    rt, packages, callers, pkg = await uploaded(tmp_path)
    try:
        done = await asyncio.gather(*(packages.seal(callers[SOURCE], pkg.package_id, None,
                                                    None) for _ in range(4)))
        assert {len(p.deliveries) for p in done} == {1}
        assert await logged(packages, pkg.package_id, "PackageSealed") == 1
        assert await logged(packages, pkg.package_id, "DeliveryPlanned") == 1
    finally:
        await rt.close()
