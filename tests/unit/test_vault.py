"""The vault streams content one chunk at a time and shreds in batches."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence

from hub.errors import Conflict
from infra.crypto import MasterKeyWrapper
from infra.vault import Vault


class MemoryStore:
    """A ContentStore fake that counts reads in flight and delete batches."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], bytes] = {}
        self.in_flight = self.most_in_flight = 0
        self.reads = 0
        self.batches: list[list[int]] = []

    async def put_chunk(self, package_id: str, index: int, data: bytes) -> None:
        self.chunks[(package_id, index)] = data

    async def get_chunk(self, package_id: str, index: int) -> bytes | None:
        self.reads += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.002)
        finally:
            self.in_flight -= 1
        return self.chunks.get((package_id, index))

    async def chunk_indexes(self, package_id: str) -> list[int]:
        return sorted(i for p, i in self.chunks if p == package_id)

    async def delete_chunks(self, package_id: str, indexes: Sequence[int]) -> int:
        self.batches.append(list(indexes))
        return sum(self.chunks.pop((package_id, i), None) is not None for i in indexes)

    async def close(self) -> None:
        """Nothing to close."""


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    async def put(self, key_id: str, material: bytes) -> None:
        await asyncio.sleep(0)
        self.keys[key_id] = material

    async def put_new(self, key_id: str, material: bytes) -> bool:
        await asyncio.sleep(0)  # a round trip: another call may run meanwhile
        return self.keys.setdefault(key_id, material) is material

    async def get(self, key_id: str) -> bytes | None:
        await asyncio.sleep(0)
        return self.keys.get(key_id)

    async def delete(self, key_id: str) -> bool:
        return self.keys.pop(key_id, None) is not None

    async def close(self) -> None:
        """Nothing to close."""


async def filled(count: int) -> tuple[Vault, MemoryStore, MemoryKeys, list[bytes]]:
    store, keys = MemoryStore(), MemoryKeys()
    vault = Vault(store, keys, MasterKeyWrapper(os.urandom(32)), shred_batch=3)
    await vault.create_key("p")
    plain = [os.urandom(100) for _ in range(count)]
    for i, data in enumerate(plain):
        await vault.put_chunk("p", i, data)
    return vault, store, keys, plain


async def test_chunks_come_in_order_one_at_a_time() -> None:
    vault, store, _, plain = await filled(20)
    assert [c async for c in vault.chunks("p", 0, 19)] == plain
    assert store.most_in_flight == 1, "never more than the chunk being used"
    assert await vault.digest("p", 20) == (hashlib.sha256(b"".join(plain)).hexdigest(), 2000)


async def test_digest_reads_a_bounded_window_ahead_and_hashes_in_order() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    vault = Vault(store, keys, MasterKeyWrapper(os.urandom(32)), digest_ahead=4)
    await vault.create_key("p")
    plain = [os.urandom(100 + i) for i in range(23)]
    for i, data in enumerate(plain):
        await vault.put_chunk("p", i, data)
    whole = b"".join(plain)
    assert await vault.digest("p", 23) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert store.most_in_flight == 4, "several reads in flight, never more than the window"
    assert await vault.digest("p", 0) == (hashlib.sha256(b"").hexdigest(), 0)


async def test_digest_of_a_missing_chunk_fails_and_leaves_no_read_running() -> None:
    vault, store, _, _ = await filled(12)
    del store.chunks[("p", 3)]
    try:
        await vault.digest("p", 12)
    except Conflict as error:
        assert error.code == "chunk_missing"
    else:
        raise AssertionError("a missing chunk must fail the digest")
    reads = store.reads
    await asyncio.sleep(0.02)
    assert store.reads == reads and store.in_flight == 0, "no read ahead outlives the digest"


async def test_shredding_deletes_the_key_then_the_chunks_in_batches() -> None:
    vault, store, keys, _ = await filled(7)
    assert await vault.shred("p", 7) == 7
    assert keys.keys == {} and store.chunks == {}
    assert store.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert await vault.shred("p", 7) == 0, "a second run finds nothing left"


async def test_two_nodes_creating_one_key_at_once_keep_one() -> None:
    """Two API nodes (two vaults, one key store) taking the same send at once: the key a
    chunk was encrypted under is the one every node reads (a read-then-write let the
    second replace the first, and the first node's chunk no longer decrypted)."""
    store, keys = MemoryStore(), MemoryKeys()
    wrapper = MasterKeyWrapper(os.urandom(32))
    one, two = Vault(store, keys, wrapper), Vault(store, keys, wrapper)
    await asyncio.gather(one.create_key("p"), two.create_key("p"))
    await one.put_chunk("p", 0, b"first node")
    await two.put_chunk("p", 1, b"second node")
    third = Vault(store, keys, wrapper)
    assert [c async for c in third.chunks("p", 0, 1)] == [b"first node", b"second node"]
