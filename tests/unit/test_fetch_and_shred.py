"""A fetch and a shred of the same package, on the embedded hub's real SQLite stores.

A fetch that started holds a lease: the shredder deletes the key at once (no new fetch
starts) but leaves the chunks until the fetch ends, so a 200 is never cut short. A fetch
that would start after the key is gone fails before its first byte (410).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from api.packages_service import Packages
from api.runtime import Runtime
from hub.auth.sessions import Caller
from hub.errors import TrucError
from hub.packages.model import Package
from infra.leases import VIEW
from infra.settings import Settings
from tests.unit.test_packages import CONTENT, DEST, SOURCE, send, world


async def sealed(tmp_path: Path, **settings: float) -> tuple[Runtime, Packages,
                                                             dict[str, Caller], Package]:
    rt, packages, callers, pkg = await uploaded(tmp_path, **settings)
    done = await packages.seal(callers[SOURCE], pkg.package_id, None, None)
    return rt, packages, callers, done


async def uploaded(tmp_path: Path, **settings: float) -> tuple[Runtime, Packages,
                                                               dict[str, Caller], Package]:
    """An embedded hub with one package whose every chunk is uploaded, not sealed."""
    rt = await Runtime.open(Settings(data_dir=tmp_path, **settings),  # type: ignore[arg-type]
                            run_processors=True)
    reg, callers = world()
    rt.view.registry = reg
    packages = Packages(rt)
    pkg = await packages.request(callers[SOURCE], replace(send(), idempotency_key="f1"))
    size = pkg.chunk_size
    for index in range(pkg.chunk_count):
        piece = CONTENT[index * size:(index + 1) * size]
        await packages.put_chunk(callers[SOURCE], pkg.package_id, index, piece,
                                 hashlib.sha256(piece).hexdigest())
    return rt, packages, callers, pkg


async def read_rest(head: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in head])


async def test_a_fetch_in_progress_completes_while_the_shred_waits(tmp_path: Path) -> None:
    rt, packages, callers, pkg = await sealed(tmp_path)
    try:
        pkg = await packages.begin_fetch(callers[DEST], pkg.package_id)
        body = await packages.open_content(pkg, 0, pkg.size - 1)
        first = await anext(body)  # the response has started
        shred = asyncio.create_task(rt.vault.shred(pkg.package_id, pkg.chunk_count))
        await asyncio.sleep(0.3)
        assert not shred.done(), "the shredder waits for the fetch that holds a lease"
        assert await rt.backend.keys.get(f"package:{pkg.package_id}") is None, \
            "the key is deleted at once: no new fetch can start"
        with pytest.raises(TrucError) as refused:
            await packages.open_content(pkg, 0, pkg.size - 1)
        assert (refused.value.status, refused.value.code) == (410, "content_shredded")
        rest = await read_rest(body)
        assert first + rest == CONTENT, "the fetch that started completes, whole"
        assert await asyncio.wait_for(shred, 10) == pkg.chunk_count
        assert await rt.backend.content.chunk_indexes(pkg.package_id) == []
        assert await rt.backend.projections.scan(VIEW, pkg.package_id) == [], \
            "leases released and forgotten"
    finally:
        await rt.close()


async def test_the_shred_waits_for_a_stuck_fetch_only_so_long(tmp_path: Path) -> None:
    rt, packages, _callers, pkg = await sealed(tmp_path, shred_wait_seconds=0.2)
    try:
        body = await packages.open_content(pkg, 0, pkg.size - 1)
        await anext(body)
        deleted = await asyncio.wait_for(rt.vault.shred(pkg.package_id, pkg.chunk_count), 10)
        assert deleted == pkg.chunk_count, "bounded: a fetch never stalls shredding for ever"
        await body.aclose()  # type: ignore[attr-defined]
    finally:
        await rt.close()


async def test_an_expired_lease_holds_nothing(tmp_path: Path) -> None:
    """A node that died mid-fetch leaves a lease row; once expired it is ignored."""
    rt, _packages, _callers, pkg = await sealed(tmp_path, fetch_lease_seconds=0.1)
    try:
        leases = rt.vault.leases
        assert leases is not None
        async with leases.hold(pkg.package_id):
            assert await leases.live(pkg.package_id) == 1
            await asyncio.sleep(0.2)
            assert await leases.live(pkg.package_id) == 0
            assert await leases.wait_clear(pkg.package_id)
    finally:
        await rt.close()


async def test_a_fetch_of_shredded_content_fails_before_its_first_byte(tmp_path: Path) -> None:
    rt, packages, _callers, pkg = await sealed(tmp_path)
    try:
        earlier = await packages.open_content(pkg, 0, 10)  # the key now in this process's cache
        assert await read_rest(earlier) == CONTENT[:11]
        await rt.backend.keys.delete(f"package:{pkg.package_id}")  # another node shreds
        with pytest.raises(TrucError) as refused:
            await packages.open_content(pkg, 0, pkg.size - 1)
        assert refused.value.status == 410, "the key store is asked, not the cache"
        assert await rt.backend.projections.scan(VIEW, pkg.package_id) == [], \
            "a refused fetch releases its lease"
    finally:
        await rt.close()


async def test_concurrent_send_retries_record_one_package_requested(tmp_path: Path) -> None:
    rt = await Runtime.open(Settings(data_dir=tmp_path), run_processors=True)
    try:
        reg, callers = world()
        rt.view.registry = reg
        packages = Packages(rt)
        req = replace(send(), idempotency_key="twice")
        got = await asyncio.gather(*(packages.request(callers[SOURCE], req) for _ in range(5)))
        assert len({p.package_id for p in got}) == 1
        assert all(p.space_expires_at is not None for p in got)
        names = [r.event.__class__.__name__ async for r in rt.backend.events.read("packages")]
        assert names.count("PackageRequested") == 1 and names.count("SpaceGranted") == 1
    finally:
        await rt.close()
