"""A send (chunked request or one call) retried with its Idempotency-Key across failures: a
request cut between its two appends, a row not readable yet, claims expired before the
processor applied the first call. The retry gets a usable package, recorded once."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from api.packages_service import Packages
from api.runtime import Runtime
from hub.errors import Unavailable
from hub.packages import decisions as decide
from hub.packages.model import Package
from hub.topics import record
from infra.settings import Settings
from tests.unit.test_packages import CTX, LIMITS, SOURCE, send, world


async def test_a_retry_after_a_cut_request_is_granted_its_space(tmp_path: Path) -> None:
    rt = await Runtime.open(Settings(data_dir=tmp_path), run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        req = replace(send(), idempotency_key="retry-1")
        requested, _space = decide.request_package(reg, callers[SOURCE], CTX, req, LIMITS)
        position = await record(rt.backend.events, requested)  # ...and the call dies here
        packages = Packages(rt)
        await packages.settled(position)
        cut = await packages.load(requested.package_id)
        assert cut is not None and cut.space_expires_at is None and cut.chunk_count == 0
        again = await packages.request(callers[SOURCE], req)
        assert again.package_id == requested.package_id
        assert again.space_expires_at is not None and again.chunk_count == 2
        twice = await packages.request(callers[SOURCE], req)
        assert (twice.space_expires_at, twice.chunk_count) == (again.space_expires_at, 2)
    finally:
        await rt.close()


class Unreadable(Packages):
    """The package row cannot be read back yet (the projection store just came back and
    has not got the write): what the fault suite met after a Cassandra kill."""

    async def load(self, package_id: str) -> Package | None:
        return None


async def test_a_send_recorded_but_not_readable_yet_is_a_retriable_503(tmp_path: Path) -> None:
    rt = await Runtime.open(Settings(data_dir=tmp_path, read_your_writes_seconds=1),
                            run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        req = replace(send(), idempotency_key="unreadable-1")
        with pytest.raises(Unavailable) as refused:
            await Unreadable(rt).request(callers[SOURCE], req)
        assert (refused.value.code, refused.value.retriable) == ("processor_lagging", True)
        again = await Packages(rt).request(callers[SOURCE], req)  # the client's retry
        assert again.space_expires_at is not None and again.chunk_count == 2
    finally:
        await rt.close()


def first_read_answers(packages: Packages, monkeypatch: pytest.MonkeyPatch,
                       answer: Package | None) -> None:
    """The package's first read answers ``answer`` (nothing yet, or a stale row: the
    processor has not applied the last call); later reads find the package as it is."""
    load = packages.load
    reads: list[str] = []

    async def lagging(package_id: str) -> Package | None:
        reads.append(package_id)
        return answer if len(reads) == 1 else await load(package_id)

    monkeypatch.setattr(packages, "load", lagging)


SMALL = b"one call " * 100


@pytest.mark.parametrize("way", ["request", "send"])
async def test_a_retry_after_the_claim_expired_finds_the_package_recorded(
        way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call recorded the package, but the processor could not apply it before
    the claims expired (Cassandra down for longer than the lease: the fault suite's
    Cassandra kill). The retry wins new claims and reads no package: it must look again
    on a caught-up read model, not record a second ``PackageRequested`` (and, sent in one
    call, seal the package twice)."""
    rt = await Runtime.open(Settings(data_dir=tmp_path, idempotency_lease_seconds=0.01),
                            run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        req = replace(send(), size=len(SMALL), sha256=hashlib.sha256(SMALL).hexdigest(),
                      idempotency_key=f"expired-{way}")
        packages = Packages(rt)

        async def call() -> Package:
            if way == "request":
                return await packages.request(callers[SOURCE], req)
            return await packages.send(callers[SOURCE], req, SMALL, None, None)

        first = await call()
        await asyncio.sleep(0.05)  # the first call's claims expire
        first_read_answers(packages, monkeypatch, None)
        again = await call()
        assert (again.package_id, again.state, again.space_expires_at) == (
            first.package_id, first.state, first.space_expires_at)
        recorded = Counter([type(r.event).__name__
                            async for r in rt.backend.events.read("packages")])
        assert recorded["PackageRequested"] == 1
        assert recorded["PackageSealed"] == (1 if way == "send" else 0)
    finally:
        await rt.close()


async def test_a_space_is_answered_once_its_row_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The processor's tracking record read before the row written with it (a Cassandra
    logged batch is not isolated): a space answered from the row before the grant had no
    chunks, the client uploaded nothing, and its seal met ``409 chunks_missing`` (the
    fault suite's Kafka kill)."""
    rt = await Runtime.open(Settings(data_dir=tmp_path), run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        packages = Packages(rt)
        load = packages.load
        late = [3]

        async def row_late(package_id: str) -> Package | None:
            found = await load(package_id)
            if found is None or late[0] == 0:
                return found
            late[0] -= 1
            return replace(found, chunk_size=0, chunk_count=0, space_expires_at=None,
                           timeline=found.timeline[:1])

        monkeypatch.setattr(packages, "load", row_late)
        space = await packages.request(callers[SOURCE], replace(send(), idempotency_key="late-1"))
        assert space.space_expires_at is not None and space.chunk_count == 2
    finally:
        await rt.close()
