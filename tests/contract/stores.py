"""The contracts of ContentStore and KeyStore, for every adapter."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta

from hub.ports import ContentStore, KeyStore, ReplayGuard


class ContentStoreContract:
    async def test_chunks_round_trip(self, content: ContentStore) -> None:
        package = str(uuid.uuid4())
        data = os.urandom(1024 * 1024)
        await content.put_chunk(package, 0, data)
        assert await content.get_chunk(package, 0) == data

    async def test_missing_chunk_is_none(self, content: ContentStore) -> None:
        assert await content.get_chunk(str(uuid.uuid4()), 0) is None

    async def test_indexes_are_listed_in_order_and_rewrites_are_harmless(
        self, content: ContentStore
    ) -> None:
        package = str(uuid.uuid4())
        for i in (2, 0, 1, 2):
            await content.put_chunk(package, i, bytes([i]) * 10)
        assert await content.chunk_indexes(package) == [0, 1, 2]
        assert await content.get_chunk(package, 2) == b"\x02" * 10

    async def test_delete_chunks_removes_only_those(self, content: ContentStore) -> None:
        gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
        for i in range(3):
            await content.put_chunk(gone, i, b"x")
        await content.put_chunk(kept, 0, b"y")
        assert await content.delete_chunks(gone, [0, 2, 7]) == 2
        assert await content.chunk_indexes(gone) == [1]
        assert await content.get_chunk(gone, 0) is None
        assert await content.get_chunk(gone, 1) == b"x"
        assert await content.delete_chunks(gone, [1]) == 1
        assert await content.chunk_indexes(gone) == []
        assert await content.get_chunk(kept, 0) == b"y"
        assert await content.delete_chunks(gone, [0, 1, 2]) == 0
        assert await content.delete_chunks(gone, []) == 0

    async def test_many_chunks_are_listed_whole_and_deleted_in_batches(
        self, content: ContentStore
    ) -> None:
        """More chunks than a driver's default page (5,000): a listing that stopped at
        the first page, or read bytes to list, would show here."""
        package, count = str(uuid.uuid4()), 5_050
        for first in range(0, count, 200):
            await asyncio.gather(*(content.put_chunk(package, i, i.to_bytes(4, "big"))
                                   for i in range(first, min(first + 200, count))))
        assert await content.chunk_indexes(package) == list(range(count))
        assert await content.get_chunk(package, 4_999) == (4_999).to_bytes(4, "big")
        deleted = 0
        for first in range(0, count, 1_000):
            deleted += await content.delete_chunks(package, range(first, first + 1_000))
        assert deleted == count
        assert await content.chunk_indexes(package) == []
        assert await content.get_chunk(package, 5_049) is None

    async def test_one_mib_chunks_of_one_package(self, content: ContentStore) -> None:
        package = str(uuid.uuid4())
        blobs = [os.urandom(1024 * 1024) for _ in range(24)]
        for i, blob in enumerate(blobs):
            await content.put_chunk(package, i, blob)
        assert await content.chunk_indexes(package) == list(range(24))
        assert [await content.get_chunk(package, i) for i in (0, 23)] == [blobs[0], blobs[23]]
        assert await content.delete_chunks(package, range(24)) == 24
        assert await content.chunk_indexes(package) == []


class KeyStoreContract:
    async def test_keys_round_trip_and_delete(self, keys: KeyStore) -> None:
        key_id = str(uuid.uuid4())
        material = os.urandom(60)
        await keys.put(key_id, material)
        assert await keys.get(key_id) == material
        assert await keys.delete(key_id)
        assert await keys.get(key_id) is None
        assert not await keys.delete(key_id)

    async def test_put_replaces(self, keys: KeyStore) -> None:
        key_id = str(uuid.uuid4())
        await keys.put(key_id, b"one")
        await keys.put(key_id, b"two")
        assert await keys.get(key_id) == b"two"


    async def test_put_new_keeps_the_first_key(self, keys: KeyStore) -> None:
        key_id = str(uuid.uuid4())
        assert await keys.put_new(key_id, b"one")
        assert not await keys.put_new(key_id, b"two")
        assert await keys.get(key_id) == b"one"
        firsts = await asyncio.gather(*(keys.put_new(f"{key_id}/r", bytes([i]))
                                        for i in range(6)))
        assert firsts.count(True) == 1
        assert await keys.get(f"{key_id}/r") == bytes([firsts.index(True)])
        assert await keys.delete(key_id)
        assert await keys.put_new(key_id, b"three"), "a deleted key may be made again"


class ReplayGuardContract:
    async def test_a_signature_is_first_seen_once(self, replay: ReplayGuard) -> None:
        signature = uuid.uuid4().hex
        until = datetime.now(UTC) + timedelta(minutes=5)
        assert await replay.first_seen(signature, until)
        assert not await replay.first_seen(signature, until)
        assert await replay.first_seen(uuid.uuid4().hex, until)
