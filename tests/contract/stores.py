"""The contracts of ContentStore and KeyStore, for every adapter."""

from __future__ import annotations

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

    async def test_delete_package_removes_only_that_package(self, content: ContentStore) -> None:
        gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
        for i in range(3):
            await content.put_chunk(gone, i, b"x")
        await content.put_chunk(kept, 0, b"y")
        assert await content.delete_package(gone) == 3
        assert await content.chunk_indexes(gone) == []
        assert await content.get_chunk(gone, 0) is None
        assert await content.get_chunk(kept, 0) == b"y"
        assert await content.delete_package(gone) == 0


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


class ReplayGuardContract:
    async def test_a_signature_is_first_seen_once(self, replay: ReplayGuard) -> None:
        signature = uuid.uuid4().hex
        until = datetime.now(UTC) + timedelta(minutes=5)
        assert await replay.first_seen(signature, until)
        assert not await replay.first_seen(signature, until)
        assert await replay.first_seen(uuid.uuid4().hex, until)
