"""Retries are safe, on both backends: the event log says each thing once.

A second ack with the same digest answers like the first and records nothing; a send
retried with its Idempotency-Key, even twice at once, records one ``PackageRequested``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from api.client import TrucError
from tests.e2e.exchange import agency_with_app, client, logged, raw_chunks, raw_key
from tests.e2e.hubs import RunningHub


async def test_a_second_ack_answers_200_with_the_recorded_ack_and_records_nothing(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = tmp_path / "cv.txt"
    doc.write_bytes(b"Cong van so 12" * 100)
    async with client(hub, source) as src, client(hub, dest) as dst:
        pid = (await src.send([dest["code"]], "Công văn 12", doc))["package_id"]
        digest = await dst.fetch(pid, tmp_path / "got.txt")
        first = await dst.ack(pid, digest)
        again = await dst.ack(pid, digest.upper())
        with pytest.raises(TrucError) as other:
            await dst.ack(pid, "0" * 64)
    assert first["deliveries"][0]["state"] == "acknowledged"
    assert again["deliveries"] == first["deliveries"], "the same recorded ack"
    assert (other.value.status, other.value.code) == (409, "already_acknowledged")
    assert await logged(hub, "DeliveryAcknowledged", pid) == 1


async def test_two_acks_at_once_record_one(hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = tmp_path / "cv.txt"
    doc.write_bytes(b"Cong van so 13" * 100)
    async with client(hub, source) as src, client(hub, dest) as dst:
        pid = (await src.send([dest["code"]], "Công văn 13", doc))["package_id"]
        digest = await dst.fetch(pid, tmp_path / "got.txt")
        answers = await asyncio.gather(*(dst.ack(pid, digest) for _ in range(4)))
    assert {a["deliveries"][0]["state"] for a in answers} == {"acknowledged"}
    assert await logged(hub, "DeliveryAcknowledged", pid) == 1


async def test_concurrent_retries_of_one_send_record_one_package_requested(
        hub: RunningHub) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    body = {"recipients": [dest["code"]], "title": "Tờ trình", "data_type": "json",
            "size": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
    key = {"idempotency-key": uuid.uuid4().hex}
    async with client(hub, source) as src:
        answers = await asyncio.gather(*(src.call("POST", "/v1/packages", json_body=body,
                                                  headers=key) for _ in range(4)))
        later = await src.call("POST", "/v1/packages", json_body=body, headers=key)
    ids = {a["package_id"] for a in [*answers, later]}
    assert len(ids) == 1
    (pid,) = ids
    assert await logged(hub, "PackageRequested", pid) == 1
    assert await logged(hub, "SpaceGranted", pid) == 1


async def test_a_fetch_in_progress_when_the_package_completes_gets_every_byte(
        hub: RunningHub, tmp_path: Path) -> None:
    """The destination acks while its fetch still streams (the content is then to be
    shredded): the fetch that started completes, whole; the shred happens after it."""
    source, dest = agency_with_app(hub), agency_with_app(hub)
    content = os.urandom(20 * 2**20)  # more than socket buffers hold: most is read later
    doc = tmp_path / "big.bin"
    doc.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    async with client(hub, source) as src, client(hub, dest) as dst:
        pid = (await src.send([dest["code"]], "Hồ sơ lớn", doc))["package_id"]
        url = dst._http.build_request("GET", f"/v1/packages/{pid}/content").url
        headers: dict[str, str] = {}
        headers.update(dst.sign("GET", url, b"", headers))  # adds the signed nonce too
        headers.pop("Host", None)
        async with dst._http.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            parts = response.aiter_bytes(2**16)
            got = [await anext(parts)]
            acked = await dst.ack(pid, digest)
            assert acked["deliveries"][0]["state"] == "acknowledged"
            await asyncio.sleep(2)  # the shredder has its turn meanwhile
            got += [part async for part in parts]
        assert hashlib.sha256(b"".join(got)).hexdigest() == digest, "every byte, none cut"
        for _ in range(300):
            if (await src.package(pid))["shredded"]:
                break
            await asyncio.sleep(0.2)
        assert (await src.package(pid))["shredded"] is True
    assert raw_chunks(hub, pid) == [] and raw_key(hub, pid) is None
