"""Retries are safe, on both backends: the event log says each thing once.

A second ack with the same digest answers like the first and records nothing; a send
retried with its Idempotency-Key, even twice at once, records one ``PackageRequested``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest

from api.client import TrucError
from tests.e2e.exchange import agency_with_app, client, logged
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
